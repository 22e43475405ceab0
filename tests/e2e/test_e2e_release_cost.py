"""A release touches only its app, with the real engine: every other app's objects and state entries stay
exactly as they were; a plain ``apply`` still reconciles every app (objects changed by hand included)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from tests.e2e.world import World, digest


def _resources(world: World, marker: str) -> dict[str, str]:
    """The state of every resource whose URN has ``marker``, as `pulumi stack export` holds it (secrets
    shown: their ciphertext changes with every checkpoint write)."""
    found = {}
    for resource in world.export("prod", show_secrets=True)["deployment"]["resources"]:
        if marker in resource["urn"]:
            found[resource["urn"]] = json.dumps(resource, sort_keys=True)
    return found


def _differences(changed: dict[str, tuple[str, str]]) -> str:
    lines = []
    for urn, (before, after) in changed.items():
        old, new = json.loads(before), json.loads(after)
        keys = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
        lines.append(
            f"{urn.rsplit('::', 1)[-1]}: " + "; ".join(f"{k}: {old.get(k)!r:.200} -> {new.get(k)!r:.200}" for k in keys)
        )
    return "\n".join(lines)


def _two_apps_live(world: World) -> dict[str, str]:
    commits = {app: world.app_repo(app).commit(f"{app} v1") for app in ("web", "api")}
    world.gitops("init", "--stack", "prod")
    for n, (app, commit) in enumerate(sorted(commits.items()), start=1):
        world.ci_release("prod", app, commit, image_digest=digest(n))
    return commits


def test_a_release_of_one_app_leaves_every_other_app_untouched(world_factory: Callable[[Sequence[str]], World]) -> None:
    world = world_factory(["prod"])
    _two_apps_live(world)
    api_objects = {cluster: world.settled_states(cluster, "api") for cluster in ("prod-eu", "prod-us")}
    api_state = _resources(world, "-api-prod")
    web_state = _resources(world, "-web-prod")
    assert api_objects["prod-eu"] and api_state

    new_web = world.repos["web"].commit("web v2")
    world.ci_release("prod", "web", new_web, image_digest=digest(3))

    for cluster in ("prod-eu", "prod-us"):
        assert world.object_states(cluster, "api") == api_objects[cluster], cluster
        labels = world.deployment(cluster, "web", "web")["metadata"]["labels"]
        assert labels["app.kubernetes.io/version"] == new_web
    after = _resources(world, "-api-prod")
    changed = {urn: (api_state[urn], after[urn]) for urn in after if api_state.get(urn) != after[urn]}
    assert not changed, _differences(changed)  # not even re-checked: the state entries are identical
    changed_web = [urn for urn, text in _resources(world, "-web-prod").items() if web_state.get(urn) != text]
    assert changed_web and all("-web-prod" in urn for urn in changed_web)
    last = world.history("prod")[-1]
    changes: dict[str, Any] = last.get("resourceChanges") or {}
    assert last["result"] == "succeeded" and not changes.get("create") and not changes.get("delete"), changes
    assert last["config"]["gitops:targeted"]["value"] == "true"
    assert set(world.outputs("prod")["releases"]) == {"web", "api"}


def test_a_plain_apply_reverts_another_apps_object_changed_by_hand(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["prod"])
    _two_apps_live(world)
    world.kube("prod-us").merge_patch("/apis/apps/v1/namespaces/web/deployments/web", {"spec": {"replicas": 7}})

    world.gitops("apply", "--stack", "prod")

    assert world.deployment("prod-us", "web", "web")["spec"]["replicas"] == 3  # Pulumi.prod.yaml's override
