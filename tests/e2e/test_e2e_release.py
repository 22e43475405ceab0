"""Releases into staging and prod with the real engine, as CI runs them (``ci/release.sh deploy``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tests.e2e.world import World, digest

IMAGE = "registry.example.com/shop/web"


def _release_updates(world: World, stack: str) -> list[dict[str, object]]:
    return [u for u in world.history(stack) if u.get("kind") == "update" and "deploy web@" in str(u.get("message"))]


def test_ci_release_reaches_every_cluster_with_commit_and_digest(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["staging", "prod"])
    repo = world.app_repo("web")
    first = repo.commit("first feature")
    repo.git("branch", "-f", "latest", "master")
    world.gitops("init", "--stack", "staging")
    world.gitops("init", "--stack", "prod")

    world.ci_release("staging", "web", first, image_digest=digest(1))
    world.ci_release("prod", "web", first, image_digest=digest(1))

    for cluster in ("staging", "prod-eu", "prod-us"):
        deployment = world.deployment(cluster, "web", "web")
        labels = deployment["metadata"]["labels"]
        assert labels["app.kubernetes.io/version"] == first, cluster
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == f"{IMAGE}@{digest(1)}", cluster
        assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"], cluster
    history = _release_updates(world, "prod")
    assert len(history) == 1 and history[0]["result"] == "succeeded"
    assert first[:8] in str(history[0]["message"])
    outputs = world.outputs("prod")
    assert outputs["releases"]["web"]["commit"] == first


def _staging_with(world: World, *commits: str) -> None:
    """Init staging, then release each commit of web in turn (latest follows master)."""
    world.gitops("init", "--stack", "staging")
    for n, commit in enumerate(commits, start=1):
        world.ci_release("staging", "web", commit, image_digest=digest(n))


def _image(world: World, cluster: str = "staging", app: str = "web") -> str:
    return str(world.deployment(cluster, app, app)["spec"]["template"]["spec"]["containers"][0]["image"])


def test_fast_forward_release_updates_and_an_older_commit_changes_nothing(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["staging"])
    repo = world.app_repo("web")
    first = repo.commit("first")
    second = repo.commit("second")
    repo.git("branch", "-f", "latest", "master")
    _staging_with(world, first, second)
    assert _image(world) == f"{IMAGE}@{digest(2)}"
    assert world.deployment("staging", "web", "web")["metadata"]["labels"]["app.kubernetes.io/version"] == second
    before = world.settled_states("staging", "web")
    updates_before = len(world.history("staging"))

    old = world.ci_release("staging", "web", first, image_digest=digest(1), check=False)

    assert old.returncode == 2, old.stdout
    assert "refused" in old.stdout and "rollback" in old.stdout
    assert world.object_states("staging", "web") == before
    assert _image(world) == f"{IMAGE}@{digest(2)}"
    assert world.outputs("staging")["releases"]["web"]["commit"] == second
    assert len(world.history("staging")) == updates_before + 1  # the refused update is recorded as failed
    assert world.history("staging")[-1]["result"] == "failed"
