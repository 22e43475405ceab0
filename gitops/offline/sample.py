"""The built-in sample: a small git repository per catalog app, and one release per stack.

Used by ``python -m gitops sample`` so a newcomer sees all three stacks rendered offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pygit2

SIGNATURE = pygit2.Signature("Sample Dev", "dev@example.com", 1767225600, 0)  # fixed: same SHAs every run


@dataclass(frozen=True)
class SampleRepo:
    path: Path
    master: str
    latest: str
    feature_branch: str
    feature: str


def _commit(repo: pygit2.Repository, ref: str, parents: list[pygit2.Oid], message: str) -> pygit2.Oid:
    blob = repo.create_blob(message.encode())
    builder = repo.TreeBuilder()
    builder.insert("CHANGELOG", blob, pygit2.enums.FileMode.BLOB)
    return repo.create_commit(ref, SIGNATURE, SIGNATURE, message, builder.write(), parents)


def build_sample_repo(path: Path, app: str) -> SampleRepo:
    """master <- latest <- feature/<app>-checkout, each one commit ahead of the previous."""
    repo = pygit2.init_repository(str(path), initial_head="master")
    master = _commit(repo, "refs/heads/master", [], f"{app}: first release")
    latest = _commit(repo, "refs/heads/latest", [master], f"{app}: merged feature")
    branch = f"feature/{app}-checkout"
    feature = _commit(repo, f"refs/heads/{branch}", [latest], f"{app}: work in progress")
    return SampleRepo(path, str(master), str(latest), branch, str(feature))
