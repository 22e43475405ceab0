"""Reading a stack and going back: history, status, drift, rollback and rollback holds."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from gitops.admin.drift_record import SHOWN_RESOURCES, DriftCheck, record_drift, resource_label
from gitops.admin.history import HistoryEntry, table
from gitops.admin.locks import utc_text
from gitops.admin.messages import update_message
from gitops.admin.previews import SHARED_STACK, PreviewFleet, status_lines, utc_now
from gitops.admin.repair import what_runs
from gitops.admin.rollback import plan_rollback
from gitops.admin.shared import (
    EXIT_ABORTED,
    EXIT_DRIFT,
    actor,
    admin_for,
    confirmed,
    echo,
    lock_wait_from,
    pulumi_cli,
    state_of,
)
from gitops.admin.stack import Snapshot, StackAdmin
from gitops.core.catalog import load_catalog
from gitops.core.environments import environment_for_stack
from gitops.core.errors import ConfigError
from gitops.core.faults import LeaseWatch, Verdict
from gitops.core.naming import preview_of_stack, short_commit
from gitops.core.state import parse_outputs
from gitops.notify.cli import notify_admin_release
from gitops.notify.report import ReleaseReport, TestSummary


def cmd_history(args: argparse.Namespace) -> int:
    admin = admin_for(args)

    def wanted(entries: list[HistoryEntry]) -> list[HistoryEntry]:
        return [e for e in entries if not args.app or e.app == args.app]

    entries = wanted(admin.history(enough=lambda read: bool(args.limit) and len(wanted(read)) >= args.limit))
    if args.limit:
        entries = entries[-args.limit :]
    if args.json:
        print(json.dumps([e.to_json() for e in reversed(entries)], indent=2))
        return 0
    print(table(entries) if entries else "no updates in this stack's history")
    for app, hold in sorted(state_of(admin).state.holds.items()):
        if not args.app or app == args.app:
            refused = ", ".join(short_commit(c) for c in hold.commits)
            print(f"HOLD {app}: refuses {refused} since {hold.since} ({hold.reason})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    env = environment_for_stack(args.stack)
    if env.is_preview:
        raise ConfigError("rollback is for staging and prod; redeploy a preview from its branch instead")
    admin = admin_for(args)

    def decided(entries: list[HistoryEntry]) -> bool:
        try:
            plan_rollback(entries, args.app, to=args.to, steps=args.steps)
        except ConfigError:
            return False
        return True  # every entry that can change the choice is newer than the target, so already read

    plan = plan_rollback(admin.history(enough=decided), args.app, to=args.to, steps=args.steps)
    where = f" on {args.cluster} only" if args.cluster else " on every cluster"
    if args.cluster and args.cluster not in {c.name for c in admin.settings().clusters}:
        known = ", ".join(c.name for c in admin.settings().clusters) or "none"
        raise ConfigError(f"--cluster {args.cluster!r} is not a cluster of {args.stack}; its clusters: {known}")
    print(f"rollback {plan.app} in {args.stack}{where}")
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
    if not confirmed(args, "proceed?"):
        print("aborted: nothing changed")
        return EXIT_ABORTED
    assert env.deploy_branch is not None
    message = update_message(
        "rollback",
        plan.app,
        actor=actor(),
        pipeline=os.environ.get("CI_PIPELINE_URL", ""),
        commit=plan.target.commit,
        from_commit=plan.current.commit,
        reason=args.reason,
        cluster=args.cluster,
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
    if args.cluster:
        event["cluster"] = args.cluster
    clusters = [args.cluster] if args.cluster else None
    admin.release(event, message, on_output=echo, target_app=plan.app, clusters=clusters)
    print(f"rolled back {plan.app} to {plan.target.commit}{where}; {short_commit(plan.current.commit)} is on hold")
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
        actor=actor(),
        reason=f"{args.reason} (on {args.cluster} only)" if args.cluster else args.reason,
        related_commits=(plan.current.commit,),
    )
    notify_admin_release(args.root, args.stack, report)
    return 0


def cmd_hold_clear(args: argparse.Namespace) -> int:
    admin = admin_for(args)
    message = update_message("clear-hold", args.app, actor=actor(), reason=args.reason)
    event = {"app": args.app, "action": "clear-hold", "reason": args.reason}
    admin.release(event, message, on_output=echo, target_app=args.app)
    print(f"hold on {args.app} cleared")
    return 0


def no_state_advice(stack: str) -> str:
    """What a stack without recorded outputs means, and the one command that fits its kind."""
    if stack == SHARED_STACK:
        return (
            "the shared preview stack was never applied; apply it once (python -m gitops apply --stack preview): "
            "it creates the GitLab side and the registry pull tokens every preview deploy reads"
        )
    if preview_of_stack(stack) is not None:
        return (
            f"this preview was never deployed; deploy its branch again, or remove the stack (pulumi stack rm {stack})"
        )
    return (
        f"a new stack: initialize it once (python -m gitops init --stack {stack}); or its outputs were lost: "
        "restore them from the history (README, Safety guarantees)"
    )


def status_text(stack: str, outputs: dict[str, Any]) -> str:
    carried = parse_outputs(outputs)
    state = carried.state
    lines = [f"stack {stack}"]
    if not carried.recorded:
        lines.append(f"  NO RECORDED STATE: {no_state_advice(stack)}")
    elif not (state.releases or state.previews):
        lines.append("  nothing deployed")
    for app, r in sorted(state.releases.items()):
        by = f" by {r.actor}" if r.actor else ""
        retiring = " RETIRING (unprotected)" if r.retiring else ""
        lines.append(f"  {app}: {r.commit} from {r.branch} ({r.action}) since {r.released_at}{by}{retiring}")
        rolled_back = {c: runs for c, runs in r.behind.items() if runs.rolled_back}
        waiting = {c: runs for c, runs in r.behind.items() if not runs.rolled_back}
        for cluster, runs in sorted(rolled_back.items()):
            lines.append(
                f"    {cluster}: ROLLED BACK to {short_commit(runs.commit or '')} (this cluster only); the next "
                f"release of {app} reaches it again"
            )
        if waiting:  # a release in waves that has not reached every cluster (a held or cancelled rollout)
            lines.append(f"    MID-ROLLOUT: {short_commit(r.commit)} has not reached every cluster yet")
            for cluster, runs in sorted(waiting.items()):
                still = f"{short_commit(runs.commit)}" if runs.commit else "nothing yet"
                lines.append(
                    f"    {cluster}: still runs {still}; the next release of {app} (or this one again) completes it"
                )
    for app, h in sorted(state.holds.items()):
        refused = ", ".join(short_commit(c) for c in h.commits)
        lines.append(f"  HOLD {app}: refuses {refused} until a fix descends from it; reason: {h.reason}")
    for key, p in sorted(state.previews.items()):
        lines.append(f"  preview {key}: {p.app} {p.branch}@{short_commit(p.commit)} {p.url} ({p.last_deployed})")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    admin = admin_for(args)
    snapshot = admin.snapshot()
    print(status_text(args.stack, snapshot.outputs))
    for line in fault_lines(admin, snapshot):
        print(line)
    if args.stack == SHARED_STACK:
        fleet = PreviewFleet(args.root, pulumi_cli(args), wait_seconds=0)
        stacks = fleet.live(with_outputs=True, on_output=echo)
        print(f"preview stacks: {len(stacks)} live")
        for line in status_lines(stacks, utc_now()):
            print(line)
    return 0


def fault_lines(admin: StackAdmin, snapshot: Snapshot) -> list[str]:
    """What the engine's records alone cannot tell: who holds the lock, an update that never finished, and
    what each cluster really runs (read from its API server), set against what the stack recorded."""
    stack = admin.name
    judgements = admin.judge_locks(LeaseWatch(), 0.0)
    lines = [
        f"  LOCKED ({j.verdict.value}): {j.why}; if its holder is gone: python -m gitops unlock --stack {stack}"
        for j in judgements
    ]
    left = ", ".join(op.describe() for op in snapshot.pending)
    repairs = f"next release into {stack} (or python -m gitops apply --stack {stack}) repairs it"
    if snapshot.pending and any(j.verdict is not Verdict.STALE for j in judgements):
        lines.append(f"  RUNNING: an update holds the lock; its steps in flight: {left}")
    elif snapshot.pending and admin.locks is None:
        lines.append(
            f"  PENDING: {left}: an update runs, or one was interrupted (this backend's lock is not read here); "
            f"if none runs, the {repairs}"
        )
    elif snapshot.pending:
        lines.append(
            f"  INTERRUPTED: an update did not finish (its checkpoint was last written {snapshot.written or '?'}); "
            f"it left pending: {left}. The {repairs}"
        )
    if environment_for_stack(stack).is_preview:
        return lines
    releases = parse_outputs(snapshot.outputs).state.releases
    settings = admin.settings()
    clusters = [c.name for c in settings.clusters]
    for where, runs in sorted(what_runs(admin, settings, {app: clusters for app in releases}).items()):
        cluster, app = where.split("/", 1)
        release = releases[app]
        behind = release.behind.get(cluster)
        expected = short_commit((behind.commit or "none") if behind is not None else release.commit)
        if runs.startswith("unreadable"):
            lines.append(f"  {where}: what the cluster runs is {runs}")
            continue
        mark = "" if runs == expected else f"; DIFFERS from the recorded {expected}"
        lines.append(f"  {where}: the cluster runs {runs}{mark}")
    return lines


def cmd_drift(args: argparse.Namespace) -> int:
    admin = admin_for(args)
    found: list[tuple[dict[str, int], list[str]]] = []
    wait = args.lock_wait if args.lock_wait is not None else lock_wait_from(os.environ)
    admin.with_lock_wait(lambda: found.append(admin.drift()), echo, wait_seconds=wait)
    changes, urns = found[-1]
    _record_drift(admin, DriftCheck(utc_text(), changes, tuple(resource_label(u) for u in urns[:SHOWN_RESOURCES]),
                                    os.environ.get("CI_PIPELINE_URL", "")))  # fmt: skip
    if not changes:
        print(f"stack {args.stack}: no drift")
        return 0
    summary = ", ".join(f"{n} {op}" for op, n in sorted(changes.items()))
    print(f"stack {args.stack}: DRIFT - a refresh would make: {summary}")
    return EXIT_DRIFT


def _record_drift(admin: StackAdmin, check: DriftCheck) -> None:
    """For the dashboard. A backend that refuses the record does not change the check's result: the page
    shows the time of the last record, so a missing one is visible there."""
    if admin.locks is None:
        return
    try:
        record_drift(admin.locks.store, admin.project, admin.name, check)
    except OSError as exc:
        print(f"warning: the drift check could not be recorded for the dashboard: {exc}", file=sys.stderr)
