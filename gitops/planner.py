"""Desired state = a pure function of (environment, event, previous state, git facts, now)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from gitops.environments import Environment
from gitops.errors import ConfigError, HoldError
from gitops.event import Action, ReleaseEvent
from gitops.gitrepo import BranchFacts
from gitops.naming import preview_host, preview_id, short_commit
from gitops.settings import StackSettings
from gitops.state import Hold, Preview, Release, StackState

Descends = Callable[[str, str], bool]


@dataclass(frozen=True)
class Origin:
    """Who/what triggered the update (from CI's environment); only recorded, never decides."""

    actor: str = ""
    pipeline: str = ""


@dataclass(frozen=True)
class Removal:
    preview: str
    reason: str


@dataclass(frozen=True)
class Plan:
    state: StackState
    removed: list[Removal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


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
    return _plan_releases(env, event, previous, now, origin, descends)


def _plan_releases(
    env: Environment,
    event: ReleaseEvent | None,
    previous: StackState,
    now: datetime,
    origin: Origin,
    descends: Descends | None,
) -> Plan:
    if event is None:
        return Plan(previous)
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
        held = [*(hold.commits if hold else []), current.commit]
        holds[event.app] = Hold(held, event.commit, event.reason or "", timestamp(now), origin.actor)
        notes.append(f"hold: {event.app} refuses {', '.join(map(short_commit, held))} until a fix descends from it")
    elif event.action is Action.DEPLOY and hold is not None:
        assert event.commit is not None
        if descends is None:
            raise HoldError(f"refused: {event.app} is on hold and no source repository was given to check a fix")
        if event.commit in hold.commits or not all(descends(event.commit, c) for c in hold.commits):
            refused = ", ".join(map(short_commit, hold.commits))
            raise HoldError(
                f"refused: {event.app} was rolled back from {refused} ({hold.reason}); deploy a new commit that "
                f"descends from it (the fix), or ask an admin: "
                f"python -m gitops hold clear --stack {env.name} --app {event.app} --reason '...'"
            )
        del holds[event.app]
        notes.append(f"hold on {event.app} released by fix {short_commit(event.commit)}")
    elif event.action is Action.CLEAR_HOLD:
        if hold is None:
            raise ConfigError(f"{event.app} has no hold to clear in this environment")
        del holds[event.app]
        notes.append(f"hold on {event.app} cleared by {origin.actor or 'an admin'}: {event.reason}")

    if event.commit is not None:
        same = current is not None and (current.commit, current.branch, current.action) == (
            event.commit,
            event.branch,
            event.action.value,
        )
        if not same:
            releases[event.app] = Release(
                event.commit, event.branch, event.action.value, timestamp(now), origin.actor, origin.pipeline
            )
    return Plan(StackState(releases, previous.previews, holds), notes=notes)


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
                event.app, event.branch, event.commit, key, f"https://{host}", timestamp(now), origin.actor
            )

    ttl = timedelta(hours=settings.preview.ttl_hours)
    for key, preview in sorted(previews.items()):
        if key == current:
            continue
        repo_facts = facts.get(preview.app)
        reason = None
        if repo_facts is not None and preview.branch not in repo_facts.existing:
            reason = "branch deleted"
        elif repo_facts is not None and preview.branch in repo_facts.merged:
            reason = "merged into latest"
        elif now - parse_timestamp(preview.last_deployed) > ttl:
            reason = f"idle longer than {settings.preview.ttl_hours}h"
        if reason:
            del previews[key]
            removed.append(Removal(key, reason))

    by_idle = sorted((p.last_deployed, k) for k, p in previews.items() if k != current)
    excess = len(previews) - settings.preview.max_previews
    for _, key in by_idle[: max(excess, 0)]:
        del previews[key]
        removed.append(Removal(key, f"evicted: more than {settings.preview.max_previews} previews"))
    return Plan(replace(previous, previews=previews), removed=removed, notes=notes)
