"""Release notes: the commits and merge requests a staging/prod release brings since that app's previous
release in the environment, read from the app's clone (the report job has it, with full history)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pygit2

MAX_COMMITS = 200
# GitLab's default merge commit message ends with "See merge request group/project!12"
MERGE_REQUEST = re.compile(r"^See merge request (?P<project>\S+)!(?P<iid>\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class ReleaseNotes:
    commits: tuple[tuple[str, str], ...] = ()  # (sha, first line), newest first
    merge_requests: tuple[int, ...] = ()


def release_notes(repo_path: Path, commit: str, previous: str, project: str) -> ReleaseNotes:
    """Commits reachable from ``commit`` but not from ``previous``, and the MRs of ``project`` they merged.
    An unreadable clone or unknown commit gives no notes (the report still goes out)."""
    try:
        repo = pygit2.Repository(str(repo_path))
        walker = repo.walk(pygit2.Oid(hex=commit), pygit2.enums.SortMode.TOPOLOGICAL)
        walker.hide(pygit2.Oid(hex=previous))
    except (pygit2.GitError, KeyError, ValueError):
        return ReleaseNotes()
    commits: list[tuple[str, str]] = []
    iids: set[int] = set()
    for found in walker:
        if len(commits) >= MAX_COMMITS:
            break
        message = found.message or ""
        commits.append((str(found.id), message.splitlines()[0] if message else ""))
        iids |= {int(m["iid"]) for m in MERGE_REQUEST.finditer(message) if m["project"] == project}
    return ReleaseNotes(tuple(commits), tuple(sorted(iids)))
