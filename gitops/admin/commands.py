"""Admin commands: history, rollback, status, hold clear, drift, init, retire, and the CI ``release``
wrapper (through ``gitops.admin.stack``)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gitlab
from pulumi import automation as auto

from gitops.admin.history import HistoryEntry, table
from gitops.admin.messages import update_message
from gitops.admin.plan import is_plan_note, note_body, stack_plan, summary_line
from gitops.admin.previews import SHARED_STACK, PreviewFleet, preview_policy, status_lines, utc_now
from gitops.admin.recovery import restore_after_failure
from gitops.admin.rollback import plan_rollback
from gitops.admin.stack import StackAdmin
from gitops.core.catalog import load_catalog
from gitops.core.environments import environment_for_stack
from gitops.core.errors import ConfigError, GitOpsError
from gitops.core.naming import preview_of_stack, short_commit
from gitops.core.state import CarriedState, parse_outputs
from gitops.notify.channels import upsert_marked_note
from gitops.notify.cli import notify_admin_release
from gitops.notify.dispatch import redactor
from gitops.notify.report import ReleaseReport, TestSummary

EXIT_DRIFT = 3
EXIT_ABORTED = 1
EXIT_FAILED_RESTORED = 1  # the release failed; the previous release runs again
EXIT_FAILED = 2
DEFAULT_LOCK_WAIT = 1800.0


def pulumi_cli(args: argparse.Namespace) -> auto.PulumiCommand:
    """The Pulumi CLI behind the Automation API (tests pass a fake); a missing or broken one is one clear line."""
    if getattr(args, "pulumi_command", None) is None:
        try:
            args.pulumi_command = auto.PulumiCommand()
        except FileNotFoundError:
            raise ConfigError(
                "the Pulumi CLI is not installed or not on PATH; install it (https://www.pulumi.com/docs/install/) "
                "or run this command in the gitops engine image"
            ) from None
        except (subprocess.CalledProcessError, auto.errors.InvalidVersionError, OSError) as exc:
            detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip().splitlines()
            raise ConfigError(
                f"the Pulumi CLI does not run (`pulumi version`: {(detail or [str(exc)])[-1][:200]}); "
                "reinstall it or fix PATH"
            ) from None
    command: auto.PulumiCommand = args.pulumi_command
    return command


def _admin(args: argparse.Namespace) -> StackAdmin:
    environment_for_stack(args.stack)
    root: Path = args.root
    return StackAdmin(args.stack, root, pulumi_cli(args))


def _actor() -> str:
    return os.environ.get("GITLAB_USER_LOGIN") or getpass.getuser()


def _state(admin: StackAdmin) -> CarriedState:
    """The stack's outputs, parsed like the program parses them (corrupted state is a clear error)."""
    return parse_outputs(admin.outputs())


def _confirmed(args: argparse.Namespace, question: str) -> bool:
    return bool(args.yes) or input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _print(line: str) -> None:
    print(line, end="")


def cmd_history(args: argparse.Namespace) -> int:
    admin = _admin(args)

    def wanted(entries: list[HistoryEntry]) -> list[HistoryEntry]:
        return [e for e in entries if not args.app or e.app == args.app]

    entries = wanted(admin.history(enough=lambda read: bool(args.limit) and len(wanted(read)) >= args.limit))
    if args.limit:
        entries = entries[-args.limit :]
    if args.json:
        print(json.dumps([e.to_json() for e in reversed(entries)], indent=2))
        return 0
    print(table(entries) if entries else "no updates in this stack's history")
    for app, hold in sorted(_state(admin).state.holds.items()):
        if not args.app or app == args.app:
            refused = ", ".join(short_commit(c) for c in hold.commits)
            print(f"HOLD {app}: refuses {refused} since {hold.since} ({hold.reason})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    env = environment_for_stack(args.stack)
    if env.is_preview:
        raise ConfigError("rollback is for staging and prod; redeploy a preview from its branch instead")
    admin = _admin(args)

    def decided(entries: list[HistoryEntry]) -> bool:
        try:
            plan_rollback(entries, args.app, to=args.to, steps=args.steps)
        except ConfigError:
            return False
        return True  # every entry that can change the choice is newer than the target, so already read

    plan = plan_rollback(admin.history(enough=decided), args.app, to=args.to, steps=args.steps)
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
    if not _confirmed(args, "proceed?"):
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
    if not plan.target.digest:
        raise ConfigError(
            f"the release of {short_commit(plan.target.commit)} recorded no image digest (it predates digests); "
            "staging/prod only run pinned images: deploy a new commit instead"
        )
    event = {
        "app": plan.app,
        "commit": plan.target.commit,
        "branch": env.deploy_branch,
        "action": "rollback",
        "reason": args.reason,
        "digest": plan.target.digest,
    }
    if args.repo:  # the baseline checks the target against the app's clone
        event["sourceRepo"] = str(Path(args.repo).resolve())
    admin.release(event, message, on_output=_print, target_app=plan.app)
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
    admin.release(event, message, on_output=_print, target_app=args.app)
    print(f"hold on {args.app} cleared")
    return 0


def status_text(stack: str, outputs: dict[str, Any]) -> str:
    carried = parse_outputs(outputs)
    state = carried.state
    lines = [f"stack {stack}"]
    if not carried.recorded:
        lines.append(f"  NO RECORDED STATE: a new stack (python -m gitops init --stack {stack}) or lost outputs")
    elif not (state.releases or state.previews):
        lines.append("  nothing deployed")
    for app, r in sorted(state.releases.items()):
        by = f" by {r.actor}" if r.actor else ""
        retiring = " RETIRING (unprotected)" if r.retiring else ""
        lines.append(f"  {app}: {r.commit} from {r.branch} ({r.action}) since {r.released_at}{by}{retiring}")
    for app, h in sorted(state.holds.items()):
        refused = ", ".join(short_commit(c) for c in h.commits)
        lines.append(f"  HOLD {app}: refuses {refused} until a fix descends from it; reason: {h.reason}")
    for key, p in sorted(state.previews.items()):
        lines.append(f"  preview {key}: {p.app} {p.branch}@{short_commit(p.commit)} {p.url} ({p.last_deployed})")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    print(status_text(args.stack, _admin(args).outputs()))
    if args.stack == SHARED_STACK:
        fleet = PreviewFleet(args.root, pulumi_cli(args), wait_seconds=0)
        stacks = fleet.live(with_outputs=True, on_output=_print)
        print(f"preview stacks: {len(stacks)} live")
        for line in status_lines(stacks, utc_now()):
            print(line)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Record an empty state in a new staging/prod stack (the program refuses to guess one)."""
    env = environment_for_stack(args.stack)
    if env.is_preview:
        raise ConfigError("the preview stack needs no init: previews start from an empty state")
    admin = _admin(args)
    message = update_message("init", args.stack, actor=_actor())
    admin.release({"action": "init"}, message, on_output=_print)
    print(f"stack {args.stack} initialized: it records an empty state; releases can now be deployed")
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    """Remove an app from staging/prod: unprotect its objects (update 1), then delete them (update 2)."""
    env = environment_for_stack(args.stack)
    if env.is_preview:
        raise ConfigError("retire is for staging and prod; a preview is stopped instead")
    admin = _admin(args)
    release = _state(admin).state.releases.get(args.app)
    if release is None:
        raise ConfigError(f"{args.app} does not run in {args.stack}: nothing to retire")
    print(f"retire {args.app} from {args.stack}: it runs {release.commit} since {release.released_at}")
    print(f"  every Kubernetes object of {args.app} on every cluster of {args.stack} will be DELETED")
    print(f"  reason: {args.reason}")
    if not _confirmed(args, f"delete {args.app} from {args.stack}?"):
        print("aborted: nothing changed")
        return EXIT_ABORTED
    event = {"app": args.app, "action": "retire", "reason": args.reason}
    message = update_message("retire", args.app, actor=_actor(), reason=args.reason)
    steps = ("unprotect", "delete") if not release.retiring else ("delete",)
    for step in steps:
        print(f"retire {args.app}: {step}")
        admin.release(event, message, on_output=_print)
    print(f"{args.app} retired from {args.stack}; it may now be removed from apps.yaml")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    """CI's deploy/stop: wait out the stack lock; restore the last good release if a deploy failed."""
    if args.stack != SHARED_STACK and preview_of_stack(args.stack) is not None:
        raise ConfigError(f"use --stack preview: {args.stack} is chosen from --app and --branch")
    env = environment_for_stack(args.stack)
    event = {"app": args.app, "branch": args.branch, "action": args.action}
    if args.commit:
        event["commit"] = args.commit
    if args.digest:
        event["digest"] = args.digest
    if args.repo:
        event["sourceRepo"] = str(Path(args.repo).resolve())
    wait = args.lock_wait if args.lock_wait is not None else _lock_wait_from(os.environ)
    pipeline = os.environ.get("CI_PIPELINE_URL", "")
    message = update_message(
        args.action, args.app, actor=_actor(), pipeline=pipeline, commit=args.commit, branch=args.branch
    )
    if env.is_preview:
        return _release_preview(args, event, message, wait)
    admin = _admin(args)
    before = _readable_state(admin)
    live = before.state.releases.get(args.app) if before is not None else None
    try:
        admin.release_when_unlocked(event, message, _print, wait_seconds=wait, target_app=args.app)
        # the release notes of the report: what this release brings since the one before it
        previous = {"PREVIOUS_COMMIT": live.commit} if live is not None and live.commit != args.commit else {}
        _write_dotenv(args.dotenv, {"DEPLOY_RESULT": "success", **previous})
        return 0
    except auto.ConcurrentUpdateError:
        print(
            f"error: stack {args.stack} was still locked by another update after {int(wait)}s; nothing changed. "
            "Retry the job, or raise GITOPS_LOCK_WAIT_SECONDS"
        )
        _write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": "stack locked: nothing changed"})
        return EXIT_FAILED
    except auto.CommandError as exc:
        error = f"{exc}"
    print(f"error: the {args.action} of {args.app} to {args.stack} failed:{error}")
    restore = restore_after_failure(env, event, before, error)
    if restore is None:
        _write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed"})
        return EXIT_FAILED
    print(f"restoring {args.app} in {args.stack} to {restore.commit}, the release before the failed one")
    restore_message = update_message(
        "restore",
        args.app,
        actor=_actor(),
        pipeline=pipeline,
        commit=restore.commit,
        from_commit=restore.failed_commit,
        reason=restore.reason,
    )
    restore_event = {**restore.event(args.branch), **({"sourceRepo": event["sourceRepo"]} if args.repo else {})}
    try:
        admin.release_when_unlocked(restore_event, restore_message, _print, wait_seconds=wait, target_app=args.app)
    except auto.CommandError as exc:
        print(f"error: the restore of {args.app} to {restore.commit} failed too; an admin must act:{exc}")
        reason = f"failed; restoring {short_commit(restore.commit)} failed too: an admin must act"
        _write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": reason})
        return EXIT_FAILED
    print(f"{args.app} in {args.stack} runs {restore.commit} again; the failed release is recorded in the history")
    reason = f"failed; {short_commit(restore.commit)} restored automatically"
    _write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": reason})
    return EXIT_FAILED_RESTORED


def _release_preview(args: argparse.Namespace, event: dict[str, str], message: str, wait: float) -> int:
    """A preview is its own stack: deploy it (then enforce TTL and cap on the others), or tear it down."""
    fleet = PreviewFleet(args.root, pulumi_cli(args), wait_seconds=wait)
    try:
        if args.action == "stop":
            fleet.stop(args.app, args.branch, message, _print)
            return 0
        stack = fleet.deploy(event, message, _print)
    except auto.ConcurrentUpdateError:
        print(f"error: the preview stack was still locked by another update after {int(wait)}s; nothing changed")
        _write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": "stack locked: nothing changed"})
        return EXIT_FAILED
    except auto.CommandError as exc:
        print(f"error: the {args.action} of {args.app} ({args.branch}) failed:{exc}")
        _write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed"})
        return EXIT_FAILED
    _write_dotenv(args.dotenv, {"DEPLOY_RESULT": "success"})
    print(f"preview deployed to stack {stack}")
    fleet.enforce_limits(preview_of_stack(stack) or "", preview_policy(args.root), "limits after deploy", _print)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Scheduled: remove previews whose branch is gone or merged, idle ones and the excess; then re-apply
    the shared preview stack (GitLab side, and any previews it still holds from before per-preview stacks)."""
    repos = dict(_pair(text) for text in args.repo)
    wait = args.lock_wait if args.lock_wait is not None else _lock_wait_from(os.environ)
    fleet = PreviewFleet(args.root, pulumi_cli(args), wait_seconds=wait)
    message = f"sweep previews by {_actor()} (pipeline {os.environ.get('CI_PIPELINE_URL') or '-'})"
    removed = fleet.sweep(repos, preview_policy(args.root), message, _print, dry_run=args.dry_run)
    print(f"sweep: {len(removed)} preview(s) {'to remove' if args.dry_run else 'removed'}")
    if not args.dry_run:
        shared = StackAdmin(SHARED_STACK, args.root, pulumi_cli(args))
        shared.release_when_unlocked(
            {"sourceRepos": json.dumps(repos, sort_keys=True)}, message, _print, wait_seconds=wait
        )
    return 0


def _pair(text: str) -> tuple[str, str]:
    app, sep, path = text.partition("=")
    if not sep or not app or not path:
        raise ConfigError(f"--repo {text[:80]!r} must be <app>=<path of its clone>")
    return app, str(Path(path).resolve())


def _lock_wait_from(environ: Mapping[str, str]) -> float:
    text = environ.get("GITOPS_LOCK_WAIT_SECONDS", "")
    if not text:
        return DEFAULT_LOCK_WAIT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= 86_400:
        raise ConfigError(f"GITOPS_LOCK_WAIT_SECONDS={text[:40]!r} must be a number of seconds from 0 to 86400")
    return seconds


def _readable_state(admin: StackAdmin) -> CarriedState | None:
    """The state before a release, for a restore; unreadable state means no automatic restore (the
    program itself refuses to deploy over it)."""
    try:
        return _state(admin)
    except (GitOpsError, auto.CommandError) as exc:
        print(f"warning: the state before this release cannot be read, so no automatic restore is possible: {exc}")
        return None


def _write_dotenv(path: str | None, values: dict[str, str]) -> None:
    """deploy.env for the report job (GitLab dotenv artifact): one KEY=value a line."""
    if path:
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in values.items())


def cmd_drift(args: argparse.Namespace) -> int:
    admin = _admin(args)
    changes: dict[str, int] = {}
    wait = args.lock_wait if args.lock_wait is not None else _lock_wait_from(os.environ)
    admin.with_lock_wait(lambda: changes.update(admin.drift()), _print, wait_seconds=wait)
    if not changes:
        print(f"stack {args.stack}: no drift")
        return 0
    summary = ", ".join(f"{n} {op}" for op, n in sorted(changes.items()))
    print(f"stack {args.stack}: DRIFT - a refresh would make: {summary}")
    return EXIT_DRIFT


def cmd_plan(args: argparse.Namespace) -> int:
    """Deploy-repo MR: what `pulumi up` with no release event would change in one stack."""
    environment_for_stack(args.stack)
    admin = _admin(args)
    changes, diff = admin.preview()
    text = stack_plan(args.stack, changes, redactor(os.environ)(diff))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"stack {args.stack}: {summary_line(changes)}")
    return 0


def cmd_plan_note(args: argparse.Namespace) -> int:
    """Post the plans of every stack as one note on the deploy-repo MR (edited in place on each push)."""
    plans = {p.stem: p.read_text(encoding="utf-8") for p in sorted(Path(args.plans).glob("*.md"))}
    env = os.environ
    missing = [
        k for k in ("CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", "GITOPS_NOTIFY_TOKEN") if not env.get(k)
    ]
    if missing:
        raise ConfigError(f"plan-note runs in an MR pipeline of the deploy repo; missing: {', '.join(missing)}")
    body = note_body(plans, env.get("CI_COMMIT_SHA", ""), env.get("CI_PIPELINE_URL", ""))
    client = gitlab.Gitlab(
        env["CI_API_V4_URL"].removesuffix("/api/v4"), private_token=env["GITOPS_NOTIFY_TOKEN"], timeout=10
    )
    client.auth()
    mr = client.projects.get(env["CI_PROJECT_ID"], lazy=True).mergerequests.get(
        int(env["CI_MERGE_REQUEST_IID"]), lazy=True
    )
    upsert_marked_note(mr, client.user.username if client.user else None, is_plan_note, lambda _: body)
    print(f"plan of {len(plans)} stack(s) posted on !{env['CI_MERGE_REQUEST_IID']}")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    """Deploy-repo master: apply the merged settings to one stack (`pulumi up` with no release event)."""
    environment_for_stack(args.stack)
    admin = _admin(args)
    wait = args.lock_wait if args.lock_wait is not None else _lock_wait_from(os.environ)
    commit = os.environ.get("CI_COMMIT_SHA", "")
    pipeline = os.environ.get("CI_PIPELINE_URL") or "-"
    message = f"apply deploy repo {commit[:8] or 'settings'} by {_actor()} (pipeline {pipeline})"
    # with a refresh first: every app is reconciled, objects changed by hand included
    admin.release_when_unlocked({}, message, _print, wait_seconds=wait, refresh=True)
    print(f"stack {args.stack}: settings applied")
    return 0


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
    drift.add_argument("--lock-wait", type=float, help="seconds to wait for a locked stack ($GITOPS_LOCK_WAIT_SECONDS)")
    drift.set_defaults(func=cmd_drift)

    init = sub.add_parser("init", help="record an empty state in a new staging/prod stack")
    init.add_argument("--stack", required=True)
    init.set_defaults(func=cmd_init)

    retire = sub.add_parser("retire", help="delete an app from staging/prod (explicit; two updates)")
    retire.add_argument("--stack", required=True)
    retire.add_argument("--app", required=True)
    retire.add_argument("--reason", required=True)
    retire.add_argument("--yes", action="store_true")
    retire.set_defaults(func=cmd_retire)

    sweep = sub.add_parser("sweep", help="scheduled: remove previews of gone/merged branches, idle ones, the excess")
    sweep.add_argument("--repo", action="append", default=[], help="<app>=<path of its clone>, once per app")
    sweep.add_argument("--dry-run", action="store_true")
    sweep.add_argument("--lock-wait", type=float, help="seconds to wait for a locked stack ($GITOPS_LOCK_WAIT_SECONDS)")
    sweep.set_defaults(func=cmd_sweep)

    plan = sub.add_parser("plan", help="deploy-repo MR: what applying the settings would change in a stack")
    plan.add_argument("--stack", required=True)
    plan.add_argument("--out", required=True, help="markdown file for plan-note")
    plan.set_defaults(func=cmd_plan)

    plan_note = sub.add_parser("plan-note", help="deploy-repo MR: post the plans as one MR note, edited in place")
    plan_note.add_argument("--plans", required=True, help="directory of <stack>.md files written by plan")
    plan_note.set_defaults(func=cmd_plan_note)

    apply = sub.add_parser("apply", help="deploy-repo master: pulumi up of one stack with no release event")
    apply.add_argument("--stack", required=True)
    apply.add_argument("--lock-wait", type=float, help="seconds to wait for a locked stack ($GITOPS_LOCK_WAIT_SECONDS)")
    apply.set_defaults(func=cmd_apply)

    release = sub.add_parser("release", help="CI: deploy or stop one release; restores the last good one on failure")
    release.add_argument("--stack", required=True)
    release.add_argument("--app", required=True)
    release.add_argument("--branch", required=True)
    release.add_argument("--action", choices=["deploy", "stop"], default="deploy")
    release.add_argument("--commit")
    release.add_argument("--digest", help="sha256:<hex> of the image the build job pushed (required on staging/prod)")
    release.add_argument("--repo", help="the app's clone (the small baseline checks the commit against it)")
    release.add_argument("--dotenv", help="append DEPLOY_RESULT (and GITOPS_REASON) to this file")
    release.add_argument(
        "--lock-wait",
        type=float,
        help="seconds to wait while another update holds the stack lock (default $GITOPS_LOCK_WAIT_SECONDS or 1800)",
    )
    release.set_defaults(func=cmd_release)
