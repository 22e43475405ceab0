"""Admin work with the real engine: drift found and reverted, two releases at once, the ledger and status
read from the real backend, a real plan, and the repair of lost outputs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from tests.e2e.test_e2e_release import IMAGE, _image, _staging_with
from tests.e2e.world import World, WorldFactory, digest
from tests.test_dashboard import Page


def test_drift_is_reported_and_reverted_by_refresh_and_up(world_factory: Callable[[Sequence[str]], World]) -> None:
    world = world_factory(["staging"])
    repo = world.app_repo("web")
    commit = repo.commit("first")
    repo.git("branch", "-f", "latest", "master")
    _staging_with(world, commit)
    assert world.gitops("drift", "--stack", "staging").returncode == 0

    world.kube("staging").merge_patch("/apis/apps/v1/namespaces/web/deployments/web", {"spec": {"replicas": 5}})
    drift = world.gitops("drift", "--stack", "staging", check=False)

    assert drift.returncode == 3, drift.stdout
    assert "DRIFT" in drift.stdout
    page = Page(world.dashboard(world.folder / "drifted").read_text(encoding="utf-8"))
    assert page.tables["matrix"][0][1] == "staging / stagingDRIFT", "the drift job's finding, on the page"
    found = " ".join("".join(page.text).split())
    assert "DRIFT a refresh would make 1 update" in found and "kubernetes:apps/v1:Deployment" in found, found
    world.pulumi("refresh", "--yes", "--stack", "staging")
    world.pulumi("up", "--yes", "--stack", "staging")
    assert world.deployment("staging", "web", "web")["spec"]["replicas"] == 2  # Pulumi.staging.yaml
    assert world.gitops("drift", "--stack", "staging").returncode == 0
    page = Page(world.dashboard(world.folder / "clean").read_text(encoding="utf-8"))
    assert "NO DRIFT last checked 0 min ago" in " ".join("".join(page.text).split())


def test_two_releases_into_prod_at_once_both_land(world_factory: Callable[[Sequence[str]], World]) -> None:
    world = world_factory(["prod"])
    commits = {}
    for app in ("web", "api"):
        commits[app] = world.app_repo(app).commit(f"{app} feature")
    world.gitops("init", "--stack", "prod")

    jobs = {
        app: subprocess.Popen(
            world.release_argv("prod", app, commit, image_digest=digest(n)),
            cwd=world.workdir,
            env=world.release_env("prod", app, commit, image_digest=digest(n)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n, (app, commit) in enumerate(sorted(commits.items()), start=1)
    }
    outputs = {app: job.communicate(timeout=600)[0] for app, job in jobs.items()}

    for app, job in jobs.items():
        assert job.returncode == 0, outputs[app]
    assert any("locked by another update" in text for text in outputs.values())  # one waited for the other
    releases = world.outputs("prod")["releases"]
    assert {app: r["commit"] for app, r in releases.items()} == commits
    for cluster in ("prod-eu", "prod-us"):
        for app, commit in commits.items():
            assert world.deployment(cluster, app, app)["metadata"]["labels"]["app.kubernetes.io/version"] == commit
    deploys = [u for u in world.history("prod") if u["message"].startswith("deploy ")]
    assert len(deploys) == 2 and all(u["result"] == "succeeded" for u in deploys)


def test_history_status_and_plan_read_the_real_backend(world_factory: Callable[[Sequence[str]], World]) -> None:
    world = world_factory(["staging"])
    repo = world.app_repo("web")
    first, second = repo.commit("first"), repo.commit("second")
    repo.git("branch", "-f", "latest", "master")
    _staging_with(world, first, second)

    ledger = json.loads(world.gitops("history", "--stack", "staging", "--json").stdout)
    assert [(e["action"], e["commit"], e["digest"]) for e in ledger if e["action"] == "deploy"] == [
        ("deploy", second, digest(2)),
        ("deploy", first, digest(1)),
    ]
    assert ledger[0]["actor"] == "alice"
    status = world.gitops("status", "--stack", "staging").stdout
    assert f"web: {second} from latest" in status
    plan_file = world.folder / "plan" / "staging.md"
    world.gitops("plan", "--stack", "staging", "--out", str(plan_file))
    assert "staging" in plan_file.read_text()

    world.kube("staging").merge_patch("/apis/apps/v1/namespaces/web/deployments/web", {"spec": {"replicas": 4}})
    world.pulumi("refresh", "--yes", "--stack", "staging")
    changed = world.gitops("plan", "--stack", "staging", "--out", str(plan_file)).stdout
    assert "1 to update" in changed or "update" in plan_file.read_text(), plan_file.read_text()


def _root(deployment: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in deployment["resources"] if r["type"] == "pulumi:pulumi:Stack")
    return found


def test_lost_outputs_are_refused_and_restored_from_the_history(
    world_factory: WorldFactory,
) -> None:
    world = world_factory(["staging"], backend="file")  # the history files of a file backend
    repo = world.app_repo("web")
    first, second = repo.commit("first"), repo.commit("second")
    repo.git("branch", "-f", "latest", "master")
    _staging_with(world, first)
    # the file backend keeps each update's checkpoint (`pulumi stack export --version` is not offered there)
    history = world.folder / "backend" / ".pulumi" / "history" / "gitops" / "staging"
    good_checkpoint = sorted(history.glob("staging-*.checkpoint.json"))[-1]

    state = world.export("staging")
    _root(state["deployment"])["outputs"] = {}  # the outputs are lost (a hand import, a bad restore)
    lost = world.folder / "lost.json"
    lost.write_text(json.dumps(state))
    world.pulumi("stack", "import", "--stack", "staging", "--file", str(lost))
    before = world.settled_states("staging", "web")

    refused = world.ci_release("staging", "web", second, image_digest=digest(2), check=False)
    assert refused.returncode == 2 and "no recorded state" in refused.stdout
    assert world.object_states("staging", "web") == before
    cannot = world.pulumi("stack", "export", "--stack", "staging", "--version", "1", check=False)
    assert cannot.returncode != 0 and "previous deployments" in cannot.stderr

    # the README's repair on the file backend: the good update's outputs into the current state, imported
    good = json.loads(good_checkpoint.read_text())["checkpoint"]["latest"]
    now = world.export("staging")
    _root(now["deployment"])["outputs"] = _root(good)["outputs"]
    (world.folder / "repaired.json").write_text(json.dumps(now))
    world.pulumi("stack", "import", "--stack", "staging", "--file", str(world.folder / "repaired.json"))
    assert world.outputs("staging")["releases"]["web"]["commit"] == first
    world.ci_release("staging", "web", second, image_digest=digest(2))
    assert _image(world) == f"{IMAGE}@{digest(2)}"


def test_positional_names_are_migrated_in_the_real_backend_from_what_the_state_recorded(
    world_factory: Callable[[Sequence[str]], World], tmp_path: Any
) -> None:
    """A staging state written before 2026-12 (its CI/CD variables named by position) is put in the backend
    with `pulumi stack import`; `gitops migrate` renames them with the real CLI's `state rename`.
    GitLab resources cannot be created here (no GitLab, no GitLab provider plugin), so they are imported."""
    world = world_factory(["staging"])
    world.gitops("init", "--stack", "staging")
    exported = world.export("staging", show_secrets=True)
    resources = exported["deployment"]["resources"]
    stack_urn = resources[0]["urn"]
    provider = {"urn": "urn:pulumi:staging::gitops::pulumi:providers:gitlab::staging-gitlab", "custom": True,
                "id": "gitlab-provider", "type": "pulumi:providers:gitlab", "parent": stack_urn,
                "inputs": {"version": "8.0.0"}, "outputs": {"version": "8.0.0"}}  # fmt: skip
    gate = {"urn": "urn:pulumi:staging::gitops::gitops:gitlab:ReleaseGate::staging-gitlab", "custom": False,
            "type": "gitops:gitlab:ReleaseGate", "parent": stack_urn}  # fmt: skip
    old = []
    for index, project in enumerate(["shop/api", "shop/web", "platform/deploy"]):  # the order of that day
        inputs = {"project": project, "key": "KUBECONFIG_B64", "environmentScope": "staging"}
        old.append({
            "urn": f"{gate['urn']}$gitlab:index/projectVariable:ProjectVariable::staging-var-{index}-kubeconfig_b64",
            "custom": True, "id": f"{project}:KUBECONFIG_B64:staging", "parent": gate["urn"],
            "type": "gitlab:index/projectVariable:ProjectVariable", "inputs": inputs, "outputs": inputs,
            "provider": f"{provider['urn']}::{provider['id']}",
        })  # fmt: skip
    exported["deployment"]["resources"] = [*resources, provider, gate, *old]
    state = tmp_path / "old-state.json"
    state.write_text(json.dumps(exported), encoding="utf-8")
    world.pulumi("stack", "import", "--stack", "staging", "--file", str(state))

    dry = world.gitops("migrate", "--stack", "staging", "--dry-run")
    assert "would rename staging-var-1-kubeconfig_b64 -> staging-var-shop/web-kubeconfig_b64" in dry.stdout
    assert world.gitops("migrate", "--stack", "staging").stdout.count("renamed staging-var-") == 3

    urns = [r["urn"] for r in world.export("staging")["deployment"]["resources"]]
    after = {r["urn"].rsplit("::", 1)[-1]: r for r in world.export("staging")["deployment"]["resources"]}
    for project in ("shop/api", "shop/web", "platform/deploy"):
        assert after[f"staging-var-{project}-kubeconfig_b64"]["inputs"]["project"] == project
    assert not any(name.startswith("staging-var-0") for name in after)
    assert len(urns) == len(resources) + 5, "nothing else was added or removed"
    assert "0 resource(s) renamed" in world.gitops("migrate", "--stack", "staging").stdout
