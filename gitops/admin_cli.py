"""Admin commands: history, rollback, status, hold clear, drift (through ``gitops.admin``)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from gitops.admin import StackAdmin
from gitops.catalog import load_catalog
from gitops.environments import environment_for_stack
from gitops.errors import ConfigError
from gitops.history import table
from gitops.messages import update_message
from gitops.naming import short_commit
from gitops.notify.cli import notify_admin_release
from gitops.notify.report import ReleaseReport, TestSummary
from gitops.rollback import plan_rollback

EXIT_DRIFT = 3
EXIT_ABORTED = 1


def _admin(args: argparse.Namespace) -> StackAdmin:
    environment_for_stack(args.stack)
    command: auto.PulumiCommand | None = getattr(args, "pulumi_command", None)
    root: Path = args.root
    return StackAdmin(args.stack, root, command)


def _actor() -> str:
    return os.environ.get("GITLAB_USER_LOGIN") or getpass.getuser()


def cmd_history(args: argparse.Namespace) -> int:
    admin = _admin(args)
    entries = admin.history()
    if args.app:
        entries = [e for e in entries if e.app == args.app]
    if args.limit:
        entries = entries[-args.limit :]
    if args.json:
        print(json.dumps([e.to_json() for e in reversed(entries)], indent=2))
        return 0
    print(table(entries) if entries else "no updates in this stack's history")
    holds = admin.outputs().get("holds") or {}
    for app, hold in sorted(holds.items()):
        if not args.app or app == args.app:
            refused = ", ".join(short_commit(c) for c in hold["commits"])
            print(f"HOLD {app}: refuses {refused} since {hold['since']} ({hold['reason']})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    env = environment_for_stack(args.stack)
    if env.is_preview:
        raise ConfigError("rollback is for staging and prod; redeploy a preview from its branch instead")
    admin = _admin(args)
    plan = plan_rollback(admin.history(), args.app, to=args.to, steps=args.steps)
    print(f"rollback {plan.app} in {args.stack}")
    for label, shown in (("from", plan.current), ("to  ", plan.target)):
        print(f"  {label} {shown.commit} (v{shown.version}, {shown.actor or '?'}, {shown.start_time})")
    print("  releases undone:")
    for entry in plan.between:
        who = entry.actor or "?"
        print(f"    v{entry.version} {entry.action} {short_commit(entry.commit)} by {who} at {entry.start_time}")
    print(f"  reason: {args.reason}")
    if args.dry_run:
        print("dry run: nothing changed")
        return 0
    if not args.yes and input("proceed? [y/N] ").strip().lower() not in ("y", "yes"):
        print("aborted: nothing changed")
        return EXIT_ABORTED
    assert env.deploy_branch is not None
    message = update_message(
        "rollback",
        plan.app,
        actor=_actor(),
        pipeline=os.environ.get("CI_PIPELINE_URL", ""),
        commit=plan.target.commit,
        from_commit=plan.current.commit,
        reason=args.reason,
    )
    event = {
        "app": plan.app,
        "commit": plan.target.commit,
        "branch": env.deploy_branch,
        "action": "rollback",
        "reason": args.reason,
    }
    if args.repo:  # the baseline checks the target against the app's clone
        event["sourceRepo"] = str(Path(args.repo).resolve())
    admin.release(event, message, on_output=lambda line: print(line, end=""))
    print(f"rolled back {plan.app} to {plan.target.commit}; {short_commit(plan.current.commit)} is on hold")
    catalog = load_catalog(args.root / "apps.yaml")
    report = ReleaseReport(
        app=plan.app,
        environment=args.stack,
        action="rollback",
        commit=plan.target.commit,
        branch=env.deploy_branch,
        project=catalog.app(plan.app).gitlab_project,
        result="success",
        tests=TestSummary(),
        actor=_actor(),
        reason=args.reason,
        related_commits=(plan.current.commit,),
    )
    notify_admin_release(args.root, args.stack, report)
    return 0


def cmd_hold_clear(args: argparse.Namespace) -> int:
    admin = _admin(args)
    message = update_message("clear-hold", args.app, actor=_actor(), reason=args.reason)
    event = {"app": args.app, "action": "clear-hold", "reason": args.reason}
    admin.release(event, message, on_output=lambda line: print(line, end=""))
    print(f"hold on {args.app} cleared")
    return 0


def status_text(stack: str, outputs: dict[str, Any]) -> str:
    lines = [f"stack {stack}"]
    releases, holds, previews = (outputs.get(k) or {} for k in ("releases", "holds", "previews"))
    if not (releases or previews):
        lines.append("  nothing deployed")
    for app, r in sorted(releases.items()):
        by = f" by {r['actor']}" if r.get("actor") else ""
        lines.append(f"  {app}: {r['commit']} from {r['branch']} ({r['action']}) since {r['released_at']}{by}")
    for app, h in sorted(holds.items()):
        refused = ", ".join(short_commit(c) for c in h["commits"])
        lines.append(f"  HOLD {app}: refuses {refused} until a fix descends from it; reason: {h['reason']}")
    for key, p in sorted(previews.items()):
        lines.append(
            f"  preview {key}: {p['app']} {p['branch']}@{short_commit(p['commit'])} {p['url']} ({p['last_deployed']})"
        )
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    print(status_text(args.stack, _admin(args).outputs()))
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    changes = _admin(args).drift()
    if not changes:
        print(f"stack {args.stack}: no drift")
        return 0
    summary = ", ".join(f"{n} {op}" for op, n in sorted(changes.items()))
    print(f"stack {args.stack}: DRIFT - a refresh would make: {summary}")
    return EXIT_DRIFT


def cmd_message(args: argparse.Namespace) -> int:
    """The agreed update message, for `pulumi up -m "$(python -m gitops message ...)"` in CI."""
    print(
        update_message(
            args.action,
            args.app,
            actor=args.actor or _actor(),
            pipeline=args.pipeline or os.environ.get("CI_PIPELINE_URL", ""),
            commit=args.commit,
            branch=args.branch,
            reason=args.reason,
        )
    )
    return 0


def add_admin_commands(sub: Any) -> None:
    message = sub.add_parser("message", help="print the update message CI passes to pulumi up -m")
    message.add_argument("--action", default="deploy")
    message.add_argument("--app", required=True)
    message.add_argument("--commit")
    message.add_argument("--branch")
    message.add_argument("--actor")
    message.add_argument("--pipeline")
    message.add_argument("--reason")
    message.set_defaults(func=cmd_message)

    history = sub.add_parser("history", help="the release ledger of a stack (all pages)")
    history.add_argument("--stack", required=True)
    history.add_argument("--app")
    history.add_argument("--limit", type=int)
    history.add_argument("--json", action="store_true")
    history.set_defaults(func=cmd_history)

    rollback = sub.add_parser("rollback", help="roll an app back to its previous good release")
    rollback.add_argument("--stack", required=True)
    rollback.add_argument("--app")
    target = rollback.add_mutually_exclusive_group()
    target.add_argument("--to", help="a commit released successfully here before")
    target.add_argument("--steps", type=int, default=1)
    rollback.add_argument("--reason", required=True)
    rollback.add_argument("--repo", help="local clone of the app (default: $CI_PROJECT_DIR)")
    rollback.add_argument("--dry-run", action="store_true")
    rollback.add_argument("--yes", action="store_true")
    rollback.set_defaults(func=cmd_rollback)

    status = sub.add_parser("status", help="what each app runs, holds and previews")
    status.add_argument("--stack", required=True)
    status.set_defaults(func=cmd_status)

    hold = sub.add_parser("hold", help="manage rollback holds")
    hold_sub = hold.add_subparsers(dest="hold_command", required=True)
    clear = hold_sub.add_parser("clear", help="allow deploys of an app again after a rollback")
    clear.add_argument("--stack", required=True)
    clear.add_argument("--app", required=True)
    clear.add_argument("--reason", required=True)
    clear.set_defaults(func=cmd_hold_clear)

    drift = sub.add_parser("drift", help="exit 3 when a refresh would change resources")
    drift.add_argument("--stack", required=True)
    drift.set_defaults(func=cmd_drift)
