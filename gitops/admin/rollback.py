"""Rollback target selection over the release ledger (pure; the CLI runs the update)."""

from __future__ import annotations

from dataclasses import dataclass

from gitops.admin.history import HistoryEntry
from gitops.core.errors import ConfigError
from gitops.core.naming import short_commit


@dataclass(frozen=True)
class RollbackPlan:
    app: str
    current: HistoryEntry
    target: HistoryEntry
    between: list[HistoryEntry]
    candidates: list[str]


def _rolled_back_from(releases: list[HistoryEntry]) -> set[str]:
    """Commits an admin rolled back *from*: the commit live just before each rollback (of every cluster or of
    one: a commit rolled back on one cluster is no rollback target either)."""
    bad, live = set(), ""
    for entry in releases:
        if entry.action == "rollback" and live:
            bad.add(live)
        if not entry.cluster:  # a one-cluster rollback leaves the app's release as it was
            live = entry.commit
    return bad


def plan_rollback(
    entries: list[HistoryEntry], app: str | None, *, to: str | None = None, steps: int = 1
) -> RollbackPlan:
    """Pick the release to go back to; ``entries`` oldest first."""
    all_releases = [e for e in entries if e.is_release]
    if app is None:
        if not all_releases:
            raise ConfigError("nothing to roll back: this stack has no successful release yet")
        app = all_releases[-1].app
    releases = [e for e in all_releases if e.app == app]
    if not releases:
        raise ConfigError(f"nothing to roll back: {app} has no successful release in this stack")
    bad = _rolled_back_from(releases)
    releases = [e for e in releases if not e.cluster]
    if not releases:
        raise ConfigError(f"nothing to roll back: the history read holds no release of {app} to every cluster")
    current = releases[-1]
    candidates: list[HistoryEntry] = []
    for entry in reversed(releases[:-1]):
        if entry.commit == current.commit or entry.commit in bad:
            continue
        if entry.commit not in {c.commit for c in candidates}:
            candidates.append(entry)
    if not candidates:
        raise ConfigError(
            f"nothing to roll back to: {app} runs {short_commit(current.commit)} and no earlier good release exists"
        )
    valid = [c.commit for c in candidates]
    if to is not None:
        matches = [c for c in candidates if c.commit == to or (len(to) >= 7 and c.commit.startswith(to))]
        if len(matches) != 1:
            listing = ", ".join(f"{short_commit(c.commit)} (v{c.version})" for c in candidates)
            raise ConfigError(f"--to {to} is not a valid rollback target for {app}; valid targets: {listing}")
        target = matches[0]
    else:
        if steps < 1 or steps > len(candidates):
            raise ConfigError(f"--steps {steps} is out of range: {app} has {len(candidates)} earlier good release(s)")
        target = candidates[steps - 1]
    between = [e for e in releases if target.version < e.version <= current.version]
    return RollbackPlan(app, current, target, between, valid)
