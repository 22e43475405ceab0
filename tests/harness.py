"""Run the real program under Pulumi mocks (``gitops.offline.engine``) with test-chosen config."""

from __future__ import annotations

import hashlib
import json
import shutil
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
# The shared preview stack's outputs: the read_registry tokens every preview stack pulls with.
SHARED_PREVIEW: dict[str, Any] = {
    "registry": {
        app: {"username": f"gitops-preview-{app}", "token": f"preview-{app}-pull-token"} for app in ("web", "api")
    }
}
# Test values for the secrets the sample catalog declares (each stack's gitops:appSecrets, a Pulumi secret).
APP_SECRETS = {"web": {"SESSION_KEY": "test-session-key"}, "api": {"DATABASE_URL": "postgres://test@db/api"}}


def deploy_repo_copy(folder: Path) -> Path:
    """This repo's project and stack files, copied: a command that writes stack files (a preview's own,
    copied from the shared stack's) writes them there, never into the repository the tests run from."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in [ROOT / "Pulumi.yaml", ROOT / "apps.yaml", *sorted(ROOT.glob("Pulumi.*.yaml"))]:
        shutil.copy(path, folder / path.name)
    return folder


def digest_of(commit: str) -> str:
    """A stand-in for the digest the build job records for ``commit`` (staging/prod require one)."""
    return "sha256:" + hashlib.sha256(commit.encode()).hexdigest()


def run(
    stack: str,
    *,
    repo: Path | None = None,
    previous: dict[str, Any] | None = None,
    now: datetime = NOW,
    extra: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    environ: dict[str, str] | None = None,
    other_stacks: dict[str, Any] | None = None,
    **event: str,
) -> RunResult:
    """One `pulumi up -s <stack> -c gitops:<key>=<value>...` of the real program, in-process.

    Without ``previous`` the stack starts initialized and empty; pass ``MISSING`` for a stack without outputs.
    ``preview`` with an app and a branch runs that preview's own stack, as ``gitops release`` does;
    without them it is the shared ``preview`` stack. Unless a test says otherwise, every run gets what a
    real one would: the catalog's app secrets (as secrets), the shared preview stack's pull tokens, and
    for a staging/prod event with a commit, that commit's image digest.
    """
    previous = INITIALIZED if previous is None else previous
    if stack == "preview" and "app" in event and "branch" in event:
        stack = preview_stack(event["app"], event["branch"])
    if stack in ("staging", "prod") and "commit" in event and "digest" not in event:
        event = {**event, "digest": digest_of(event["commit"])}
    overrides = {f"gitops:{k}": v for k, v in event.items()}
    if repo is not None:
        overrides["gitops:sourceRepo"] = str(repo)
    own_catalog = "gitops:catalog" in (extra or {})  # a test's own catalog brings its own secrets, if any
    defaults = {} if own_catalog else {"gitops:appSecrets": json.dumps(APP_SECRETS)}
    config = load_stack_config(ROOT, stack).with_overrides({**defaults, **overrides, **(extra or {})})
    default_secret = ["gitops:appSecrets"] if defaults and "gitops:appSecrets" not in (extra or {}) else []
    config = StackConfig(config.values, [*config.secret_keys, *(secret_keys or []), *default_secret])
    others = {"preview": SHARED_PREVIEW} if other_stacks is None else other_stacks
    return run_program(
        stack, config, root=ROOT, now=now, previous_outputs=previous, environ=environ, other_stacks=others
    )


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
