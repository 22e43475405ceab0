"""What the page shows, read from the state backends with read-only credentials: each stack's checkpoint
(its outputs: the carried state) and its update history, straight from the backend's objects
(``gitops.admin.backend_store``). No Pulumi CLI and no passphrase: a secret output shows as ``[secret]``, and
nothing on the page needs one decrypted. Every value read is untrusted: it is parsed as the program parses
its own state, and what cannot be read is said in place, for that environment only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gitops.admin.backend_store import Store
from gitops.admin.history import HistoryEntry, ledger
from gitops.admin.previews import STACKS, shown_outputs
from gitops.admin.stack import Snapshot
from gitops.core.errors import GitOpsError
from gitops.core.state import CarriedState, parse_outputs

HISTORY = ".pulumi/history"
TIMELINE = 20  # the last updates shown per environment


@dataclass(frozen=True)
class StackView:
    stack: str
    state: CarriedState | None
    problem: str = ""
    timeline: list[HistoryEntry] = field(default_factory=list)


@dataclass(frozen=True)
class EnvironmentView:
    environment: str
    where: str  # the backend, without credentials
    stacks: list[StackView] = field(default_factory=list)
    problem: str = ""  # the environment could not be read at all


def read_environment(environment: str, store: Store, project: str, *, previews: bool) -> EnvironmentView:
    """Staging/prod: their one stack. Preview: every preview stack (each holds one preview) and the shared one."""
    try:
        names = sorted(_stack_names(store, project))
        if previews:
            chosen = [n for n in names if n == "preview" or n.startswith("preview-")]
        else:
            chosen = [n for n in names if n == environment]
        return EnvironmentView(environment, store.where, [_stack_view(store, project, n) for n in chosen])
    except OSError as exc:
        return EnvironmentView(environment, store.where, problem=f"the backend cannot be read: {str(exc)[:300]}")


def _stack_names(store: Store, project: str) -> list[str]:
    prefix = f"{STACKS}/{project}/"
    return [e.key.removeprefix(prefix).removesuffix(".json") for e in store.entries(prefix)
            if e.key.endswith(".json") and "/" not in e.key.removeprefix(prefix)]  # fmt: skip


def _stack_view(store: Store, project: str, stack: str) -> StackView:
    try:
        checkpoint = json.loads(store.read(f"{STACKS}/{project}/{stack}.json"))
        latest = (checkpoint.get("checkpoint") or {}).get("latest") or {}
        state = parse_outputs(shown_outputs(Snapshot.of(latest).outputs))
    except (ValueError, AttributeError, TypeError) as exc:
        return StackView(stack, None, f"its checkpoint is unreadable ({str(exc)[:200]})")
    except GitOpsError as exc:
        return StackView(stack, None, str(exc)[:300])
    return StackView(stack, state, timeline=_timeline(store, project, stack))


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
