"""Desired state = a pure function of (environment, event, previous state, git facts, now)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from gitops.core.environments import Environment
from gitops.core.errors import ConfigError, HoldError, OutdatedError
from gitops.core.event import Action, ReleaseEvent
from gitops.core.gitrepo import BranchFacts
from gitops.core.naming import preview_host, preview_id, short_commit
from gitops.core.preview_policy import LivePreview, Removal, prune
from gitops.core.settings import StackSettings
from gitops.core.state import TIME_FORMAT, Hold, Preview, Release, StackState
from gitops.core.waves import behind_after, continue_rollout, roll_back_cluster, wave_span

Descends = Callable[[str, str], bool]


@dataclass(frozen=True)
class Origin:
    """Who/what triggered the update (from CI's environment); only recorded, never decides."""

    actor: str = ""
    pipeline: str = ""


@dataclass(frozen=True)
class Plan:
    state: StackState
    removed: list[Removal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def timestamp(now: datetime) -> str:
    return now.strftime(TIME_FORMAT)


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT)


def plan(
    env: Environment,
    settings: StackSettings,
    event: ReleaseEvent | None,
    previous: StackState,
    *,
    now: datetime,
    origin: Origin = Origin(),
    facts: Mapping[str, BranchFacts] | None = None,
    descends: Descends | None = None,
) -> Plan:
    """Apply one event to the previous state; previews are then pruned."""
    if env.is_preview:
        return _plan_previews(settings, event, previous, now, origin, facts or {})
    waves = [list(w.clusters) for w in settings.rollout_waves()]
    return _plan_releases(env, event, previous, now, origin, descends, waves)


def _plan_releases(
    env: Environment,
    event: ReleaseEvent | None,
    previous: StackState,
    now: datetime,
    origin: Origin,
    descends: Descends | None,
    waves: list[list[str]],
) -> Plan:
    if event is None:
        return Plan(previous)
    if event.action is Action.INIT:
        return Plan(previous, notes=[f"{env.name} initialized: an empty state is recorded"])
    if event.action is Action.RETIRE:
        return _retire(env, event, previous, origin)
    releases, holds = dict(previous.releases), dict(previous.holds)
    current = releases.get(event.app)
    hold = holds.get(event.app)
    notes: list[str] = []

    if event.action is Action.ROLLBACK:
        assert event.commit is not None
        if current is None:
            raise ConfigError(f"cannot roll back {event.app}: it has no release in this environment yet")
        if current.commit == event.commit:
            raise ConfigError(f"cannot roll back {event.app} to {short_commit(event.commit)}: it already runs it")
        if hold and event.commit in hold.commits:
            raise HoldError(
                f"refused: {event.app} was rolled back from {short_commit(event.commit)}; "
                "it cannot be a rollback target"
            )
        held = list(dict.fromkeys([*(hold.commits if hold else []), current.commit]))
        if event.cluster is not None:
            releases[event.app] = roll_back_cluster(current, event, [c for wave in waves for c in wave])
        holds[event.app] = Hold(
            commits=held,
            rolled_back_to=event.commit,
            reason=event.reason or "",
            since=timestamp(now),
            actor=origin.actor,
        )
        notes.append(f"hold: {event.app} refuses {', '.join(map(short_commit, held))} until a fix descends from it")
        if event.cluster is not None:
            notes.append(f"{event.app} rolled back to {short_commit(event.commit)} on {event.cluster} only")
            return Plan(StackState(releases, previous.previews, holds), notes=notes)
    elif event.action is Action.RESTORE:
        assert event.commit is not None
        _check_restore(env, event.app, event.commit, current)
        notes.append(f"{event.app} restored to {short_commit(event.commit)} after a failed release")
    elif event.action is Action.DEPLOY:
        assert event.commit is not None
        span = wave_span(waves, event)
        if span.number > 1:
            if hold is not None and event.commit in hold.commits:
                raise HoldError(
                    f"refused: {event.app}@{short_commit(event.commit)} is on hold (rolled back: {hold.reason}); "
                    "its rollout does not go on to further waves"
                )
            releases[event.app] = continue_rollout(current, event, span)
            notes.append(f"wave {span.number}/{span.count} of {event.app}: {', '.join(span.clusters)}")
            return Plan(StackState(releases, previous.previews, holds), notes=notes)
        if current is not None and current.commit != event.commit:
            _check_forward(env, event.app, event.commit, current, descends)
        if hold is not None:
            _check_fix(env, event.app, event.commit, hold, descends)
            del holds[event.app]
            notes.append(f"hold on {event.app} released by fix {short_commit(event.commit)}")
        if current is not None and current.retiring:
            notes.append(f"retirement of {event.app} cancelled by this deploy: its objects are protected again")
    elif event.action is Action.CLEAR_HOLD:
        if hold is None:
            raise ConfigError(f"{event.app} has no hold to clear in this environment")
        del holds[event.app]
        notes.append(f"hold on {event.app} cleared by {origin.actor or 'an admin'}: {event.reason}")

    if event.commit is not None:
        later = wave_span(waves, event).later if event.action is not Action.ROLLBACK else ()
        behind = behind_after(current, event.commit, event.digest, later)
        now_runs = (event.commit, event.digest, event.action.value, False, behind)
        unchanged = (
            current is not None
            and (
                current.commit,
                current.digest,
                current.action,
                current.retiring,
                current.behind,
            )
            == now_runs
        )
        if not unchanged:
            releases[event.app] = Release(
                commit=event.commit,
                branch=event.branch,
                action=event.action.value,
                released_at=timestamp(now),
                actor=origin.actor,
                pipeline=origin.pipeline,
                previous=current.commit if current else None,
                digest=event.digest,
                previous_digest=current.digest if current else None,
                behind=behind,
            )
    return Plan(StackState(releases, previous.previews, holds), notes=notes)


def _check_forward(env: Environment, app: str, commit: str, current: Release, descends: Descends | None) -> None:
    """An ordinary deploy only moves an app forward: the new commit must contain the live one."""
    if descends is not None and descends(commit, current.commit):
        return
    raise OutdatedError(
        f"refused: outdated pipeline: {app} runs {short_commit(current.commit)} in {env.name} (released "
        f"{current.released_at}), and {short_commit(commit)} does not contain it, so deploying it would move "
        f"{app} backwards. Releases only move forward; to go back on purpose run: python -m gitops rollback "
        f"--stack {env.name} --app {app} --to {commit} --reason '...'"
    )


def _check_fix(env: Environment, app: str, commit: str, hold: Hold, descends: Descends | None) -> None:
    if descends is None:
        raise HoldError(f"refused: {app} is on hold and no source repository was given to check a fix")
    if commit in hold.commits or not all(descends(commit, c) for c in hold.commits):
        refused = ", ".join(map(short_commit, hold.commits))
        raise HoldError(
            f"refused: {app} was rolled back from {refused} ({hold.reason}); deploy a new commit that "
            f"descends from it (the fix), or ask an admin: "
            f"python -m gitops hold clear --stack {env.name} --app {app} --reason '...'"
        )


def _check_restore(env: Environment, app: str, commit: str, current: Release | None) -> None:
    """A restore may only put back what ran before the failed release (or re-apply what is recorded)."""
    allowed = [c for c in (current.commit, current.previous) if c] if current else []
    if commit not in allowed:
        shown = ", ".join(map(short_commit, allowed)) or "none: the app has no release here"
        raise ConfigError(
            f"refused: restore of {app} to {short_commit(commit)} in {env.name}: a restore only puts back the "
            f"release before a failed one (allowed: {shown}); to go further back use python -m gitops rollback"
        )


def _retire(env: Environment, event: ReleaseEvent, previous: StackState, origin: Origin) -> Plan:
    """Removing an app takes two explicit updates: unprotect its objects, then stop declaring them."""
    current = previous.releases.get(event.app)
    if current is None:
        raise ConfigError(f"{event.app} does not run in {env.name}: nothing to retire")
    releases, holds = dict(previous.releases), dict(previous.holds)
    by = f"by {origin.actor or 'an admin'}: {event.reason}"
    if not current.retiring:
        releases[event.app] = current.model_copy(update={"retiring": True})
        note = f"retire {event.app} (1/2) {by}: its objects are unprotected; the next retire update removes them"
    else:
        del releases[event.app]
        holds.pop(event.app, None)
        note = f"retire {event.app} (2/2) {by}: its objects are deleted from every cluster of {env.name}"
    return Plan(StackState(releases, previous.previews, holds), notes=[note])


def _plan_previews(
    settings: StackSettings,
    event: ReleaseEvent | None,
    previous: StackState,
    now: datetime,
    origin: Origin,
    facts: Mapping[str, BranchFacts],
) -> Plan:
    previews = dict(previous.previews)
    removed: list[Removal] = []
    notes: list[str] = []
    current: str | None = None
    if event is not None:
        key = preview_id(event.app, event.branch)
        if event.action is Action.STOP:
            if previews.pop(key, None) is not None:
                removed.append(Removal(key, "stopped"))
            else:
                notes.append(f"no preview of {event.app} for branch {event.branch!r}: nothing to stop")
        else:
            assert event.commit is not None
            current = key
            host = preview_host(key, settings.domain)
            previews[key] = Preview(
                app=event.app,
                branch=event.branch,
                commit=event.commit,
                namespace=key,
                url=f"https://{host}",
                last_deployed=timestamp(now),
                actor=origin.actor,
                digest=event.digest,
            )

    live = [LivePreview(k, parse_timestamp(p.last_deployed), p.app, p.branch) for k, p in previews.items()]
    policy = settings.preview
    pruned = prune(
        live, now=now, ttl_hours=policy.ttl_hours, max_previews=policy.max_previews, keep=current, facts=facts
    )
    for removal in pruned:
        del previews[removal.preview]
    removed += pruned
    return Plan(replace(previous, previews=previews), removed=removed, notes=notes)
