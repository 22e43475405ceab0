"""Every git question tells "no" apart from "the clone cannot answer" (#17, item 1).

Real repositories and real shallow clones (``git clone --depth N file://...``, as a CI job with
``GIT_DEPTH: N`` gets them), and a clone fetching one branch only (as GitLab CI's clones do). A "cannot
tell" refuses with what to do (``GIT_DEPTH: 0``, ``git fetch --unshallow``) and never as an outdated
pipeline or a bad fix; where a wrong "no" would delete something (the sweep) it keeps the preview.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gitops.core.gitrepo import SourceRepo
from gitops.core.preview_policy import LivePreview, prune
from gitops.notify.notes import release_notes
from gitops.offline.engine import ProgramRefused
from tests.gitutil import GIT_ENV, GitRepo
from tests.harness import run

NOW = datetime(2026, 3, 4, 12)


def clone(source: GitRepo, dest: Path, *args: str) -> Path:
    """``git clone`` over file:// (a local path would ignore --depth)."""
    subprocess.run(
        ["git", "clone", "-q", *args, f"file://{source.path}", str(dest)],
        check=True,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
    )
    return dest


@pytest.fixture()
def master(tmp_path: Path) -> tuple[GitRepo, list[str]]:
    """master: ms1 - ms2 - ms3 - ms4 - ms5."""
    repo = GitRepo(tmp_path / "web")
    return repo, [repo.head(), *(repo.commit(f"ms{i}") for i in range(2, 6))]


@pytest.mark.parametrize("depth", [1, 2])
def test_a_forward_deploy_from_a_shallow_clone_is_cannot_tell_not_outdated(
    master: tuple[GitRepo, list[str]], tmp_path: Path, depth: int
) -> None:
    repo, (_, _, ms3, ms4, ms5) = master
    live = run("prod", repo=repo.path, app="web", commit=ms3).outputs
    shallow = clone(repo, tmp_path / f"depth{depth}", "--depth", str(depth))  # holds ms5 (and ms4 at depth 2)
    for commit in (ms5, ms4) if depth == 2 else (ms5,):
        with pytest.raises(ProgramRefused) as err:
            run("prod", repo=shallow, previous=live, app="web", commit=commit)
        message = str(err.value)
        assert "cannot tell" in message and "GIT_DEPTH: 0" in message and "--unshallow" in message
        assert "outdated" not in message and "rollback" not in message
        assert err.value.registered == []
    full = clone(repo, tmp_path / "full")
    assert run("prod", repo=full, previous=live, app="web", commit=ms5).outputs["releases"]["web"]["commit"] == ms5


def test_a_real_no_from_a_full_clone_is_still_an_outdated_pipeline(
    master: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, (_, ms2, ms3, _, _) = master
    live = run("prod", repo=repo.path, app="web", commit=ms3).outputs
    with pytest.raises(ProgramRefused, match="outdated pipeline"):
        run("prod", repo=clone(repo, tmp_path / "full"), previous=live, app="web", commit=ms2)


def test_a_fix_checked_in_a_depth_1_clone_is_cannot_tell_not_a_bad_fix(
    master: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    """ms4 was rolled back to ms3 (held); ms5 descends from both, but a depth-1 clone holds neither."""
    repo, (_, _, ms3, ms4, ms5) = master
    live = run("prod", repo=repo.path, app="web", commit=ms4).outputs
    held = run("prod", repo=repo.path, previous=live, app="web", action="rollback", commit=ms3, reason="broken").outputs
    assert held["holds"]["web"]["commits"] == [ms4]
    with pytest.raises(ProgramRefused) as err:
        run("prod", repo=clone(repo, tmp_path / "depth1", "--depth", "1"), previous=held, app="web", commit=ms5)
    assert "cannot tell" in str(err.value) and "GIT_DEPTH: 0" in str(err.value)
    assert "rolled back from" not in str(err.value)
    fixed = run("prod", repo=clone(repo, tmp_path / "full"), previous=held, app="web", commit=ms5).outputs
    assert fixed["releases"]["web"]["commit"] == ms5 and "web" not in fixed["holds"]


def test_the_baseline_check_in_a_shallow_clone_says_cannot_tell(
    master: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    """The commit is on master, but a depth-1 clone of latest (one commit behind) cannot show it."""
    repo, (_, _, _, ms4, _) = master
    repo.git("branch", "latest", ms4)
    branch_only = clone(repo, tmp_path / "latest1", "--depth", "1", "--branch", "latest")
    with pytest.raises(ProgramRefused) as err:
        run("staging", repo=branch_only, app="web", branch="latest", commit=repo.head())
    assert "shallow clone" in str(err.value) and "GIT_DEPTH: 0" in str(err.value)


def live_preview(branch: str) -> LivePreview:
    return LivePreview(f"web-{branch}", NOW - timedelta(hours=1), app="web", branch=branch)


def test_the_sweep_keeps_previews_a_shallow_clone_cannot_judge(tmp_path: Path) -> None:
    """feature/old was merged into latest long ago, beyond the clone's depth: "cannot tell", kept."""
    repo = GitRepo(tmp_path / "web")
    repo.checkout("latest", create_from="master")
    repo.checkout("master")
    repo.branch_with_commit("feature/old", "latest")
    repo.merge("feature/old", "latest")
    repo.checkout("latest")
    for i in range(5):
        repo.commit(f"later {i}")
    repo.checkout("master")
    branches = ["feature/old"]
    full = SourceRepo(clone(repo, tmp_path / "full", "--bare")).branch_facts(branches, "latest")
    assert full.merged == {"feature/old"} and not full.uncertain
    shallow = SourceRepo(clone(repo, tmp_path / "shallow", "--bare", "--depth", "2", "--no-single-branch"))
    facts = shallow.branch_facts(branches, "latest")
    assert facts.merged == set() and facts.uncertain == {"feature/old"}
    assert prune([live_preview("feature/old")], now=NOW, ttl_hours=72, max_previews=10, facts={"web": facts}) == []
    note = facts.note("web")
    assert note is not None and "feature/old" in note and "kept" in note and "GIT_DEPTH: 0" in note
    removed = prune([live_preview("feature/old")], now=NOW, ttl_hours=72, max_previews=10, facts={"web": full})
    assert [r.reason for r in removed] == ["merged into latest"]


def test_the_sweep_keeps_previews_whose_branch_a_one_branch_clone_did_not_fetch(tmp_path: Path) -> None:
    """GitLab CI clones fetch only the pipeline's branch: an absent branch there is not a deleted one."""
    repo = GitRepo(tmp_path / "web")
    repo.branch_with_commit("feature/elsewhere", "master")
    repo.checkout("latest", create_from="master")
    repo.checkout("master")
    one_branch = SourceRepo(clone(repo, tmp_path / "one", "--single-branch", "--branch", "latest"))
    assert not one_branch.sees_every_branch()
    facts = one_branch.branch_facts(["feature/elsewhere", "feature/gone"], "latest")
    assert facts.existing == set() and facts.uncertain == {"feature/elsewhere", "feature/gone"}
    previews = [live_preview("feature/elsewhere"), live_preview("feature/gone")]
    assert prune(previews, now=NOW, ttl_hours=72, max_previews=10, facts={"web": facts}) == []
    every = SourceRepo(clone(repo, tmp_path / "every"))
    assert every.sees_every_branch()
    removed = prune(
        previews,
        now=NOW,
        ttl_hours=72,
        max_previews=10,
        facts={"web": every.branch_facts(["feature/elsewhere", "feature/gone"], "latest")},
    )
    assert [(r.preview, r.reason) for r in removed] == [("web-feature/gone", "branch deleted")]


def test_release_notes_from_a_shallow_clone_say_they_cannot_tell(
    master: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, (_, ms2, ms3, ms4, ms5) = master
    full = release_notes(clone(repo, tmp_path / "full"), ms5, ms3, "shop/web")
    assert [c for c, _ in full.commits] == [ms5, ms4] and not full.unknown
    missing = release_notes(clone(repo, tmp_path / "depth2", "--depth", "2"), ms5, ms3, "shop/web")
    assert missing.commits == () and "does not hold" in missing.unknown and "GIT_DEPTH: 0" in missing.unknown
    # both commits held (latest's tip is ms2, fetched at depth 1), but the history between them is cut
    repo.git("branch", "latest", ms2)
    cut = clone(repo, tmp_path / "cut", "--depth", "1", "--no-single-branch")
    notes = release_notes(cut, ms5, ms2, "shop/web")
    assert notes.commits == () and "history ends before" in notes.unknown


def test_the_report_says_its_release_notes_cannot_tell(master: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    from gitops.notify.render import email_text
    from gitops.notify.report import report_from_ci

    repo, (_, _, ms3, _, ms5) = master
    env = {
        "GITOPS_APP": "web", "CI_COMMIT_SHA": ms5, "CI_COMMIT_REF_NAME": "master", "CI_PROJECT_PATH": "shop/web",
        "PREVIOUS_COMMIT": ms3, "DEPLOY_RESULT": "success",
        "CI_PROJECT_DIR": str(clone(repo, tmp_path / "depth2", "--depth", "2")),
    }  # fmt: skip
    text = email_text(report_from_ci(env, None))
    assert "changes since the previous release: cannot tell" in text and "GIT_DEPTH: 0" in text


def test_an_engine_in_a_shallow_clone_of_the_deploy_repo_cannot_tell_its_sequence(
    master: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    """Its commit count would be too small, and an older-looking engine would be refused for the wrong reason."""
    from gitops.core.engine import current_engine
    from gitops.core.errors import CannotTellError

    repo, _ = master
    assert current_engine(clone(repo, tmp_path / "full"), {}).sequence == 5  # type: ignore[union-attr]
    with pytest.raises(CannotTellError, match=r"shallow.*GIT_DEPTH: 0"):
        current_engine(clone(repo, tmp_path / "depth2", "--depth", "2"), {})
