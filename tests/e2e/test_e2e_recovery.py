"""Going back with the real engine: rollback and holds, the automatic restore of a failed release, and the
explicit removal of an app (protect, then retire)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from gitops.localcluster.cluster import BROKEN_DIGEST
from tests.e2e.test_e2e_release import IMAGE, _image, _staging_with
from tests.e2e.world import World, digest
from tests.servers import SlackHook


def _two_releases(world: World) -> tuple[str, str]:
    repo = world.app_repo("web")
    first = repo.commit("first")
    second = repo.commit("second")
    repo.git("branch", "-f", "latest", "master")
    _staging_with(world, first, second)
    return first, second


def test_rollback_puts_the_previous_image_back_and_holds_the_commit(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["staging"])
    first, second = _two_releases(world)

    world.gitops(
        "rollback", "--stack", "staging", "--app", "web", "--reason", "500s after release", "--yes",
        "--repo", str(world.ci_clone("web", second)),
    )  # fmt: skip

    assert _image(world) == f"{IMAGE}@{digest(1)}"
    deployment = world.deployment("staging", "web", "web")
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == first
    assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"]
    outputs = world.outputs("staging")
    assert outputs["releases"]["web"]["commit"] == first
    assert second in outputs["holds"]["web"]["commits"]
    assert "HOLD web" in world.gitops("status", "--stack", "staging").stdout

    again = world.ci_release("staging", "web", second, image_digest=digest(2), check=False)
    assert again.returncode == 2 and "hold" in again.stdout.lower()
    assert _image(world) == f"{IMAGE}@{digest(1)}"

    world.gitops("hold", "clear", "--stack", "staging", "--app", "web", "--reason", "fixed by hand")
    world.ci_release("staging", "web", second, image_digest=digest(2))
    assert _image(world) == f"{IMAGE}@{digest(2)}"
    actions = [u["message"].split(" ", 1)[0] for u in world.history("staging") if u["result"] == "succeeded"]
    assert actions[-3:] == ["rollback", "clear-hold", "deploy"]


def test_a_release_that_never_becomes_ready_ends_with_the_previous_release_running(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["staging"])
    repo = world.app_repo("web")
    first = repo.commit("first")
    broken = repo.commit("crash-looping build")
    repo.git("branch", "-f", "latest", "master")
    _staging_with(world, first)

    failed = world.ci_release("staging", "web", broken, image_digest=BROKEN_DIGEST, check=False)

    assert failed.returncode == 1, failed.stdout  # failed, previous release restored
    assert f"runs {first} again" in failed.stdout
    dotenv = (world.folder / "ci").glob("job-*-web/deploy.env")
    reported = "".join(p.read_text() for p in dotenv)
    assert "DEPLOY_RESULT=failed" in reported and f"{first[:8]} restored automatically" in reported
    deployment = world.deployment("staging", "web", "web")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}@{digest(1)}"
    assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"]
    assert world.outputs("staging")["releases"]["web"]["commit"] == first
    results = [(u["message"].split(" ", 1)[0], u["result"]) for u in world.history("staging") if u["kind"] == "update"]
    assert results[-2:] == [("deploy", "failed"), ("restore", "succeeded")]

    # the report job, fed the failed job's deploy.env as GitLab passes a dotenv artifact on
    (failed_job,) = [p for p in (world.folder / "ci").glob("job-*-web/deploy.env") if "=failed" in p.read_text()]
    job_env = dict(line.split("=", 1) for line in failed_job.read_text().splitlines() if "=" in line)
    with SlackHook() as slack:
        told = world.gitops(
            "notify", "--from-ci", "--notify-config", '{"gitlab_card": false, "slack": true}',
            extra={
                **job_env, "GITOPS_APP": "web", "CI_COMMIT_SHA": broken, "CI_COMMIT_REF_NAME": "latest",
                "CI_COMMIT_BRANCH": "latest",
                "CI_PROJECT_PATH": "shop/web", "SLACK_WEBHOOK_URL": slack.webhook, "GITLAB_USER_LOGIN": "alice",
            },
            check=False,
        )  # fmt: skip
    assert told.returncode == 3, told.stdout  # delivered, and the release had failed
    (message,) = slack.messages
    assert "FAILED" in message["text"] and f"{first[:8]} restored automatically" in json.dumps(message)


def test_a_failing_migration_job_ends_with_the_previous_release_running(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["staging"])
    repo = world.app_repo("api")
    first = repo.commit("first")
    broken = repo.commit("migration that fails")
    repo.git("branch", "-f", "latest", "master")
    world.gitops("init", "--stack", "staging")
    world.ci_release("staging", "api", first, image_digest=digest(1))

    failed = world.ci_release("staging", "api", broken, image_digest=BROKEN_DIGEST, check=False)

    assert failed.returncode == 1, failed.stdout
    image = world.deployment("staging", "api", "api")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"registry.example.com/shop/api@{digest(1)}"
    assert world.outputs("staging")["releases"]["api"]["commit"] == first


def test_an_app_removed_from_the_catalog_keeps_running_until_retired(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["staging"])
    web, api = world.app_repo("web"), world.app_repo("api")
    web_commit, api_commit = web.commit("web"), api.commit("api")
    for repo in (web, api):
        repo.git("branch", "-f", "latest", "master")
    world.gitops("init", "--stack", "staging")
    world.ci_release("staging", "web", web_commit, image_digest=digest(1))
    world.ci_release("staging", "api", api_commit, image_digest=digest(2))
    catalog = world.workdir / "apps.yaml"
    full = catalog.read_text()
    api_versions = world.settled_states("staging", "api")

    catalog.write_text(full[: full.index("  api:")])  # someone deletes api from the catalog
    applied = world.gitops("apply", "--stack", "staging", "--lock-wait", "0", check=False)

    assert applied.returncode != 0
    assert world.object_states("staging", "api") == api_versions

    catalog.write_text(full)  # removal is an explicit admin act
    world.gitops("retire", "--stack", "staging", "--app", "api", "--reason", "replaced", "--yes")

    namespace = world.kube("staging").find("/api/v1/namespaces/api")
    assert namespace is None or namespace["metadata"].get("deletionTimestamp")
    assert "api" not in world.outputs("staging")["releases"]
    assert world.deployment("staging", "web", "web")["metadata"]["labels"]["app.kubernetes.io/version"] == web_commit


def test_a_settings_change_that_would_replace_live_objects_is_refused_and_deletes_nothing(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """A new cluster_identifier makes the provider, and so every object on it, a replacement: protect makes
    the engine refuse it; nothing is deleted or replaced (README, Safety guarantees: do it on purpose)."""
    world = world_factory(["staging"])
    first, _ = _two_releases(world)
    before = world.settled_states("staging", "web")
    stack_file = world.workdir / "Pulumi.staging.yaml"
    stack_file.write_text(
        stack_file.read_text().replace("cluster_identifier: staging-cluster", "cluster_identifier: moved")
    )

    applied = world.gitops("apply", "--stack", "staging", "--lock-wait", "0", check=False)

    assert applied.returncode != 0
    assert "protect" in applied.stdout + applied.stderr
    assert world.object_states("staging", "web") == before
    assert world.outputs("staging")["releases"]["web"]["commit"] != first  # still the second release
