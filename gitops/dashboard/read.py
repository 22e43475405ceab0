"""What the page shows, read from the state backends with read-only credentials: each stack's checkpoint
(its outputs: the carried state) and its update history, straight from the backend's objects
(``gitops.admin.backend_store``). No Pulumi CLI and no passphrase: a secret output shows as ``[secret]``, and
nothing on the page needs one decrypted. Every value read is untrusted: it is parsed as the program parses
its own state, and what cannot be read is said in place, for that environment only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from gitops.admin.backend_store import Store, checkpoint_prefix
from gitops.admin.drift_record import DriftCheck, last_drift_check
from gitops.admin.history import HistoryEntry, ledger
from gitops.admin.locks import LOCKS, lock_stack
from gitops.admin.previews import checkpoint_stacks, shown_outputs
from gitops.admin.stack import Snapshot
from gitops.core.errors import GitOpsError
from gitops.core.state import CarriedState, parse_outputs

HISTORY = ".pulumi/history"
TIMELINE = 20  # the last updates shown per environment
COMPRESSED = "its checkpoint is stored compressed (PULUMI_DIY_BACKEND_GZIP); the page reads plain checkpoints only"


@dataclass(frozen=True)
class StackView:
    stack: str
    state: CarriedState | None
    problem: str = ""
    timeline: list[HistoryEntry] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # steps an update left in flight (its checkpoint)
    locked_since: str = ""  # an update holds the stack's lock, written then (ISO, UTC)


@dataclass(frozen=True)
class EnvironmentView:
    environment: str
    where: str  # the backend, without credentials
    stacks: list[StackView] = field(default_factory=list)
    problem: str = ""  # the environment could not be read at all
    drift: DriftCheck | None = None  # the last drift job's record (None: none recorded)
    drift_problem: str = ""


def read_environment(environment: str, store: Store, project: str, *, previews: bool) -> EnvironmentView:
    """Staging/prod: their one stack. Preview: every preview stack (each holds one preview) and the shared one,
    in one read of their checkpoints, whatever their number; a timeline only for the stack that shows one."""
    try:
        texts, compressed = _checkpoints(store, project, environment, previews=previews)
        locked = _locks(store, project)
        stacks = [StackView(name, None, COMPRESSED, locked_since=locked.get(name, "")) for name in compressed]
        for name, text in sorted(texts.items()):
            view = _stack_view(name, text, locked.get(name, ""))
            if view.state is not None and name == environment:  # a preview's own stack shows no timeline
                view = replace(view, timeline=_timeline(store, project, name))
            stacks.append(view)
    except OSError as exc:
        return EnvironmentView(environment, store.where, problem=f"the backend cannot be read: {str(exc)[:300]}")
    try:
        return EnvironmentView(environment, store.where, stacks, drift=last_drift_check(store, project, environment))
    except (GitOpsError, OSError) as exc:
        return EnvironmentView(environment, store.where, stacks, drift_problem=str(exc)[:300])


def _checkpoints(store: Store, project: str, environment: str, *, previews: bool) -> tuple[dict[str, str], list[str]]:
    """(stack -> its checkpoint's text, the stacks whose checkpoint is stored compressed): one listing and one
    read, whatever the number of previews."""
    prefix = checkpoint_prefix(project)
    listed = checkpoint_stacks(store.entries(f"{prefix}{environment}"), prefix)
    wanted = {n for n in listed if n == environment or (previews and n.startswith(f"{environment}-"))}
    texts = {}
    for key, text in store.read_all(f"{prefix}{environment}", ".json").items():
        name = key.removeprefix(prefix).removesuffix(".json")
        if name in wanted:
            texts[name] = text
    return texts, sorted(wanted - set(texts))


def _locks(store: Store, project: str) -> dict[str, str]:
    """stack -> when its oldest lock was written (``.pulumi/locks/<org>/<project>/<stack>/<id>.json``)."""
    found: dict[str, str] = {}
    for entry in sorted(store.entries(LOCKS), key=lambda e: e.modified, reverse=True):
        owner = lock_stack(entry.key)
        if owner is not None and owner[0] == project:
            found[owner[1]] = entry.modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    return found


def _stack_view(stack: str, text: str, locked_since: str) -> StackView:
    try:
        checkpoint = json.loads(text)
        latest = (checkpoint.get("checkpoint") or {}).get("latest") or {}
        snapshot = Snapshot.of(latest)
        state = parse_outputs(shown_outputs(snapshot.outputs))
    except (ValueError, AttributeError, TypeError) as exc:
        return StackView(stack, None, f"its checkpoint is unreadable ({str(exc)[:200]})", locked_since=locked_since)
    except GitOpsError as exc:
        return StackView(stack, None, str(exc)[:300], locked_since=locked_since)
    pending = [op.describe() for op in snapshot.pending]
    return StackView(stack, state, pending=pending, locked_since=locked_since)


def _timeline(store: Store, project: str, stack: str) -> list[HistoryEntry]:
    """The last updates, oldest first, as `pulumi stack history --json` would give them."""
    keys = [e.key for e in store.entries(f"{HISTORY}/{project}/{stack}/") if e.key.endswith(".history.json")]
    items = []
    for key in sorted(keys)[-TIMELINE:][::-1]:  # named <stack>-<unix nanoseconds>: newest last
        try:
            items.append(_as_cli_json(json.loads(store.read(key))))
        except (FileNotFoundError, ValueError, AttributeError, TypeError):
            continue
    return ledger(items)


def _as_cli_json(update: Mapping[str, Any]) -> dict[str, Any]:
    """A history file (pkg/backend/updates.go, ``UpdateInfo``: unix times, config values as stored) in the
    field names and shapes of `pulumi stack history --json`, which ``gitops.admin.history`` reads."""
    config = {}
    for key, value in (update.get("config") or {}).items():
        config[str(key)] = {"value": value, "secret": False} if isinstance(value, str) else {"secret": True}
    return {
        "version": int(update.get("version") or 0),
        "kind": str(update.get("kind") or ""),
        "result": str(update.get("result") or ""),
        "startTime": _iso(update.get("startTime")),
        "endTime": _iso(update.get("endTime")),
        "message": str(update.get("message") or ""),
        "environment": {str(k): str(v) for k, v in (update.get("environment") or {}).items()},
        "config": config,
    }


def _iso(unix: Any) -> str:
    try:
        return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if unix else ""
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
