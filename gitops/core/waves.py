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
        if runs != (commit, digest):  # as it runs, and why (a one-cluster rollback stays marked)
            kept = current.behind.get(cluster) if current is not None else None
            behind[cluster] = kept or ClusterRelease(commit=runs[0], digest=runs[1])
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


def roll_back_cluster(current: Release, event: ReleaseEvent, clusters: list[str]) -> Release:
    """One cluster gets ``event``'s commit back; the others keep the current release (``behind``)."""
    assert event.cluster is not None and event.commit is not None
    if event.cluster not in clusters:
        raise ConfigError(
            f"gitops:cluster {event.cluster!r} is not a cluster of this stack; its clusters: {', '.join(clusters)}"
        )
    if event.cluster in current.behind:
        runs = current.behind[event.cluster].commit
        raise ConfigError(
            f"{event.cluster} does not run {event.app}@{short_commit(current.commit)} (it runs "
            f"{short_commit(runs) if runs else 'nothing'}); roll back every cluster (without --cluster) or "
            "complete the rollout first"
        )
    if set(clusters) <= {*current.behind, event.cluster}:
        raise ConfigError(
            f"{event.cluster} is the last cluster that runs {event.app}@{short_commit(current.commit)}; "
            "roll back every cluster instead (without --cluster)"
        )
    rolled_back = ClusterRelease(commit=event.commit, digest=event.digest, rolled_back=True)
    return current.model_copy(update={"behind": {**current.behind, event.cluster: rolled_back}})
