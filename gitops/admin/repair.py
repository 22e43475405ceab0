"""After a fault: a dead cluster found before the first object changes, an interrupted update repaired
before the next one, what the clusters really run, and an admin's ``gitops unlock``.

The decisions are pure (``gitops.core.faults``); this module reads the backend and the clusters and runs
the updates that repair.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import yaml
from pulumi import automation as auto

from gitops.admin.kubeapi import ClusterReader, KubeconfigError
from gitops.admin.messages import update_message
from gitops.admin.shared import EXIT_ABORTED, actor, admin_for, confirmed, echo
from gitops.admin.stack import StackAdmin
from gitops.core.environments import Environment, environment_for_stack
from gitops.core.errors import ConfigError
from gitops.core.faults import LeaseWatch, interrupted_apps, interruption_note
from gitops.core.naming import short_commit
from gitops.core.settings import StackSettings
from gitops.core.state import Release, parse_outputs

REACH_SECONDS = 5.0  # a cluster that does not answer /readyz within this is not reachable
Output = Callable[[str], None]


def readers(admin: StackAdmin, settings: StackSettings, clusters: Iterable[str]) -> dict[str, ClusterReader | str]:
    """A reader per cluster from the stack's kubeconfigs, or why there is none."""
    kubeconfigs = admin.kubeconfigs()
    contexts = {c.name: c.context for c in settings.clusters}
    found: dict[str, ClusterReader | str] = {}
    for cluster in clusters:
        if cluster not in kubeconfigs:
            found[cluster] = f"the stack has no gitops:kubeconfig-{cluster} to reach it with"
            continue
        try:
            found[cluster] = ClusterReader(kubeconfigs[cluster], contexts.get(cluster))
        except (KubeconfigError, ValueError, OSError, yaml.YAMLError) as exc:
            found[cluster] = f"its kubeconfig cannot be used ({exc})"
    return found


def unreachable(admin: StackAdmin, settings: StackSettings, clusters: Iterable[str]) -> dict[str, str]:
    """The clusters among ``clusters`` that do not answer (asked at once), and why. Clusters the stack has no
    kubeconfig for (the provider then reads the context from the job's own kubeconfig) are left to the engine."""
    found = readers(admin, settings, clusters)
    usable = {c: r for c, r in found.items() if isinstance(r, ClusterReader)}
    with ThreadPoolExecutor(max_workers=max(1, len(usable))) as pool:
        answers = dict(zip(usable, pool.map(lambda r: r.unreachable(REACH_SECONDS), usable.values()), strict=True))
    dead = {c: why for c, why in answers.items() if why}
    broken = {c: why for c, why in found.items() if isinstance(why, str) and "cannot be used" in why}
    return {**dead, **broken}


def require_reachable(admin: StackAdmin, settings: StackSettings, clusters: Iterable[str]) -> None:
    """Every cluster a release will touch must answer before the first object changes; else refuse, naming
    each one that does not and why."""
    problems = unreachable(admin, settings, clusters)
    if problems:
        named = "; ".join(f"{cluster}: {why}" for cluster, why in sorted(problems.items()))
        raise ConfigError(
            f"refused: not every cluster of this release can be reached, so nothing was changed anywhere ({named}). "
            "Bring the cluster back (or fix its kubeconfig: pulumi config set --secret gitops:kubeconfig-<cluster>) "
            "and run the job again"
        )


def what_runs(admin: StackAdmin, settings: StackSettings, apps: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """``<cluster>/<app>`` -> the commit the app's Deployment runs there, read from the cluster (or why not)."""
    wanted = sorted({c for clusters in apps.values() for c in clusters})
    found = readers(admin, settings, wanted)
    running: dict[str, str] = {}
    for app, clusters in sorted(apps.items()):
        for cluster in clusters:
            reader = found.get(cluster)
            where = f"{cluster}/{app}"
            if not isinstance(reader, ClusterReader):
                running[where] = f"unreadable ({reader})"
                continue
            try:
                commit = reader.running_commit(app, app)
            except OSError as exc:
                running[where] = f"unreadable ({exc})"
                continue
            running[where] = short_commit(commit) if len(commit) == 40 else commit
    return running


def not_restored(
    admin: StackAdmin, settings: StackSettings, app: str, clusters: Iterable[str], commit: str, on_output: Output
) -> str:
    """After a restore: where the app's Deployment, read back from the cluster, does not run ``commit``
    ("" where it does everywhere). A cluster that cannot be read is warned about, not counted: the engine's
    own await has just seen it there."""
    running = what_runs(admin, settings, {app: list(clusters)})
    wrong = {where: runs for where, runs in running.items() if runs != short_commit(commit)}
    for where in [w for w, runs in wrong.items() if runs.startswith("unreadable")]:
        on_output(f"warning: the restore on {where} could not be checked on the cluster: {wrong.pop(where)}\n")
    return ", ".join(f"{where} runs {runs}" for where, runs in sorted(wrong.items()))


@dataclass(frozen=True)
class Interruption:
    """What an interrupted update left, found and cleared with the stack's lock free."""

    note: str  # for the history and the report
    touched: dict[str, list[str]]  # app -> the clusters its pending operations were on
    recorded: dict[str, Release]  # the releases the stack recorded when it was cleared


def clear_interruption(
    admin: StackAdmin, env: Environment, settings: StackSettings, *, message: str, wait: float, on_output: Output
) -> Interruption | None:
    """Clear what an interrupted update left pending (``refresh --clear-pending-creates``), or return None when
    nothing is left once the stack is free. Pending operations read while another update holds the lock are
    that update's steps in flight, not an interruption: the checkpoint is read again inside every attempt, so
    only what is still pending when no update holds the lock is judged and cleared, and the releases it
    records are read at that moment (a live update that ended meanwhile has recorded its own). On a file
    backend the lock is read before the checkpoint is read a second time; elsewhere the clearing refresh's own
    lock is the only check, so an update that ends between the read and that refresh is taken for an
    interruption (a refresh that reads back what is there, and a restore to what the stack records)."""
    found: list[Interruption] = []
    clusters = [c.name for c in settings.clusters]

    def attempt() -> None:
        current = admin.snapshot()
        if current.pending and admin.locks is not None:
            # an update holds the lock (its steps in flight): wait for it (``with_lock_wait`` judges the lock);
            # once none holds it, read again: an update that ended meanwhile took its pending steps with it
            if admin.locks.locks():
                raise auto.ConcurrentUpdateError(auto.CommandResult("", f"stack {admin.name} is locked", 255))
            current = admin.snapshot()
        if not current.pending:
            return
        recorded = dict(parse_outputs(current.outputs).state.releases)
        touched = interrupted_apps(current.pending, clusters, sorted(recorded), env.name)
        note = interruption_note(current.pending, what_runs(admin, settings, touched))
        admin.clear_pending(f"{message}\n{note}", on_output)
        found.append(Interruption(note, touched, recorded))

    admin.with_lock_wait(attempt, on_output, wait_seconds=wait)
    if not found:
        return None
    on_output(f"warning: {found[0].note}\n")
    admin.notes.append(found[0].note)
    return found[0]


def repair_interruption(
    admin: StackAdmin,
    env: Environment,
    settings: StackSettings,
    *,
    releasing: str | None,
    wait: float,
    pipeline: str,
    on_output: Output = echo,
) -> str:
    """An update of this stack may have been interrupted (killed, its runner lost): its checkpoint holds
    pending operations. Clear them (``clear_interruption``; a refresh reads every object back) and put each
    interrupted app other than ``releasing`` back to the release the stack records, so no unverified
    half-release stays live. Returns the note for the history and the report ("" when the pending operations
    were a live update's, which has ended)."""
    message = update_message("repair", "", actor=actor(), pipeline=pipeline, reason="clear an interrupted update")
    cleared = clear_interruption(admin, env, settings, message=message, wait=wait, on_output=on_output)
    if cleared is None:
        return ""
    for app in cleared.touched:
        live = cleared.recorded.get(app)
        if app == releasing or live is None or env.deploy_branch is None:
            continue
        reason = f"after an interrupted update: back to the recorded {short_commit(live.commit)}"
        event = {"app": app, "commit": live.commit, "branch": env.deploy_branch, "action": "restore", "reason": reason}
        if live.digest:
            event["digest"] = live.digest
        restore = update_message(
            "restore", app, actor=actor(), pipeline=pipeline, commit=live.commit, from_commit=live.commit,
            reason=reason,
        )  # fmt: skip
        on_output(f"restoring {app} to its recorded release {short_commit(live.commit)} after the interruption\n")
        admin.release_when_unlocked(event, restore, on_output, wait_seconds=wait, target_app=app, refresh=True)
    return cleared.note


def cmd_unlock(args: argparse.Namespace) -> int:
    """Show a stack's lock, its holder and the holder's lease; break it after a confirmation."""
    environment_for_stack(args.stack)
    admin = admin_for(args)
    if admin.locks is None:
        print(f"stack {args.stack}: its backend is not one gitops reads locks from; `pulumi cancel` deletes every lock")
        if not confirmed(args, f"run `pulumi cancel` on {args.stack}?"):
            print("aborted: nothing changed")
            return EXIT_ABORTED
        admin.cancel()
        print(f"stack {args.stack}: every lock deleted (pulumi cancel)")
        return 0
    judgements = admin.judge_locks(LeaseWatch(), 0.0)
    if not judgements:
        print(f"stack {args.stack} is not locked")
        return 0
    for judgement in judgements:
        print(f"lock {judgement.lock.key}: {judgement.verdict.value}: {judgement.why}")
    if not confirmed(args, f"break {len(judgements)} lock(s) of {args.stack}? only if no update of it runs"):
        print("aborted: nothing changed")
        return EXIT_ABORTED
    for judgement in judgements:
        admin.break_lock(judgement, echo)
    print(f"stack {args.stack}: unlocked; the next update records the break in its history")
    return 0
