"""``python -m gitops``: the offline render, the built-in sample, the admin commands and the report step.

Each sub-command's module is imported when it runs (``gitops.core.lazy``): one CI job, one command."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from pulumi import automation as auto

from gitops.admin.cli import probe_cli
from gitops.admin.commands import add_admin_commands
from gitops.core.errors import GitOpsError
from gitops.core.lazy import command
from gitops.notify.commands import add_notify_command

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cmd_url(args: argparse.Namespace) -> int:
    """The URL a release is served at (``gitops release`` writes it to deploy.env itself)."""
    from gitops.admin.shared import served_url  # the admin module, for this command only

    print(served_url(args.root, args.stack, args.app, args.branch))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gitops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="run the program offline and write the Kubernetes YAML it would apply")
    render.add_argument("--stack", required=True, help="preview, staging or prod")
    render.add_argument("--app")
    render.add_argument("--commit", help="full 40-hex commit SHA")
    render.add_argument("--branch")
    render.add_argument("--action", help="deploy (default), stop, rollback, clear-hold")
    render.add_argument("--reason")
    render.add_argument("--digest", help="sha256:<hex> of the image (required on staging/prod)")
    render.add_argument("--repo", help="local clone of the app's source repository")
    render.add_argument("--state", help="JSON of the stack's previous outputs (e.g. a previous outputs.json)")
    render.add_argument("--now", help="ISO timestamp to use as the current time")
    render.add_argument("--out", required=True, help="directory for the manifests")
    render.set_defaults(func=command("gitops.offline.commands", "cmd_render"))

    sample = sub.add_parser("sample", help="render all three stacks of the sample catalog (offline)")
    sample.add_argument("--out", default="build/sample")
    sample.set_defaults(func=command("gitops.offline.commands", "cmd_sample"))
    url = sub.add_parser("url", help="print the URL of an app in a stack (preview: per branch)")
    url.add_argument("--stack", required=True)
    url.add_argument("--app", required=True)
    url.add_argument("--branch")
    url.set_defaults(func=cmd_url)

    apps = sub.add_parser("apps", help="list catalog apps and their GitLab projects")
    apps.set_defaults(func=command("gitops.offline.commands", "cmd_apps"))
    add_admin_commands(sub)
    add_notify_command(sub)
    return parser


def _line_buffered() -> None:
    """A CI job's log is a pipe, which Python buffers in blocks: a line such as "baking web for 600s" would
    show only when the next block fills, and a job killed meanwhile (its timeout, a lost runner) would lose
    it. Each line goes out as it is written."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)


def command_error_line(exc: auto.CommandError) -> str:
    """The line of a failed Pulumi CLI call that says why, bounded: the first ``error:`` line (the CLI prints
    the cause in its diagnostics before the closing "update failed")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    chosen = (errors or lines or ["(no output)"])[0]
    return chosen.removeprefix("error:").strip()[:500]


def main(argv: Sequence[str] | None = None, *, pulumi_command: auto.PulumiCommand | None = None) -> int:
    """``pulumi_command`` replaces the Pulumi CLI behind the Automation API (tests use a fake)."""
    _line_buffered()
    args = build_parser().parse_args(argv)
    args.pulumi_command = pulumi_command
    args.root = PROJECT_ROOT
    if pulumi_command is None and getattr(args, "needs_cli", False):
        # `pulumi version` (and a staging/prod release's config read) run while the command's module is imported
        prefetch = args.stack if args.command == "release" and args.stack in ("staging", "prod") else None
        args.pulumi_probe = probe_cli(args.root, prefetch)
    try:
        return int(args.func(args))
    except GitOpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except auto.CommandError as exc:
        print(f"error: pulumi failed: {command_error_line(exc)}", file=sys.stderr)
        return 2
