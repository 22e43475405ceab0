"""A release changes only what it changes (#26), on the real engine: after a release at a new commit every
object of the app but the Deployment keeps its ``metadata.generation`` and ``resourceVersion`` on the API
server, and the history counts that one update; a stack released by the engine before this change moves to
the new object contents in one ordinary release, with nothing replaced or deleted."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import pytest
from pulumi import automation as auto

from gitops.admin.cli import _config_values
from tests.e2e.world import ROOT, World, digest, object_state

# the commit before #26: every object of an app carried the commit in its labels and annotations
BEFORE_26 = "bd117079c693b9932e7c8ab60146968a8d51936f"  # needs the history: CI runs in a full clone
CHANGED_BY_26 = ("components/application.py", "components/environment.py", "gitops/core/workloads.py")
KINDS = {
    "Service": "/api/v1/namespaces/web/services",
    "Secret": "/api/v1/namespaces/web/secrets",
    "ServiceAccount": "/api/v1/namespaces/web/serviceaccounts",
    "Ingress": "/apis/networking.k8s.io/v1/namespaces/web/ingresses",
    "PodDisruptionBudget": "/apis/policy/v1/namespaces/web/poddisruptionbudgets",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/web/networkpolicies",
    "Deployment": "/apis/apps/v1/namespaces/web/deployments",
}


STATUS_BY_CONTROLLER = {"PodDisruptionBudget"}  # the disruption controller writes its status as pods come and go


def _versions(world: World) -> dict[str, tuple[Any, str, str]]:
    """kind/name -> (generation, resourceVersion, uid) of every object of web's namespace we declare; for a
    kind whose status a controller keeps writing, the object without its status stands in for the
    resourceVersion (any write of ours still changes it: ``object_state``)."""
    client = world.kube("staging")
    found = {}
    for kind, path in KINDS.items():
        for item in client.get(path)["items"]:
            meta = item["metadata"]
            if kind == "ServiceAccount" and meta["name"] == "default":
                continue  # the controller's own
            version = object_state(kind, item) if kind in STATUS_BY_CONTROLLER else meta["resourceVersion"]
            found[f"{kind}/{meta['name']}"] = (meta.get("generation"), version, meta["uid"])
    namespace = client.get("/api/v1/namespaces/web")["metadata"]
    found["Namespace/web"] = (namespace.get("generation"), namespace["resourceVersion"], namespace["uid"])
    return found


def _changes(world: World) -> dict[str, int]:
    last = world.history("staging")[-1]
    assert last["result"] == "succeeded", last
    # "read": the program's StackReference to its own last outputs
    return {op: n for op, n in (last.get("resourceChanges") or {}).items() if op not in ("same", "read") and n}


def _staging(world: World) -> list[str]:
    repo = world.app_repo("web")
    commits = [repo.commit(f"web v{n}") for n in (1, 2, 3)]
    repo.git("branch", "-f", "latest", "master")
    world.gitops("init", "--stack", "staging")
    return commits


def test_a_release_at_a_new_commit_rewrites_only_the_deployment(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["staging"])
    c1, c2, _ = _staging(world)
    world.ci_release("staging", "web", c1, image_digest=digest(1))
    before = _versions(world)
    assert {"Service/web", "Ingress/web", "Namespace/web", "Deployment/web"} <= set(before)
    assert any(k.startswith("NetworkPolicy/") for k in before) and any(k.startswith("Secret/") for k in before)

    done = world.ci_release("staging", "web", c2, image_digest=digest(2))

    after = _versions(world)
    rewritten = sorted(k for k in after if after[k] != before.get(k))
    assert rewritten == ["Deployment/web"], rewritten
    assert after["Deployment/web"][0] > before["Deployment/web"][0], "the Deployment itself rolled"
    assert _changes(world) == {"update": 1}, world.history("staging")[-1]
    assert "Service initialization complete" not in done.stdout, "no Service await: the Service is not touched"


def test_a_stack_released_before_the_change_moves_to_it_in_one_ordinary_release(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["staging"])
    c1, c2, c3 = _staging(world)
    for path in CHANGED_BY_26:  # the program as it was: the commit on every object
        old = subprocess.run(["git", "show", f"{BEFORE_26}:{path}"], cwd=ROOT, check=True, capture_output=True)
        (world.workdir / path).write_bytes(old.stdout)
    world.ci_release("staging", "web", c1, image_digest=digest(1))
    old_objects = _versions(world)
    assert (
        world.kube("staging").get("/api/v1/namespaces/web/services/web")["metadata"]["labels"][
            "app.kubernetes.io/version"
        ]
        == c1
    ), "released by the old program: the Service carries the commit"

    for path in CHANGED_BY_26:
        shutil.copyfile(ROOT / path, world.workdir / path)
    world.ci_release("staging", "web", c2, image_digest=digest(2))

    moved = _versions(world)
    assert {k: v[2] for k, v in moved.items()} == {k: v[2] for k, v in old_objects.items()}, "same uids: no replacement"
    changes = _changes(world)
    assert set(changes) == {"update"}, changes  # labels and annotations change in place: no replace, no delete
    service = world.kube("staging").get("/api/v1/namespaces/web/services/web")["metadata"]
    assert "app.kubernetes.io/version" not in service["labels"] and "gitops/commit" not in service["annotations"]

    world.ci_release("staging", "web", c3, image_digest=digest(3))
    settled = _versions(world)
    assert sorted(k for k in settled if settled[k] != moved[k]) == ["Deployment/web"]
    assert _changes(world) == {"update": 1}


def test_the_config_read_while_imports_run_is_what_the_workspace_reads(
    world_factory: Callable[[Sequence[str]], World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A staging/prod release reads its stack's config in a thread while the release module is imported
    (``gitops.admin.cli._config_values``) instead of ``LocalWorkspace.get_all_config``: the same CLI call, parsed
    by us. Both, on a real stack with secrets, give the same values."""
    world = world_factory(["staging"])
    c1, _, _ = _staging(world)
    world.ci_release("staging", "web", c1, image_digest=digest(1))
    for key in [k for k in os.environ if k.startswith("PULUMI_")]:
        monkeypatch.delenv(key)
    for key, value in world.env(stack="staging").items():
        monkeypatch.setenv(key, value)
    command = auto.PulumiCommand(root=str(world.tools["pulumi"].parent.parent), skip_version_check=True)
    workspace = auto.LocalWorkspace(work_dir=str(world.workdir), pulumi_command=command)
    expected = {key: value.value for key, value in workspace.get_all_config("staging").items()}
    resolved: Future[auto.PulumiCommand] = Future()
    resolved.set_result(command)

    prefetched = _config_values(resolved, world.workdir, "staging")

    assert prefetched == expected
    secrets = [k for k, v in workspace.get_all_config("staging").items() if v.secret]
    assert secrets and all(prefetched[k] and not prefetched[k].startswith("v1:") for k in secrets), secrets
