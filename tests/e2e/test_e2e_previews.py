"""Per-preview stacks with the real engine: deploy creates ``preview-<id>`` and its namespace, stop destroys
both and removes the stack, the sweep removes a merged branch's preview; pull tokens come from the shared
``preview`` stack."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence

from gitops.core.naming import preview_id, preview_stack
from tests.e2e.world import World
from tests.test_dashboard import Page


def _stacks(world: World) -> set[str]:
    return {s["name"] for s in json.loads(world.pulumi("stack", "ls", "--json", "--stack", "preview").stdout)}


def _gone(world: World, namespace: str) -> bool:
    found = world.kube("preview").find(f"/api/v1/namespaces/{namespace}")
    return found is None or bool(found["metadata"].get("deletionTimestamp"))


def test_preview_stacks_are_created_stopped_and_swept(world_factory: Callable[[Sequence[str]], World]) -> None:
    world = world_factory(["preview"])
    repo = world.app_repo("web")
    login = repo.branch_with_commit("feature/login", "latest", "login form")
    search = repo.branch_with_commit("feature/search", "latest", "search box")
    world.gitops("apply", "--stack", "preview")  # the shared stack: pull tokens for every preview stack

    for branch, commit in (("feature/login", login), ("feature/search", search)):
        world.gitops(
            "release", "--stack", "preview", "--app", "web", "--branch", branch, "--commit", commit,
            "--repo", str(world.ci_clone("web", commit)),
        )  # fmt: skip

    login_ns, search_ns = preview_id("web", "feature/login"), preview_id("web", "feature/search")
    assert {preview_stack("web", "feature/login"), preview_stack("web", "feature/search")} <= _stacks(world)
    namespace = world.kube("preview").get(f"/api/v1/namespaces/{login_ns}")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = world.deployment("preview", login_ns, "web")
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == login
    pull = world.kube("preview").get(f"/api/v1/namespaces/{login_ns}/secrets/web-registry")
    config = json.loads(base64.b64decode(pull["data"][".dockerconfigjson"]))
    assert config["auths"]["registry.example.com"]["password"] == "local-pull-token-preview-web"
    assert (
        "local-pull-token" not in (world.workdir / f"Pulumi.{preview_stack('web', 'feature/login')}.yaml").read_text()
    )

    page = Page(world.dashboard(world.folder / "public").read_text(encoding="utf-8"))
    assert page.row("web", "matrix") == ["web", "2 live"]
    for branch, commit in (("feature/login", login), ("feature/search", search)):
        shown = page.row(branch, "previews-web")
        assert shown[1].startswith("http") and shown[2] == commit[:8] and shown[4].endswith(" h"), shown

    world.gitops("release", "--stack", "preview", "--app", "web", "--branch", "feature/login", "--action", "stop")
    assert preview_stack("web", "feature/login") not in _stacks(world)
    assert _gone(world, login_ns)

    repo.merge("feature/search", "latest")
    sweep = world.gitops("sweep", "--repo", f"web={world.ci_clone('web', repo.tip('latest'))}")
    assert "1 preview(s) removed" in sweep.stdout, sweep.stdout
    assert preview_stack("web", "feature/search") not in _stacks(world)
    assert _gone(world, search_ns)


def test_a_preview_refused_before_the_shared_stack_is_applied_leaves_no_stack(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """The first preview deploy on fresh clusters is refused (no pull token yet): it names the one command to
    run, leaves no ``preview-<id>`` stack behind, and ``status`` gives the same advice; after that command the
    same deploy goes through."""
    world = world_factory(["preview"])
    repo = world.app_repo("web")
    login = repo.branch_with_commit("feature/login", "latest", "login form")
    argv = ["release", "--stack", "preview", "--app", "web", "--branch", "feature/login", "--commit", login]

    refused = world.gitops(*argv, "--repo", str(world.ci_clone("web", login)), check=False)
    assert refused.returncode != 0
    assert "python -m gitops apply --stack preview" in refused.stdout, refused.stdout
    assert f"stack {preview_stack('web', 'feature/login')} removed" in refused.stdout, refused.stdout
    assert preview_stack("web", "feature/login") not in _stacks(world)
    status = world.gitops("status", "--stack", "preview").stdout
    assert "apply it once (python -m gitops apply --stack preview)" in status, status
    assert "preview stacks: 0 live" in status, status

    world.gitops("apply", "--stack", "preview")
    world.gitops(*argv, "--repo", str(world.ci_clone("web", login)))
    assert preview_stack("web", "feature/login") in _stacks(world)
    deployment = world.deployment("preview", preview_id("web", "feature/login"), "web")
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == login
