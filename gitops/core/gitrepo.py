"""Facts about an app's source repository, read with pygit2 from a local clone.

Works on a CI clone (detached HEAD, only remote-tracking branches ``origin/*``) and on a
developer's clone (local branches). A branch exists if either ref exists; a commit is on a
branch if it is reachable from either tip.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitops.core.errors import ConfigError

LOCAL_PREFIX = "refs/heads/"
CLOCK_SKEW = 24 * 3600  # seconds a commit may be dated before its parent and still be found


@dataclass(frozen=True)
class BranchFacts:
    """What pruning needs to know about some branches of one repository (those asked about)."""

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
        return self._reachable(pygit2.Oid(hex=sha), self.tips_of(branch))

    def descends_from(self, sha: str, ancestor: str) -> bool:
        """True when ``sha`` contains ``ancestor`` (is it, or a descendant of it)."""
        if sha == ancestor:
            return True
        if not (self.has_commit(sha) and self.has_commit(ancestor)):
            return False
        return bool(self._repo.descendant_of(pygit2.Oid(hex=sha), pygit2.Oid(hex=ancestor)))

    def branch_facts(self, branches: Iterable[str], target: str) -> BranchFacts:
        """Which of ``branches`` exist and which are merged into ``target`` (all tips reachable from it).

        Only the named branches (the live previews') are looked for, in one newest-first walk of
        ``target`` that stops as soon as every tip is found or the walk is older than the oldest tip
        (less ``CLOCK_SKEW``). Its cost follows the live previews' age, not the repository's size. Clock
        skew beyond that can only make a merged branch look unmerged: its preview stays until its TTL.
        Same rule as ``git branch --merged`` (tested against it).
        """
        tips = {branch: self.tips_of(branch) for branch in set(branches)}
        existing = {branch for branch, oids in tips.items() if oids}
        pending = {oid for branch in existing if branch != target for oid in tips[branch]}
        found = self._find_in_history(self.tips_of(target), pending)
        merged = {b for b in existing if b != target and all(oid in found for oid in tips[b])}
        return BranchFacts(existing=frozenset(existing), merged=frozenset(merged))

    def _find_in_history(self, starts: list[pygit2.Oid], wanted: set[pygit2.Oid]) -> set[pygit2.Oid]:
        """Newest-first over the commits reachable from ``starts``, no older than the oldest wanted tip.

        Measured on 5,000 branches and 47,501 commits (benchmarks/bench_sweep_decision.py): libgit2's
        ``descendant_of`` paints down to a merge base for every branch, and its time-sorted revwalk prepares
        the whole history before the first commit; this bounded frontier visits only the recent commits.
        """
        if not starts or not wanted:
            return set()
        oldest = min(self._commit(oid).commit_time for oid in wanted) - CLOCK_SKEW
        queue = [(-self._commit(oid).commit_time, str(oid), oid) for oid in set(starts)]
        heapq.heapify(queue)
        seen, found = set(starts), set[pygit2.Oid]()
        while queue and len(found) < len(wanted):
            negative_time, _, oid = heapq.heappop(queue)
            if oid in wanted:
                found.add(oid)
            elif -negative_time < oldest:
                break
            for parent in self._commit(oid).parent_ids:
                if parent not in seen:
                    seen.add(parent)
                    heapq.heappush(queue, (-self._commit(parent).commit_time, str(parent), parent))
        return found

    def _commit(self, oid: pygit2.Oid) -> pygit2.Commit:
        commit = self._repo[oid]
        assert isinstance(commit, pygit2.Commit)
        return commit

    def _reachable(self, oid: pygit2.Oid, tips: list[pygit2.Oid]) -> bool:
        return any(tip == oid or self._repo.descendant_of(tip, oid) for tip in tips)
