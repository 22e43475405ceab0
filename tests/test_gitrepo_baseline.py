"""The small baseline against real git repositories (developer clones and CI-style clones)."""

from pathlib import Path

import pytest

from gitops.core.baseline import check_event
from gitops.core.environments import ENVIRONMENTS
from gitops.core.errors import BaselineError, ConfigError
from gitops.core.event import Action, ReleaseEvent
from gitops.core.gitrepo import SourceRepo
from tests.gitutil import GitRepo, standard_repo


def deploy(app: str, branch: str, commit: str) -> ReleaseEvent:
    return ReleaseEvent(app, branch, commit, Action.DEPLOY)


@pytest.fixture()
def repo(tmp_path: Path) -> tuple[GitRepo, dict[str, str]]:
    return standard_repo(tmp_path / "web")


def test_prod_accepts_master_and_refuses_commits_only_on_latest_or_feature(
    repo: tuple[GitRepo, dict[str, str]],
) -> None:
    git, shas = repo
    source = SourceRepo(git.path)
    check_event(ENVIRONMENTS["prod"], deploy("web", "master", shas["master"]), source)
    for only_on in ("latest", "feature/login"):
        with pytest.raises(BaselineError, match=r"environment prod, branch 'master', commit .* not reachable"):
            check_event(ENVIRONMENTS["prod"], deploy("web", "master", shas[only_on]), source)


def test_staging_accepts_latest_and_its_history_but_refuses_feature_only_commit(
    repo: tuple[GitRepo, dict[str, str]],
) -> None:
    git, shas = repo
    source = SourceRepo(git.path)
    check_event(ENVIRONMENTS["staging"], deploy("web", "latest", shas["latest"]), source)
    check_event(ENVIRONMENTS["staging"], deploy("web", "latest", shas["master"]), source)
    with pytest.raises(BaselineError, match="environment staging"):
        check_event(ENVIRONMENTS["staging"], deploy("web", "latest", shas["feature/login"]), source)


def test_preview_accepts_only_commits_of_the_named_branch(repo: tuple[GitRepo, dict[str, str]]) -> None:
    git, shas = repo
    other = git.branch_with_commit("feature/other", "latest")
    source = SourceRepo(git.path)
    check_event(ENVIRONMENTS["preview"], deploy("web", "feature/login", shas["feature/login"]), source)
    with pytest.raises(BaselineError, match="not reachable from 'feature/login'"):
        check_event(ENVIRONMENTS["preview"], deploy("web", "feature/login", other), source)


def test_unknown_commit_and_missing_branch_are_refused(repo: tuple[GitRepo, dict[str, str]]) -> None:
    git, shas = repo
    source = SourceRepo(git.path)
    with pytest.raises(BaselineError, match="commit does not exist"):
        check_event(ENVIRONMENTS["prod"], deploy("web", "master", "f" * 40), source)
    with pytest.raises(BaselineError, match="branch 'feature/gone' does not exist"):
        check_event(ENVIRONMENTS["preview"], deploy("web", "feature/gone", shas["master"]), source)


def test_stop_needs_neither_branch_nor_commit(repo: tuple[GitRepo, dict[str, str]]) -> None:
    git, _ = repo
    check_event(ENVIRONMENTS["preview"], ReleaseEvent("web", "deleted", None, Action.STOP), SourceRepo(git.path))


def test_ci_clone_with_detached_head_and_remote_branches_only(
    tmp_path: Path, repo: tuple[GitRepo, dict[str, str]]
) -> None:
    git, shas = repo
    clone = SourceRepo(git.ci_clone(tmp_path / "ci", shas["master"]))
    assert not any(name.startswith("refs/heads/") for name in clone._repo.references)
    check_event(ENVIRONMENTS["prod"], deploy("web", "master", shas["master"]), clone)
    check_event(ENVIRONMENTS["preview"], deploy("web", "feature/login", shas["feature/login"]), clone)
    with pytest.raises(BaselineError):
        check_event(ENVIRONMENTS["prod"], deploy("web", "master", shas["latest"]), clone)


def test_not_a_repository_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot be opened.*gitops:sourceRepo"):
        SourceRepo(tmp_path)


def test_branch_facts_match_git_branch_merged(repo: tuple[GitRepo, dict[str, str]]) -> None:
    git, _ = repo
    git.branch_with_commit("feature/merged", "latest")
    git.merge("feature/merged", "latest")
    git.branch_with_commit("feature/deleted", "latest")
    git.delete_branch("feature/deleted")
    asked = ["feature/login", "feature/merged", "feature/deleted", "master", "feature/never-existed"]
    facts = SourceRepo(git.path).branch_facts(asked, "latest")
    assert facts.existing == {"feature/login", "feature/merged", "master"}, "only the branches asked about"
    listed = {line.strip().lstrip("* ") for line in git.git("branch", "--merged", "latest").splitlines()}
    assert facts.merged == listed & set(asked)
    assert "feature/merged" in facts.merged and "feature/login" not in facts.merged


def test_branch_facts_see_remote_tracking_branches_of_a_ci_clone(
    repo: tuple[GitRepo, dict[str, str]], tmp_path: Path
) -> None:
    git, shas = repo
    git.branch_with_commit("feature/merged", "latest")
    git.merge("feature/merged", "latest")
    clone = git.ci_clone(tmp_path / "clone", shas["feature/login"])
    facts = SourceRepo(clone).branch_facts(["feature/merged", "feature/login", "gone"], "latest")
    assert facts.existing == {"feature/merged", "feature/login"} and facts.merged == {"feature/merged"}


def test_descends_from_follows_history(repo: tuple[GitRepo, dict[str, str]]) -> None:
    git, shas = repo
    source = SourceRepo(git.path)
    assert source.descends_from(shas["feature/login"], shas["master"])
    assert not source.descends_from(shas["master"], shas["feature/login"])
