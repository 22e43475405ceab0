"""Facts about an app's source repository, read with pygit2 from a local clone.

Works on a CI clone (detached HEAD, only remote-tracking branches ``origin/*``) and on a
developer's clone (local branches). A branch exists if either ref exists; a commit is on a
branch if it is reachable from either tip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitops.errors import ConfigError

LOCAL_PREFIX = "refs/heads/"


@dataclass(frozen=True)
class BranchFacts:
    """What pruning needs to know about one repository's branches."""

    existing: frozenset[str]
    merged: frozenset[str]


class SourceRepo:
    """Read-only view of one clone."""

    def __init__(self, path: str | Path, remote: str = "origin") -> None:
        try:
            self._repo = pygit2.Repository(str(path))
        except (pygit2.GitError, KeyError) as exc:
            raise ConfigError(
                f"source repository {path} cannot be opened ({exc}); set gitops:sourceRepo or "
                "CI_PROJECT_DIR to a git clone of the app"
            ) from None
        self.path = str(path)
        self._remote_prefix = f"refs/remotes/{remote}/"

    def branch_tips(self) -> dict[str, list[pygit2.Oid]]:
        """Every branch name with its local and remote-tracking tips (one pass over refs)."""
        tips: dict[str, list[pygit2.Oid]] = {}
        for ref_name in self._repo.references:
            if ref_name.startswith(LOCAL_PREFIX):
                name = ref_name[len(LOCAL_PREFIX) :]
            elif ref_name.startswith(self._remote_prefix):
                name = ref_name[len(self._remote_prefix) :]
                if name == "HEAD":
                    continue
            else:
                continue
            target = self._repo.references[ref_name].resolve().target
            if isinstance(target, pygit2.Oid):
                tips.setdefault(name, []).append(target)
        return tips

    def tips_of(self, branch: str) -> list[pygit2.Oid]:
        found = []
        for ref_name in (LOCAL_PREFIX + branch, self._remote_prefix + branch):
            ref = self._repo.references.get(ref_name)
            if ref is not None:
                target = ref.resolve().target
                if isinstance(target, pygit2.Oid):
                    found.append(target)
        return found

    def has_commit(self, sha: str) -> bool:
        try:
            obj = self._repo.get(sha)
        except ValueError:
            return False
        return isinstance(obj, pygit2.Commit)

    def is_on_branch(self, sha: str, branch: str) -> bool:
        """True when ``sha`` is the tip of ``branch`` or one of its ancestors."""
        oid = pygit2.Oid(hex=sha)
        return any(tip == oid or self._repo.descendant_of(tip, oid) for tip in self.tips_of(branch))

    def descends_from(self, sha: str, ancestor: str) -> bool:
        """True when ``sha`` contains ``ancestor`` (is it, or a descendant of it)."""
        if sha == ancestor:
            return True
        if not (self.has_commit(sha) and self.has_commit(ancestor)):
            return False
        return bool(self._repo.descendant_of(pygit2.Oid(hex=sha), pygit2.Oid(hex=ancestor)))

    def branch_facts(self, target: str) -> BranchFacts:
        """Which branches exist and which are merged into ``target``: one history walk in all.

        A branch is merged when all its tips are reachable from a tip of ``target``, the same
        rule as ``git branch --merged``.
        """
        tips = self.branch_tips()
        reachable: set[pygit2.Oid] = set()
        starts = tips.get(target, [])
        if starts:
            walker = self._repo.walk(starts[0], pygit2.enums.SortMode.NONE)
            for extra in starts[1:]:
                walker.push(extra)
            reachable.update(commit.id for commit in walker)
        merged = {name for name, oids in tips.items() if name != target and all(o in reachable for o in oids)}
        return BranchFacts(existing=frozenset(tips), merged=frozenset(merged))
