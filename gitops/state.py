"""The stack's state, carried from one update to the next through its own outputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from gitops.errors import ConfigError


@dataclass(frozen=True)
class Release:
    """What one app runs in a staging/prod stack."""

    commit: str
    branch: str
    action: str
    released_at: str
    actor: str = ""
    pipeline: str = ""


@dataclass(frozen=True)
class Preview:
    """One running branch preview."""

    app: str
    branch: str
    commit: str
    namespace: str
    url: str
    last_deployed: str
    actor: str = ""


@dataclass(frozen=True)
class Hold:
    """After a rollback from ``commits``, only commits that contain all of them may be deployed."""

    commits: list[str]
    rolled_back_to: str
    reason: str
    since: str
    actor: str = ""


@dataclass(frozen=True)
class StackState:
    releases: dict[str, Release] = field(default_factory=dict)
    previews: dict[str, Preview] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)

    def to_outputs(self) -> dict[str, Any]:
        """Plain, sorted dicts: identical state gives identical exports."""
        return {
            "releases": {k: asdict(v) for k, v in sorted(self.releases.items())},
            "previews": {k: asdict(v) for k, v in sorted(self.previews.items())},
            "holds": {k: asdict(v) for k, v in sorted(self.holds.items())},
        }

    @classmethod
    def from_outputs(cls, outputs: dict[str, Any] | None) -> StackState:
        """Read a previous update's exports; missing sections are empty."""
        outputs = outputs or {}
        return cls(
            releases=_section(outputs, "releases", Release),
            previews=_section(outputs, "previews", Preview),
            holds=_section(outputs, "holds", Hold),
        )


def _section(outputs: dict[str, Any], key: str, kind: type) -> dict[str, Any]:
    raw = outputs.get(key) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"stack output {key!r} is not a mapping; was it written by this program?")
    allowed = {f.name for f in fields(kind)}
    result = {}
    for name, value in raw.items():
        if not isinstance(value, dict):
            raise ConfigError(f"stack output {key}.{name} is not a mapping")
        try:
            result[name] = kind(**{k: v for k, v in value.items() if k in allowed})
        except TypeError as exc:
            raise ConfigError(f"stack output {key}.{name} is incomplete: {exc}") from None
    return result
