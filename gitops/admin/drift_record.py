"""The last drift check of a stack, kept in its backend beside the state
(``.gitops/drift/organization/<project>/<stack>.json``) so the release dashboard shows it with the same
read-only credentials as the releases. Written by `gitops drift` (the scheduled drift job) on every backend
gitops can address; what it reads back is untrusted and parsed strictly."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gitops.admin.backend_store import Store
from gitops.core.errors import StateError

DRIFT = ".gitops/drift/organization"
SHOWN_RESOURCES = 20  # a drift record names at most this many resources


@dataclass(frozen=True)
class DriftCheck:
    checked_at: str  # ISO 8601, UTC
    changes: dict[str, int] = field(default_factory=dict)  # operation -> resources a refresh would change
    resources: tuple[str, ...] = ()  # "<type> <name>" of the first of them
    pipeline: str = ""  # the drift job's pipeline URL, when it ran in CI

    @property
    def drifted(self) -> bool:
        return any(self.changes.values())

    def to_json(self) -> str:
        record = {"checked_at": self.checked_at, "changes": self.changes, "resources": list(self.resources)}
        return json.dumps({**record, "pipeline": self.pipeline}, sort_keys=True)

    @classmethod
    def parse(cls, text: str) -> DriftCheck:
        try:
            raw: Any = json.loads(text)
            changes = {str(op): int(n) for op, n in dict(raw["changes"]).items()}
            resources = tuple(str(r)[:300] for r in list(raw.get("resources") or [])[:SHOWN_RESOURCES])
            check = cls(str(raw["checked_at"])[:40], changes, resources, str(raw.get("pipeline") or "")[:500])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StateError(f"the drift record is malformed ({type(exc).__name__}: {str(exc)[:100]})") from None
        if any(n < 0 for n in changes.values()):
            raise StateError("the drift record is malformed (a negative count)")
        return check


def drift_key(project: str, stack: str) -> str:
    return f"{DRIFT}/{project}/{stack}.json"


def resource_label(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<parent$type>::<name>`` as ``<type> <name>``."""
    parts = urn.split("::")
    if len(parts) < 4:
        return urn
    return f"{parts[2].rsplit('$', 1)[-1]} {parts[3]}"


def record_drift(store: Store, project: str, stack: str, check: DriftCheck) -> None:
    """Replace the stack's drift record (OSError when the backend refuses it)."""
    store.write(drift_key(project, stack), check.to_json())


def last_drift_check(store: Store, project: str, stack: str) -> DriftCheck | None:
    """The last recorded check, None when no drift job has recorded one; StateError when it is malformed."""
    try:
        text = store.read(drift_key(project, stack))
    except FileNotFoundError:
        return None
    return DriftCheck.parse(text)
