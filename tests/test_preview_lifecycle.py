"""Previews across their own stacks, with real git and the fake Pulumi CLI running the real program.

Each live preview is its own stack (``preview-<preview id>``). The fake CLI (tests/fake_pulumi.py) is
the boundary that cannot be real here; every ``up`` runs the real program under the mock engine, and
``destroy``/``stack rm``/``stack ls`` keep the fake backend's stacks as the CLI would.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gitops.admin.audit import status_text
from gitops.admin.stack import StackAdmin
from gitops.cli import main
from gitops.core.naming import preview_id, preview_stack
from gitops.core.settings import PreviewPolicy
from gitops.core.stackfile import load_stack_config
from gitops.offline.engine import ProgramRefused, run_program
from tests.fake_pulumi import FakeProject, FakePulumiCommand
from tests.gitutil import GitRepo, standard_repo
from tests.harness import APP_SECRETS, NOW, ROOT, deploy_repo_copy, run

Repo = tuple[GitRepo, dict[str, str]]


@pytest.fixture()
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The deploy repo the commands run in: a copy, as each preview stack gets a stack file of its own."""
    copy = deploy_repo_copy(tmp_path / "deploy")
    monkeypatch.setattr("gitops.cli.PROJECT_ROOT", copy)
    return copy


@pytest.fixture()
def project(root: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProject:
    fake = FakeProject(root, now=NOW)
    shared = fake.backend("preview")  # the shared preview stack: settings every preview copies, pull tokens
    shared.config["gitops:appSecrets"] = json.dumps(APP_SECRETS)
    shared.secret_config.add("gitops:appSecrets")
    monkeypatch.setattr("gitops.admin.previews.utc_now", lambda: fake.now)  # one clock for the CLI and the fake
    assert cli(fake, "apply", "--stack", "preview") == 0  # as the deploy repo's pipeline does
    assert set(shared.outputs["registry"]) == {"web", "api"}
    return fake


def cli(project: FakeProject, *argv: str) -> int:
    return main(list(argv), pulumi_command=FakePulumiCommand(project))


def deploy(project: FakeProject, repo: GitRepo, branch: str, commit: str, app: str = "web") -> int:
    return cli(
        project, "release", "--stack", "preview", "--app", app, "--branch", branch, "--commit", commit,
        "--repo", str(repo.path),
    )  # fmt: skip


def live(project: FakeProject) -> set[str]:
    return {name for name in project.stacks if name != "preview"}


def namespaces(project: FakeProject, stack: str) -> set[str]:
    result = project.stacks[stack].last_result
    assert result is not None
    return {
        r.inputs["metadata"]["name"]
        for r in result.resources
        if r.is_kubernetes_object and r.inputs["kind"] == "Namespace"
    }


def test_two_previews_deploy_into_their_own_stacks_without_touching_each_other(
    project: FakeProject, web_repo: Repo
) -> None:
    git, shas = web_repo
    cart = git.branch_with_commit("feature/cart", "latest")
    assert deploy(project, git, "feature/login", shas["feature/login"]) == 0
    login = preview_stack("web", "feature/login")
    calls_before = len(project.stacks[login].calls)
    assert deploy(project, git, "feature/cart", cart) == 0
    cart_stack = preview_stack("web", "feature/cart")
    assert live(project) == {login, cart_stack}
    assert namespaces(project, cart_stack) == {preview_id("web", "feature/cart")}, "only its own preview"
    assert project.stacks[login].calls[calls_before:] == [], "the other preview's stack was not touched"
    assert [h["kind"] for h in project.stacks[login].history] == ["update"]
    assert len(project.stacks["preview"].history) == 1, "only the apply: a preview deploy leaves the shared stack"


def test_stop_tears_the_stack_down_after_the_branch_is_deleted(
    project: FakeProject, web_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    git, shas = web_repo
    assert deploy(project, git, "feature/login", shas["feature/login"]) == 0
    git.delete_branch("feature/login")
    stop = ["release", "--stack", "preview", "--app", "web", "--branch", "feature/login", "--action", "stop"]
    assert cli(project, *stop) == 0
    assert live(project) == set()
    assert cli(project, *stop) == 0
    assert "nothing to stop" in capsys.readouterr().out


def test_sweep_removes_merged_and_deleted_branches_only_for_the_clones_it_has(
    project: FakeProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    web, web_shas = standard_repo(tmp_path / "web")
    api, api_shas = standard_repo(tmp_path / "api")
    assert deploy(project, web, "feature/login", web_shas["feature/login"]) == 0
    assert deploy(project, api, "feature/login", api_shas["feature/login"], app="api") == 0
    web.merge("feature/login", "latest")
    api.delete_branch("feature/login")
    assert cli(project, "sweep", "--repo", f"web={web.path}", "--dry-run") == 0
    assert f"would remove preview {preview_id('web', 'feature/login')}: merged into latest" in capsys.readouterr().out
    assert len(live(project)) == 2, "a dry run changes nothing"
    assert cli(project, "sweep", "--repo", f"web={web.path}") == 0
    assert live(project) == {preview_stack("api", "feature/login")}, "without api's clone, api's preview stays"
    assert cli(project, "sweep", "--repo", f"web={web.path}", "--repo", f"api={api.path}") == 0
    assert live(project) == set()
    assert "branch deleted" in capsys.readouterr().out
    shared = project.stacks["preview"].history
    assert [h["result"] for h in shared] == ["succeeded"] * 3, "applied once, then re-applied by each sweep"


def test_ttl_and_cap_at_deploy_time_never_remove_the_preview_being_deployed(
    project: FakeProject, web_repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    git, _ = web_repo
    monkeypatch.setattr(
        "gitops.admin.releases.preview_policy", lambda root: PreviewPolicy(ttl_hours=72, max_previews=2)
    )

    def at(when: datetime, branch: str) -> None:
        project.now = when
        assert deploy(project, git, branch, git.branch_with_commit(branch, "latest")) == 0

    at(NOW, "feature/old")
    at(NOW + timedelta(hours=73), "feature/a")  # feature/old is idle past the TTL: removed
    assert live(project) == {preview_stack("web", "feature/a")}
    at(NOW + timedelta(hours=74), "feature/b")
    at(NOW + timedelta(hours=75), "feature/c")  # over the cap of 2: the longest idle (a) goes, never c
    assert live(project) == {preview_stack("web", "feature/b"), preview_stack("web", "feature/c")}


def test_status_lists_every_live_preview_with_idle_time(
    project: FakeProject, web_repo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    git, shas = web_repo
    assert deploy(project, git, "feature/login", shas["feature/login"]) == 0
    monkeypatch.setattr("gitops.admin.audit.utc_now", lambda: NOW + timedelta(hours=5))
    capsys.readouterr()
    assert cli(project, "status", "--stack", "preview") == 0
    out = capsys.readouterr().out
    key = preview_id("web", "feature/login")
    assert "preview stacks: 1 live" in out
    assert (
        f"preview {key}: web feature/login@{shas['feature/login'][:8]} https://{key}.preview.example.com idle 5h" in out
    )


def test_colliding_branch_slugs_get_their_own_stacks(project: FakeProject, web_repo: Repo) -> None:
    git, _ = web_repo
    assert deploy(project, git, "feature/ABC", git.branch_with_commit("feature/ABC", "latest")) == 0
    assert deploy(project, git, "feature-abc", git.branch_with_commit("feature-abc", "latest")) == 0
    stacks = live(project)
    assert len(stacks) == 2 and all(s.startswith("preview-web-feature-abc-") for s in stacks)


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


def test_a_preview_stack_holds_only_its_own_preview(web_repo: Repo) -> None:
    git, shas = web_repo
    login = run("preview", repo=git.path, app="web", branch="feature/login", commit=shas["feature/login"])
    with pytest.raises(ProgramRefused, match="holds only preview"):
        run(preview_stack("web", "feature/login"), repo=git.path, app="web", branch="feature/x", commit=shas["latest"])
    cart = git.branch_with_commit("feature/cart", "latest")
    with pytest.raises(ProgramRefused, match="but this stack holds only preview"):
        run("preview", repo=git.path, previous=login.outputs, app="web", branch="feature/cart", commit=cart)


def test_shared_stack_refuses_deploys_and_drains_the_previews_it_still_holds(web_repo: Repo) -> None:
    """Previews created before per-preview stacks stay in the shared stack until stopped, merged or idle."""
    git, shas = web_repo
    legacy: dict[str, Any] = run(
        "preview", repo=git.path, app="web", branch="feature/login", commit=shas["feature/login"]
    ).outputs
    config = load_stack_config(ROOT, "preview").with_overrides(
        {
            "gitops:app": "web",
            "gitops:branch": "feature/login",
            "gitops:commit": shas["feature/login"],
            "gitops:sourceRepo": str(git.path),
        }
    )
    with pytest.raises(ProgramRefused, match="stack preview deploys no preview itself"):
        run_program("preview", config, root=ROOT, now=NOW, previous_outputs=legacy)
    kept = run("preview", previous=legacy, now=NOW + timedelta(hours=71))
    assert kept.outputs["previews"] == legacy["previews"] and namespaces_of(kept) == {
        preview_id("web", "feature/login")
    }
    assert set(kept.outputs["registry"]) == {"web", "api"}, "the shared stack exports the pull tokens"
    expired = run("preview", previous=legacy, now=NOW + timedelta(hours=73))
    assert expired.outputs["previews"] == {}


def namespaces_of(result: Any) -> set[str]:
    return {
        r.inputs["metadata"]["name"]
        for r in result.resources
        if r.is_kubernetes_object and r.inputs["kind"] == "Namespace"
    }


def test_a_refused_first_deploy_leaves_no_stack_and_status_says_what_to_run(
    root: Path, web_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the shared preview stack was ever applied, a preview deploy is refused (no pull token): the stack
    the deploy created is removed again, and ``status`` names the one command that fits the shared stack."""
    git, shas = web_repo
    fresh = FakeProject(root, now=NOW)
    fresh.backend("preview")  # the shared stack exists (pulumi stack init) but was never applied
    assert deploy(fresh, git, "feature/login", shas["feature/login"]) == 2
    out = capsys.readouterr().out
    assert "no registry pull token for web" in out and "python -m gitops apply --stack preview" in out
    assert f"stack {preview_stack('web', 'feature/login')} removed: its first update changed nothing" in out
    assert live(fresh) == set()
    assert cli(fresh, "status", "--stack", "preview") == 0
    status = capsys.readouterr().out
    assert "the shared preview stack was never applied; apply it once (python -m gitops apply --stack preview)" in (
        status
    )
    assert "preview stacks: 0 live" in status


def test_a_failed_redeploy_keeps_the_preview_stack(
    project: FakeProject, web_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a stack the failed deploy itself created is removed: an existing preview stays (it owns objects)."""
    git, shas = web_repo
    assert deploy(project, git, "feature/login", shas["feature/login"]) == 0
    name = preview_stack("web", "feature/login")
    git.checkout("feature/login")
    bad = git.commit("broken")
    project.stacks[name].fail_commits.add(bad)
    assert deploy(project, git, "feature/login", bad) == 2
    assert name in live(project)
    assert "removed" not in capsys.readouterr().out


def test_a_stack_whose_state_owns_a_resource_is_never_removed_as_empty(root: Path) -> None:
    fake = FakeProject(root, now=NOW)
    name = preview_stack("web", "feature/login")
    stack = fake.backend(name)
    stack.state_resources = [
        {"urn": f"urn:pulumi:{name}::gitops::pulumi:pulumi:Stack::gitops-{name}", "type": "pulumi:pulumi:Stack"},
        {"urn": f"urn:pulumi:{name}::gitops::kubernetes:core/v1:Namespace::ns", "type": "kubernetes:core/v1:Namespace"},
    ]
    said: list[str] = []
    assert StackAdmin(name, root, FakePulumiCommand(fake)).remove_if_empty(said.append) is False
    namespace = f"urn:pulumi:{name}::gitops::kubernetes:core/v1:Namespace::ns"
    assert name in fake.stacks and said == [f"stack {name} is kept: its state holds 1 resource(s), {namespace} first\n"]
    stack.state_resources = [stack.state_resources[0], {"urn": "p", "type": "pulumi:providers:pulumi"}]
    assert StackAdmin(name, root, FakePulumiCommand(fake)).remove_if_empty(said.append) is True
    assert name not in fake.stacks


@pytest.mark.parametrize(
    ("stack", "advice"),
    [
        ("preview", "apply it once (python -m gitops apply --stack preview)"),
        ("preview-web-feature-login-893105f2", "never deployed; deploy its branch again, or remove the stack"),
        ("staging", "initialize it once (python -m gitops init --stack staging)"),
        ("prod", "initialize it once (python -m gitops init --stack prod)"),
    ],
)
def test_status_of_a_stack_without_state_gives_the_advice_of_its_kind(stack: str, advice: str) -> None:
    text = status_text(stack, {})
    assert "NO RECORDED STATE" in text and advice in text
    if stack.startswith("preview"):
        assert "gitops init" not in text, "init refuses preview stacks"
