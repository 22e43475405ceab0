"""``python -m gitops notify``: the pipeline's report step."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitops.catalog import load_catalog
from gitops.environments import environment_for_stack
from gitops.notify.dispatch import channels_from, deliver, exit_code, health_of, redactor
from gitops.notify.report import report_from_ci
from gitops.settings import NotifySettings, settings_from_config
from gitops.stackfile import load_stack_config
from gitops.validation import parse_model


def _notify_settings(root: Path, stack: str, override: str | None) -> tuple[NotifySettings, Any]:
    config = load_stack_config(root, stack)
    raw = {k.removeprefix("gitops:"): v for k, v in config.values.items() if k.startswith("gitops:")}
    settings = settings_from_config(environment_for_stack(stack), raw, source=f"Pulumi.{stack}.yaml")
    notify = settings.notify
    if override:
        notify = parse_model(NotifySettings, json.loads(override), source="--notify-config")
    return notify, settings


def cmd_notify(args: argparse.Namespace) -> int:
    environ = dict(os.environ)
    redact = redactor(environ)
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    draft = report_from_ci(environ, Path(args.reports) if args.reports else None)
    notify, settings = _notify_settings(args.root, draft.environment, args.notify_config)
    health = ""
    if draft.ok and draft.url:
        spec = load_catalog(args.root / settings.catalog).app(draft.app)
        health = health_of(draft.url, spec.health_path, notify.timeout_seconds)
    report = report_from_ci(environ, Path(args.reports) if args.reports else None, health=health)
    channels = channels_from(notify, environ)
    print(redact(f"notify: {report.title}; tests: {report.tests.line()}"))
    outcomes = deliver(report, channels, now, timeout=notify.timeout_seconds, redact=redact)
    for outcome in outcomes:
        print(f"notify: {outcome.channel} " + ("delivered" if outcome.ok else f"FAILED: {outcome.detail}"))
    if not channels:
        print("notify: no channel configured for this environment")
    code = exit_code(report, outcomes)
    print({0: "notify: done", 3: "notify: the release failed (reported)", 4: "notify: a notification failed"}[code])
    return code


def add_notify_command(sub: Any) -> None:
    notify = sub.add_parser("notify", help="report a release to the MR, commit status, DingTalk, Slack, email")
    notify.add_argument("--from-ci", action="store_true", required=True, help="read the release from CI variables")
    notify.add_argument("--reports", help="directory with JUnit XML reports")
    notify.add_argument("--notify-config", help="JSON that replaces gitops:notify of the stack (for local tries)")
    notify.add_argument("--now", help="ISO timestamp to use as the current time")
    notify.set_defaults(func=cmd_notify)
