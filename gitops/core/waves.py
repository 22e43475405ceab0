"""Releases in waves: which clusters one update of a release reaches, and what the others still run.

A staging/prod stack may group its clusters into ordered waves (``gitops:waves``). ``gitops release`` then
runs one targeted update per wave; the carried state records, per app, the clusters the release has not
reached yet (``Release.behind``), so every later update, targeted or not, keeps them on what they run.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops.core.errors import ConfigError
from gitops.core.event import Action, ReleaseEvent
from gitops.core.naming import short_commit
from gitops.core.state import ClusterRelease, Release


@dataclass(frozen=True)
class WaveSpan:
    """One update's share of a rollout: the clusters it changes, and those after it (left as they are)."""

    number: int  # 1-based; 0 for an update of every cluster at once
    count: int
    clusters: tuple[str, ...]
    later: tuple[str, ...]


def wave_span(waves: list[list[str]], event: ReleaseEvent) -> WaveSpan:
    """Which clusters this deploy or restore reaches. A deploy into a stack of several waves must name its
    wave (``gitops release`` runs them in order); a restore of wave k reaches waves 1..k."""
    every = tuple(c for wave in waves for c in wave)
    if event.wave is None:
        if len(waves) > 1 and event.action is Action.DEPLOY:
            raise ConfigError(
                f"this stack releases in {len(waves)} waves; deploy {event.app} with python -m gitops release, "
                "which runs them in order (gitops:wave)"
            )
        return WaveSpan(0, len(waves), every, ())
    if event.wave > len(waves):
        raise ConfigError(f"gitops:wave {event.wave}: this stack has {len(waves)} wave(s) (gitops:waves)")
    index = event.wave - 1
    if event.action is Action.RESTORE:  # every cluster the failed release reached
        reached = tuple(c for wave in waves[: index + 1] for c in wave)
    else:
        reached = tuple(waves[index])
    later = tuple(c for wave in waves[index + 1 :] for c in wave)
    return WaveSpan(event.wave, len(waves), reached, later)


def behind_after(
    current: Release | None, commit: str, digest: str | None, later: tuple[str, ...]
) -> dict[str, ClusterRelease]:
    """The clusters this update leaves on something other than ``commit``: those after its wave, as they run."""
    behind = {}
    for cluster in later:
        runs = current.runs_on(cluster) if current is not None else (None, None)
        if runs != (commit, digest):
            behind[cluster] = ClusterRelease(commit=runs[0], digest=runs[1])
    return behind


def continue_rollout(current: Release | None, event: ReleaseEvent, span: WaveSpan) -> Release:
    """Wave k > 1 of the release in progress: its clusters catch up; nothing else changes."""
    if current is None or (current.commit, current.digest) != (event.commit, event.digest):
        running = f"{short_commit(current.commit)}" if current is not None else "nothing"
        raise ConfigError(
            f"wave {span.number} of {event.app}@{short_commit(event.commit or '-')}: the release in progress is "
            f"{running}; a release starts from wave 1 (python -m gitops release)"
        )
    return current.model_copy(update={"behind": {c: b for c, b in current.behind.items() if c not in span.clusters}})
