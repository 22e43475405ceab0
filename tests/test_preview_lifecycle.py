"""Preview lifecycle through the whole program with real git: merge, delete, stop, sweep, cap."""

from datetime import timedelta
from pathlib import Path

from gitops.naming import preview_id
from tests.gitutil import GitRepo, standard_repo
from tests.harness import NOW, run

Repo = tuple[GitRepo, dict[str, str]]


def test_merged_branch_preview_is_removed_on_the_next_update_of_that_app(web_repo: Repo) -> None:
    git, shas = web_repo
    login = run("preview", repo=git.path, app="web", branch="feature/login", commit=shas["feature/login"])
    other_sha = git.branch_with_commit("feature/cart", "latest")
    both = run("preview", repo=git.path, previous=login.outputs, app="web", branch="feature/cart", commit=other_sha)
    assert len(both.outputs["previews"]) == 2
    git.merge("feature/login", "latest")
    after = run("preview", repo=git.path, previous=both.outputs, app="web", branch="feature/cart", commit=other_sha)
    assert list(after.outputs["previews"]) == [preview_id("web", "feature/cart")]
    assert any("merged into latest" in line for line in after.logs)
    namespaces = {
        r.inputs["metadata"]["name"]
        for r in after.resources
        if r.is_kubernetes_object and r.inputs["kind"] == "Namespace"
    }
    assert namespaces == {preview_id("web", "feature/cart")}


def test_stop_works_after_the_branch_is_deleted(web_repo: Repo) -> None:
    git, shas = web_repo
    first = run("preview", repo=git.path, app="web", branch="feature/login", commit=shas["feature/login"])
    git.delete_branch("feature/login")
    stopped = run("preview", previous=first.outputs, app="web", branch="feature/login", action="stop")
    assert stopped.outputs["previews"] == {}
    assert not [r for r in stopped.resources if r.is_kubernetes_object]


def test_sweep_with_every_clone_prunes_deleted_branches_of_all_apps(tmp_path: Path) -> None:
    web, web_shas = standard_repo(tmp_path / "web")
    api, api_shas = standard_repo(tmp_path / "api")
    state = run("preview", repo=web.path, app="web", branch="feature/login", commit=web_shas["feature/login"]).outputs
    state = run(
        "preview", repo=api.path, previous=state, app="api", branch="feature/login", commit=api_shas["feature/login"]
    ).outputs
    api.delete_branch("feature/login")
    only_web = run("preview", previous=state, extra={"gitops:sourceRepos": f'{{"web": "{web.path}"}}'})
    assert len(only_web.outputs["previews"]) == 2, "without api's clone, api's previews are left alone"
    sweep = run(
        "preview", previous=state, extra={"gitops:sourceRepos": f'{{"web": "{web.path}", "api": "{api.path}"}}'}
    )
    assert list(sweep.outputs["previews"]) == [preview_id("web", "feature/login")]


def test_ttl_expiry_and_deterministic_redeploy(web_repo: Repo) -> None:
    git, shas = web_repo
    first = run("preview", repo=git.path, app="web", branch="feature/login", commit=shas["feature/login"])
    kept = run("preview", previous=first.outputs, now=NOW + timedelta(hours=71))
    assert kept.outputs == first.outputs
    expired = run("preview", previous=first.outputs, now=NOW + timedelta(hours=73))
    assert expired.outputs["previews"] == {}


def test_cap_evicts_longest_idle_preview(web_repo: Repo) -> None:
    git, _ = web_repo
    state = None
    for i in range(3):
        sha = git.branch_with_commit(f"feature/f{i}", "latest")
        state = run(
            "preview",
            repo=git.path,
            previous=state,
            now=NOW + timedelta(minutes=i),
            extra={"gitops:preview": '{"max_previews": 2}'},
            app="web",
            branch=f"feature/f{i}",
            commit=sha,
        ).outputs
    assert state is not None
    assert set(state["previews"]) == {preview_id("web", "feature/f1"), preview_id("web", "feature/f2")}


def test_colliding_branch_slugs_deploy_side_by_side(web_repo: Repo) -> None:
    git, _ = web_repo
    upper = git.branch_with_commit("feature/ABC", "latest")
    lower = git.branch_with_commit("feature-abc", "latest")
    first = run("preview", repo=git.path, app="web", branch="feature/ABC", commit=upper)
    second = run("preview", repo=git.path, previous=first.outputs, app="web", branch="feature-abc", commit=lower)
    namespaces = sorted(p["namespace"] for p in second.outputs["previews"].values())
    assert len(set(namespaces)) == 2 and all(n.startswith("web-feature-abc-") for n in namespaces)
    hosts = [
        r.inputs["spec"]["rules"][0]["host"]
        for r in second.resources
        if r.is_kubernetes_object and r.inputs["kind"] == "Ingress"
    ]
    assert len(set(hosts)) == 2


def test_unicode_branch_gets_a_valid_preview_and_can_be_stopped(web_repo: Repo) -> None:
    git, _ = web_repo
    sha = git.branch_with_commit("功能/登录-ü", "latest")
    first = run("preview", repo=git.path, app="web", branch="功能/登录-ü", commit=sha)
    ((key, preview),) = first.outputs["previews"].items()
    assert key == preview_id("web", "功能/登录-ü") and len(key) <= 63 and key.isascii()
    assert preview["url"] == f"https://{key}.preview.example.com"
    (namespace,) = [r for r in first.resources if r.is_kubernetes_object and r.inputs["kind"] == "Namespace"]
    assert namespace.inputs["metadata"]["annotations"]["gitops/branch"] == "功能/登录-ü"
    stopped = run("preview", previous=first.outputs, app="web", branch="功能/登录-ü", action="stop")
    assert stopped.outputs["previews"] == {}
