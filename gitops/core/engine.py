"""Which engine (deploy repo commit) runs, and the rule that a stack's engine only moves forward.

Settings and catalog live in this repo, so an older engine re-applying a stack would silently revert
newer settings (a retried app pipeline that still runs last week's image). Each stack records the engine
that last updated it; an update from an older one is refused. The engine image carries its identity in
``GITOPS_ENGINE_COMMIT`` and ``GITOPS_ENGINE_SEQUENCE`` (baked at build); a clone of this repo reads it
from git.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitops.core.errors import CannotTellError, ConfigError, StateError, bounded
from gitops.core.validation import FULL_SHA


@dataclass(frozen=True)
class EngineVersion:
    """A deploy repo commit and its sequence number (commits in its history: ``git rev-list --count``)."""

    commit: str
    sequence: int

    def describe(self) -> str:
        return f"{self.commit[:8]} (#{self.sequence})"

    def to_output(self) -> dict[str, object]:
        return {"commit": self.commit, "sequence": self.sequence}


def engine_from_output(value: object) -> EngineVersion | None:
    """The ``engine`` stack output (absent in stacks last updated before engines were recorded)."""
    if value is None:
        return None
    commit = value.get("commit") if isinstance(value, dict) else None
    sequence = value.get("sequence") if isinstance(value, dict) else None
    if not isinstance(commit, str) or not FULL_SHA.match(commit) or not _is_count(sequence):
        raise StateError(
            f"stack output engine is {bounded(repr(value), 100)}, not {{commit: <40-hex>, sequence: <n>}}; "
            "repair it from the last good update (`pulumi stack export --version <N>`)"
        )
    return EngineVersion(commit, int(sequence))  # type: ignore[arg-type]


def _is_count(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == int(value) and value >= 0


def current_engine(root: Path, environ: Mapping[str, str]) -> EngineVersion | None:
    """This engine's identity: from the image's environment, else from the clone it runs in, else unknown."""
    commit, sequence = environ.get("GITOPS_ENGINE_COMMIT", ""), environ.get("GITOPS_ENGINE_SEQUENCE", "")
    if commit or sequence:
        if not FULL_SHA.match(commit) or not sequence.isdigit():
            raise ConfigError(
                "GITOPS_ENGINE_COMMIT must be a 40-hex commit and GITOPS_ENGINE_SEQUENCE its `git rev-list --count` "
                f"(got {bounded(repr(commit), 50)}, {bounded(repr(sequence), 20)}); rebuild the engine image"
            )
        return EngineVersion(commit, int(sequence))
    try:
        repo = pygit2.Repository(str(root))
        head = repo.head.target
    except (pygit2.GitError, KeyError):
        return None
    if repo.is_shallow:  # its commit count would be too small: an engine that cannot tell its own sequence
        raise CannotTellError(
            f"this engine cannot tell its own version: its clone of the deploy repo ({root}) is shallow, so its "
            "commit count is not its sequence number; fetch the whole history: GIT_DEPTH: 0 in the job's "
            "variables, or git fetch --unshallow"
        )
    count = sum(1 for _ in repo.walk(head, pygit2.enums.SortMode.NONE))
    return EngineVersion(str(head), count)


def check_engine(recorded: EngineVersion | None, current: EngineVersion | None, stack: str) -> None:
    """Refuse an engine older than (or diverged from) the one that last updated ``stack``."""
    if recorded is None:
        return
    if current is None:
        raise StateError(
            f"refused: stack {stack} was last updated by engine {recorded.describe()}, and this engine does not "
            "know its own version; run the engine image (it sets GITOPS_ENGINE_COMMIT/SEQUENCE) or a git clone"
        )
    older = current.sequence < recorded.sequence
    diverged = current.sequence == recorded.sequence and current.commit != recorded.commit
    if older or diverged:
        raise StateError(
            f"refused: this engine {current.describe()} is {'older than' if older else 'not'} the engine "
            f"{recorded.describe()} that last updated stack {stack}; an older engine would revert newer settings. "
            "Run the current engine image (app pipelines: gitops:stable, promoted when the deploy repo's master "
            "was applied) or update your clone of the deploy repo"
        )
