"""The stack's state, carried from one update to the next through its own outputs.

What comes back from the backend is untrusted input: it is parsed here into typed values with one
clear error (``parse_outputs``), then checked against the environment and catalog (``gitops.core.state_check``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError

from gitops.core.engine import EngineVersion, engine_from_output
from gitops.core.errors import StateError, bounded
from gitops.core.validation import DIGEST, FULL_SHA, ROTATION, StrictModel, require_branch_name

STATE_OUTPUTS = ("releases", "previews", "holds")
ENGINE_OUTPUT = "engine"
ROTATION_OUTPUT = "pullTokenRotation"  # staging/prod: the registry_token_rotation its pull tokens carry
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
REPAIR = (
    "repair the stack outputs from the last good update: `pulumi stack history` names it; "
    "`pulumi stack export --version <N> --file good.json` has its outputs; copy them into "
    "`pulumi stack export --file now.json` and `pulumi stack import --file now.json`"
)


def _sha(value: str) -> str:
    if not FULL_SHA.match(value):
        raise ValueError("must be a full 40-hex lower-case commit SHA")
    return value


def _timestamp(value: str) -> str:
    try:
        datetime.strptime(value, TIME_FORMAT)
    except ValueError:
        raise ValueError("must be a UTC timestamp such as 2026-03-04T12:00:00Z") from None
    return value


def _branch(value: str) -> str:
    return require_branch_name(value)


def _single_line(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be one line of text without control characters")
    return value


Sha = Annotated[str, AfterValidator(_sha)]
Digest = Annotated[str, Field(pattern=DIGEST.pattern)]
Timestamp = Annotated[str, AfterValidator(_timestamp)]
Branch = Annotated[str, AfterValidator(_branch)]
Text = Annotated[str, Field(max_length=500), AfterValidator(_single_line)]


class ClusterRelease(StrictModel):
    """What one cluster runs instead of the app's release: a release in waves has not reached it yet
    (``commit`` None: nothing), or an admin rolled back that cluster alone (``rolled_back``)."""

    commit: Sha | None = None
    digest: Digest | None = None
    rolled_back: bool = False


class Release(StrictModel):
    """What one app runs in a staging/prod stack.

    ``previous`` is the commit that ran before this release: the one a failed release is restored to.
    ``retiring`` is set by the first half of an explicit retire: the app's objects are then unprotected.
    """

    commit: Sha
    branch: Branch
    action: Literal["deploy", "rollback", "restore"]
    released_at: Timestamp
    actor: Text = ""
    pipeline: Text = ""
    previous: Sha | None = None
    retiring: bool = False
    digest: Digest | None = None  # the image that runs (image@digest); None only in releases made before digests
    previous_digest: Digest | None = None
    # clusters that do not run this release, and what they run: a release in waves mid-rollout has not
    # reached them yet, or an admin rolled one of them back alone
    behind: dict[Annotated[str, Field(max_length=30)], ClusterRelease] = Field(default={}, max_length=20)

    def runs_on(self, cluster: str) -> tuple[str | None, str | None]:
        """(commit, digest) the cluster runs: this release's, unless the rollout has not reached it."""
        if cluster in self.behind:
            return self.behind[cluster].commit, self.behind[cluster].digest
        return self.commit, self.digest


class Preview(StrictModel):
    """One running branch preview."""

    app: str = Field(max_length=63)
    branch: Branch
    commit: Sha
    namespace: str = Field(max_length=63)
    url: Text
    last_deployed: Timestamp
    actor: Text = ""
    digest: Digest | None = None  # previews may run the tag (no digest): they are disposable


class Hold(StrictModel):
    """After a rollback from ``commits``, only commits that contain all of them may be deployed."""

    commits: list[Sha] = Field(min_length=1, max_length=100)
    rolled_back_to: Sha
    reason: Text
    since: Timestamp
    actor: Text = ""


def _release_outputs(release: Release) -> dict[str, Any]:
    """`behind` only where a cluster runs something else, ``rolled_back`` only where set: a stack that never
    used waves or a one-cluster rollback keeps its exact outputs."""
    if not release.behind:
        return release.model_dump(exclude={"behind"})
    dumped = release.model_dump(exclude={"behind"})
    dumped["behind"] = {
        c: runs.model_dump(exclude=None if runs.rolled_back else {"rolled_back"}) for c, runs in release.behind.items()
    }
    return dumped


@dataclass(frozen=True)
class StackState:
    releases: dict[str, Release] = field(default_factory=dict)
    previews: dict[str, Preview] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)

    def to_outputs(self) -> dict[str, Any]:
        """Plain, sorted dicts: identical state gives identical exports."""
        return {
            "releases": {k: _release_outputs(v) for k, v in sorted(self.releases.items())},
            "previews": {k: v.model_dump() for k, v in sorted(self.previews.items())},
            "holds": {k: v.model_dump() for k, v in sorted(self.holds.items())},
        }


@dataclass(frozen=True)
class CarriedState:
    """The previous state, whether the stack had recorded one at all (a new or a lost stack has not), and
    which engine last updated it."""

    state: StackState
    recorded: bool
    engine: EngineVersion | None = None
    token_rotation: str | None = None  # None: not recorded (a stack from before it was, or one without GitLab)


def parse_outputs(outputs: Mapping[str, Any] | None) -> CarriedState:
    """Read a previous update's exports; any malformed value is one StateError naming it and the repair."""
    outputs = outputs or {}
    engine = engine_from_output(outputs.get(ENGINE_OUTPUT))
    rotation = outputs.get(ROTATION_OUTPUT)
    if rotation is not None and not (isinstance(rotation, str) and re.fullmatch(ROTATION, rotation)):
        raise StateError(f"stack output {ROTATION_OUTPUT} is {bounded(repr(rotation))}, not a rotation name; {REPAIR}")
    present = [k for k in STATE_OUTPUTS if outputs.get(k) is not None]
    if not present:
        return CarriedState(StackState(), recorded=False, engine=engine, token_rotation=rotation)
    if len(present) != len(STATE_OUTPUTS):
        missing = ", ".join(k for k in STATE_OUTPUTS if k not in present)
        raise StateError(
            f"stack outputs are incomplete: {missing} missing while {', '.join(present)} are there; {REPAIR}"
        )
    return CarriedState(
        StackState(
            releases=_section(outputs, "releases", Release),
            previews=_section(outputs, "previews", Preview),
            holds=_section(outputs, "holds", Hold),
        ),
        recorded=True,
        engine=engine,
        token_rotation=rotation,
    )


def _section(outputs: Mapping[str, Any], key: str, model: type[StrictModel]) -> dict[str, Any]:
    raw = outputs[key]
    if not isinstance(raw, dict):
        raise StateError(f"stack output {key} is {type(raw).__name__}, not a mapping; {REPAIR}")
    if len(raw) > 10_000:
        raise StateError(f"stack output {key} has {len(raw)} entries, more than any stack of this engine; {REPAIR}")
    result = {}
    for name, value in sorted(raw.items()):
        where = f"{key}.{bounded(str(name), 70)}"
        if not isinstance(value, dict):
            raise StateError(f"stack output {where} is {bounded(repr(value), 60)}, not a mapping; {REPAIR}")
        try:
            result[name] = model.model_validate(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            path = ".".join(str(p) for p in err["loc"])
            shown = "" if err["type"] in {"missing", "extra_forbidden"} else f" (got {bounded(repr(err['input']), 80)})"
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            raise StateError(f"stack output {where}.{path}: {message}{shown}; {REPAIR}") from None
    return result
