"""The ``notify`` sub-command's arguments; its module is imported only when it runs."""

from __future__ import annotations

from typing import Any

from gitops.core.lazy import command


def add_notify_command(sub: Any) -> None:
    notify = sub.add_parser("notify", help="report a release to the MR, commit status, DingTalk, Slack, email")
    notify.add_argument("--from-ci", action="store_true", required=True, help="read the release from CI variables")
    notify.add_argument("--reports", help="directory with JUnit XML reports")
    notify.add_argument("--notify-config", help="JSON that replaces gitops:notify of the stack (for local tries)")
    notify.add_argument("--now", help="ISO timestamp to use as the current time")
    notify.set_defaults(func=command("gitops.notify.cli", "cmd_notify"))
