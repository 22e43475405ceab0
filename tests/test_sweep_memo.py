"""The sweep's memo (#16): what one sweep learnt lets the next walk only what latest gained, with the same
answer as ``git branch --merged``; a forged or broken memo keeps previews, never removes one. Real git."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from pygit2 import Oid, Repository

from gitops.admin.sweep_memo import load_memos, save_memos
from gitops.core import gitrepo
from gitops.core.gitrepo import MergeMemo, SourceRepo
from tests.fake_pulumi import FakeProject
from tests.gitutil import GIT_ENV, GitRepo
from tests.test_preview_lifecycle import cli, deploy, live, project, root  # noqa: F401  (the fixtures)

BRANCHES = ["feature/a", "feature/b", "feature/c", "feature/d"]


@pytest.fixture()
def repo(tmp_path: Path) -> GitRepo:
    """latest with four feature branches forked from it; c is merged, the others are not."""
    git = GitRepo(tmp_path / "web")
    git.checkout("latest", create_from="master")
    git.checkout("master")
    for branch in BRANCHES:
        work_on(git, branch)
    git.merge("feature/c", "latest")
    return git


def work_on(git: GitRepo, branch: str) -> None:
    """A branch from latest with a commit of its own (empty: branches merge without conflicts)."""
    git.checkout(branch, create_from="latest")
    git.git("commit", "-q", "--allow-empty", "-m", f"work on {branch}")
    git.checkout("master")


def git_merged(git: GitRepo) -> set[str]:
    return set(git.git("branch", "--merged", "latest", "--format=%(refname:short)").split()) & set(BRANCHES)


def test_with_the_memo_only_what_latest_gained_decides_and_the_answer_is_gits(repo: GitRepo) -> None:
    first = SourceRepo(repo.path).branch_facts(BRANCHES, "latest")
    assert first.merged == git_merged(repo) == {"feature/c"}
    assert first.memo is not None and first.memo.targets == {repo.tip("latest")}
    assert set(first.memo.unmerged) == {repo.tip(b) for b in ("feature/a", "feature/b", "feature/d")}
    for branch in ("feature/a", "feature/b", "feature/d"):  # the frontier: where the branch forked from latest
        assert first.memo.unmerged[repo.tip(branch)] == {repo.git("merge-base", branch, "latest")}

    repo.merge("feature/a", "latest")  # latest gains a merge and more work
    repo.checkout("latest")
    repo.git("commit", "-q", "--allow-empty", "-m", "more on latest")
    repo.checkout("master")
    work_on(repo, "feature/e")  # a branch the memo never saw
    asked = [*BRANCHES, "feature/e"]
    with_memo = SourceRepo(repo.path).branch_facts(asked, "latest", first.memo)
    afresh = SourceRepo(repo.path).branch_facts(asked, "latest")
    assert with_memo.merged == afresh.merged == {"feature/a", "feature/c"} == git_merged(repo)
    assert with_memo.memo == afresh.memo


def test_an_old_branch_merged_since_is_found_through_its_frontier_and_a_rewound_latest_drops_it(
    repo: GitRepo,
) -> None:
    first = SourceRepo(repo.path).branch_facts(BRANCHES, "latest")
    for _ in range(3):  # latest moves on; then the old branch a is merged
        repo.checkout("latest")
        repo.git("commit", "-q", "--allow-empty", "-m", "more on latest")
    repo.merge("feature/a", "latest")
    repo.checkout("master")
    second = SourceRepo(repo.path).branch_facts(BRANCHES, "latest", first.memo)
    assert second.merged == {"feature/a", "feature/c"} == git_merged(repo)
    assert second.memo is not None and first.memo is not None
    assert second.memo.unmerged == {t: f for t, f in first.memo.unmerged.items() if t != repo.tip("feature/a")}

    repo.git("update-ref", "refs/heads/latest", repo.git("rev-parse", "latest~5"))  # rewound by an admin
    third = SourceRepo(repo.path).branch_facts(BRANCHES, "latest", second.memo)
    assert third.merged == set() == git_merged(repo)
    assert third.memo is not None and set(third.memo.unmerged) == {repo.tip(b) for b in BRANCHES}
    assert third.memo.unmerged[repo.tip("feature/b")] == set(), "no longer known to be latest's: not carried"


@pytest.mark.parametrize("checks", [gitrepo.MEMO_ANCESTRY_CHECKS, 0])
def test_a_known_branch_merged_through_a_branch_the_memo_never_saw_is_found(
    repo: GitRepo, checks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """x forks from an older commit of latest, takes in b, and is merged: the walk stops where x forked (an
    ancestry check), finds b through it; with no checks allowed the sweep asks afresh. Both: git's answer."""
    monkeypatch.setattr(gitrepo, "MEMO_ANCESTRY_CHECKS", checks)
    older = repo.tip("latest")
    for _ in range(3):
        repo.checkout("latest")
        repo.git("commit", "-q", "--allow-empty", "-m", "latest before the first sweep")
    repo.checkout("master")
    first = SourceRepo(repo.path).branch_facts(BRANCHES, "latest")
    repo.git("branch", "feature/x", older)
    repo.merge("feature/b", "feature/x")
    repo.merge("feature/x", "latest")
    repo.checkout("master")
    walked: list[int] = []  # how many tips the walk of old (rev-list <tips> --not latest) was asked about
    full_walk = SourceRepo._not_reachable

    def counted(self: SourceRepo, tips: set[Oid], targets: list[Oid]) -> dict[Oid, frozenset[Oid]]:
        walked.append(len(tips))
        return full_walk(self, tips, targets)

    monkeypatch.setattr(SourceRepo, "_not_reachable", counted)
    second = SourceRepo(repo.path).branch_facts(BRANCHES, "latest", first.memo)
    assert second.merged == {"feature/b", "feature/c"} == git_merged(repo)
    assert walked == ([1] if checks else [4]), "the memo decides a, b and d (c is asked); without checks all four"


def test_a_forged_memo_keeps_a_merged_branch_and_never_removes_an_unmerged_one(repo: GitRepo) -> None:
    everything_unmerged = MergeMemo(frozenset({repo.tip("latest")}), {repo.tip(b): frozenset() for b in BRANCHES})
    facts = SourceRepo(repo.path).branch_facts(BRANCHES, "latest", everything_unmerged)
    assert facts.merged == set(), "the memo was used: c, merged, is kept (until its TTL)"
    bogus_latest = MergeMemo(frozenset({"0" * 40}), {repo.tip(b): frozenset() for b in BRANCHES})
    assert SourceRepo(repo.path).branch_facts(BRANCHES, "latest", bogus_latest).merged == {"feature/c"}, (
        "a memo naming a commit this clone does not hold is not used"
    )
    # a memo can claim nothing "merged": every merged answer comes from a walk of this clone
    initial = MergeMemo(frozenset({repo.git("rev-list", "--max-parents=0", "latest")}), {})
    assert SourceRepo(repo.path).branch_facts(BRANCHES, "latest", initial).merged == {"feature/c"}
    # a frontier naming the branch's own tip hides the path to it: a, merged since, is kept, never removed
    first = SourceRepo(repo.path).branch_facts(BRANCHES, "latest")
    assert first.memo is not None
    a = repo.tip("feature/a")
    hiding = MergeMemo(first.memo.targets, {**first.memo.unmerged, a: frozenset({a})})
    repo.merge("feature/a", "latest")
    assert SourceRepo(repo.path).branch_facts(BRANCHES, "latest", hiding).merged == {"feature/c"}


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({"version": 2, "apps": {}}),
        json.dumps({"version": 1, "apps": {"web": {"targets": ["abc"], "unmerged": {}}}}),
        json.dumps({"version": 1, "apps": {"web": {"targets": ["a" * 40], "unmerged": {"A" * 40: []}}}}),
        json.dumps({"version": 1, "apps": {"web": {"targets": ["a" * 40], "unmerged": {"a" * 40: ["b" * 39]}}}}),
        json.dumps({"version": 1, "apps": {"web": {"targets": ["a" * 40], "unmerged": {"a" * 40: ["b" * 40] * 65}}}}),
        json.dumps({"version": 1, "apps": {"web": {"targets": ["a" * 40], "unmerged": ["a" * 40]}}}),
        json.dumps({"version": 1, "apps": {"web": {"targets": "a" * 40, "unmerged": {}}}}),
        json.dumps({"version": 1, "apps": {"web": {"unmerged": {}}}}),
        json.dumps({"version": 1, "apps": ["web"]}),
    ],
)
def test_a_broken_memo_is_dropped_whole_with_a_line_saying_so(tmp_path: Path, text: str) -> None:
    path = tmp_path / "memo.json"
    path.write_text(text, encoding="utf-8")
    said: list[str] = []
    assert load_memos(path, said.append) == {}
    assert len(said) == 1 and said[0].startswith(f"sweep memo {path} ignored (")


def test_the_sweep_writes_its_memo_and_the_next_sweep_reads_it(
    project: FakeProject,  # noqa: F811
    repo: GitRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    memo = tmp_path / "cache" / "memo.json"
    for branch in ("feature/a", "feature/b"):
        assert deploy(project, repo, branch, repo.tip(branch)) == 0
    assert cli(project, "sweep", "--repo", f"web={repo.path}", "--memo", str(memo), "--dry-run") == 0
    assert not memo.exists(), "a dry run writes nothing"
    assert cli(project, "sweep", "--repo", f"web={repo.path}", "--memo", str(memo)) == 0
    saved = load_memos(memo, lambda line: pytest.fail(line))
    assert set(saved["web"].unmerged) == {repo.tip("feature/a"), repo.tip("feature/b")}
    assert len(live(project)) == 2

    repo.merge("feature/b", "latest")
    assert cli(project, "sweep", "--repo", f"web={repo.path}", "--memo", str(memo)) == 0
    assert "merged into latest" in capsys.readouterr().out and len(live(project)) == 1
    assert load_memos(memo, lambda line: pytest.fail(line))["web"].targets == {repo.tip("latest")}
    save_memos(memo, {})  # an empty memo is a valid one: nothing known
    assert load_memos(memo, lambda line: pytest.fail(line)) == {}


def sweep_clone_command() -> list[str]:
    """The clone command of ci/sweep.sh, as the job runs it."""
    script = (Path(__file__).resolve().parent.parent / "ci" / "sweep.sh").read_text(encoding="utf-8")
    (line,) = [text for text in script.splitlines() if text.startswith("clone=(")]
    return shlex.split(line.removeprefix("clone=(").removesuffix(")"))


def test_the_sweeps_treeless_clone_holds_no_tree_and_gives_the_full_clones_answer(
    repo: GitRepo, tmp_path: Path
) -> None:
    """The job's own clone command (ci/sweep.sh) over file://, whose upload-pack filters as GitLab's does."""
    repo.git("config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "treeless"
    subprocess.run(
        [*sweep_clone_command(), f"file://{repo.path}", str(clone)], check=True, env={**os.environ, **GIT_ENV}
    )
    tree = repo.git("rev-parse", "latest^{tree}")
    assert Repository(str(clone)).get(tree) is None, "the trees stayed on the server"
    full = SourceRepo(repo.path).branch_facts([*BRANCHES, "gone"], "latest")
    treeless = SourceRepo(clone).branch_facts([*BRANCHES, "gone"], "latest")
    assert treeless.merged == full.merged == git_merged(repo) == {"feature/c"}
    assert treeless.existing == full.existing and not treeless.uncertain
    assert treeless.memo == full.memo
