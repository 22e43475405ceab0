"""Which previews go: stopped, branch deleted or merged into ``latest``, idle past the TTL, over the cap.

One pure rule for the program (inside a stack) and for the fleet of per-preview stacks (deploy-time
cap and TTL, the scheduled sweep), so both always agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gitops.core.gitrepo import BranchFacts


@dataclass(frozen=True)
class Removal:
    preview: str
    reason: str


@dataclass(frozen=True)
class LivePreview:
    """What the rule needs of one live preview; app and branch may be unknown (then only TTL and cap apply)."""

    key: str
    last_deployed: datetime
    app: str | None = None
    branch: str | None = None


def prune(
    live: Sequence[LivePreview],
    *,
    now: datetime,
    ttl_hours: int,
    max_previews: int,
    keep: str | None = None,
    facts: Mapping[str, BranchFacts] | None = None,
) -> list[Removal]:
    """The previews to remove, in a stable order; ``keep`` (the one being deployed) is never removed.

    ``facts`` decide only for the apps whose clone was read and the branches it was asked about.
    """
    facts = facts or {}
    removed: list[Removal] = []
    remaining: list[LivePreview] = []
    for preview in sorted(live, key=lambda p: p.key):
        reason = None if preview.key == keep else _reason(preview, now, ttl_hours, facts)
        if reason:
            removed.append(Removal(preview.key, reason))
        else:
            remaining.append(preview)
    excess = len(remaining) - max_previews
    by_idle = sorted((p.last_deployed, p.key) for p in remaining if p.key != keep)
    removed += [Removal(key, f"evicted: more than {max_previews} previews") for _, key in by_idle[: max(excess, 0)]]
    return removed


def _reason(preview: LivePreview, now: datetime, ttl_hours: int, facts: Mapping[str, BranchFacts]) -> str | None:
    repo = facts.get(preview.app) if preview.app else None
    if repo is not None and preview.branch is not None and preview.branch not in repo.uncertain:
        if preview.branch not in repo.existing:
            return "branch deleted"
        if preview.branch in repo.merged:
            return "merged into latest"
    if now - preview.last_deployed > timedelta(hours=ttl_hours):
        return f"idle longer than {ttl_hours}h"
    return None
