"""Release notes: the commits and merge requests a staging/prod release brings since that app's previous
release in the environment, read from the app's clone (the report job has it, with full history)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitops.core.gitrepo import DEEPEN

MAX_COMMITS = 200
# GitLab's default merge commit message ends with "See merge request group/project!12"
MERGE_REQUEST = re.compile(r"^See merge request (?P<project>\S+)!(?P<iid>\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class ReleaseNotes:
    commits: tuple[tuple[str, str], ...] = ()  # (sha, first line), newest first
    merge_requests: tuple[int, ...] = ()
    unknown: str = ""  # why the clone cannot tell what the release brings (then no commits are listed)


def release_notes(repo_path: Path, commit: str, previous: str, project: str) -> ReleaseNotes:
    """Commits reachable from ``commit`` but not from ``previous``, and the MRs of ``project`` they merged.
    A clone that cannot tell (shallow, or without one of the commits) gives none, and says why: a shallow
    walk would list commits the previous release already had. The report still goes out."""
    try:
        repo = pygit2.Repository(str(repo_path))
    except pygit2.GitError:
        return ReleaseNotes(unknown=f"{repo_path} is not a git clone")
    missing = [c for c in (commit, previous) if not _holds(repo, c)]
    if missing:
        why = "the shallow clone does not hold" if repo.is_shallow else "the clone does not hold"
        return ReleaseNotes(unknown=f"{why} {', '.join(c[:12] for c in missing)}; {DEEPEN}")
    walker = repo.walk(pygit2.Oid(hex=commit), pygit2.enums.SortMode.TOPOLOGICAL)
    walker.hide(pygit2.Oid(hex=previous))
    boundary = _shallow_boundary(Path(repo.path)) if repo.is_shallow else set()
    commits: list[tuple[str, str]] = []
    iids: set[int] = set()
    for found in walker:
        if str(found.id) in boundary:  # the walk ran into the cut: what lies beyond it is unknown
            return ReleaseNotes(unknown=f"the clone is shallow and its history ends before {previous[:12]}; {DEEPEN}")
        if len(commits) >= MAX_COMMITS:
            break
        message = found.message or ""
        commits.append((str(found.id), message.splitlines()[0] if message else ""))
        iids |= {int(m["iid"]) for m in MERGE_REQUEST.finditer(message) if m["project"] == project}
    return ReleaseNotes(tuple(commits), tuple(sorted(iids)))


def _holds(repo: pygit2.Repository, sha: str) -> bool:
    try:
        return isinstance(repo.get(sha), pygit2.Commit)
    except ValueError:
        return False


def _shallow_boundary(git_dir: Path) -> set[str]:
    """The commits a shallow clone holds without their parents (``.git/shallow``)."""
    try:
        return set((git_dir / "shallow").read_text(encoding="ascii").split())
    except OSError:
        return set()
