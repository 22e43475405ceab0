"""Run the real program under Pulumi mocks (``gitops.offline.engine``) with test-chosen config."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from gitops.core.naming import preview_stack
from gitops.core.stackfile import StackConfig, load_stack_config
from gitops.offline.engine import Registered, RunResult, run_program

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 4, 12, 0, 0)  # a Wednesday: outside the sample prod freeze
# What `python -m gitops init` records: the state of a stack that runs nothing yet.
INITIALIZED: dict[str, Any] = {"releases": {}, "previews": {}, "holds": {}}
# What a new stack, or one whose outputs were lost, returns through its StackReference.
MISSING: dict[str, Any] = {}


def run(
    stack: str,
    *,
    repo: Path | None = None,
    previous: dict[str, Any] | None = None,
    now: datetime = NOW,
    extra: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    environ: dict[str, str] | None = None,
    **event: str,
) -> RunResult:
    """One `pulumi up -s <stack> -c gitops:<key>=<value>...` of the real program, in-process.

    Without ``previous`` the stack starts initialized and empty; pass ``MISSING`` for a stack without outputs.
    ``preview`` with an app and a branch runs that preview's own stack, as ``gitops release`` does;
    without them it is the shared ``preview`` stack.
    """
    previous = INITIALIZED if previous is None else previous
    if stack == "preview" and "app" in event and "branch" in event:
        stack = preview_stack(event["app"], event["branch"])
    overrides = {f"gitops:{k}": v for k, v in event.items()}
    if repo is not None:
        overrides["gitops:sourceRepo"] = str(repo)
    overrides.update(extra or {})
    config = load_stack_config(ROOT, stack).with_overrides(overrides)
    if secret_keys:
        config = StackConfig(config.values, [*config.secret_keys, *secret_keys])
    return run_program(stack, config, root=ROOT, now=now, previous_outputs=previous, environ=environ)


def k8s_inputs(result: RunResult) -> dict[str, dict[str, Any]]:
    """Kubernetes objects by URN (stable across runs), for comparing two updates."""
    return {r.urn: r.inputs for r in result.resources if r.is_kubernetes_object}


def one(result: RunResult, kind: str, name: str | None = None, namespace: str | None = None) -> Registered:
    matches = [
        r
        for r in result.resources
        if r.is_kubernetes_object
        and r.inputs["kind"] == kind
        and (name is None or r.inputs["metadata"]["name"] == name)
        and (namespace is None or r.inputs["metadata"].get("namespace") == namespace)
    ]
    assert len(matches) == 1, f"expected one {kind} {namespace}/{name}, found {len(matches)}"
    return matches[0]
