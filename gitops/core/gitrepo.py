"""Facts about an app's source repository, read with pygit2 from a local clone.

Works on a CI clone (detached HEAD, only remote-tracking branches ``origin/*``) and on a
developer's clone (local branches). A branch exists if either ref exists; a commit is on a
branch if it is reachable from either tip.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitops.core.errors import CannotTellError, ConfigError, listing

LOCAL_PREFIX = "refs/heads/"
DEEPEN = "fetch the whole history: GIT_DEPTH: 0 in the job's variables, or git fetch --unshallow in the clone"
# a memo older than this many commits of the target is not worth its walk: the sweep asks afresh
MEMO_WALK_LIMIT = 20_000


@dataclass(frozen=True)
class MergeMemo:
    """What one sweep learnt, for the next: the target's tips then, and the asked tips not merged into it.

    The next sweep walks only what the target gained since (``rev-list <target now> --not <target then>``):
    a tip not reachable from the target then is reachable now exactly when it is among those commits. A
    memo is a hint, never trusted to remove: a tip is only ever called merged when a walk found it, so a
    wrong or forged memo can keep a merged branch's preview (until its TTL), never remove a live one.
    """

    targets: frozenset[str]
    unmerged: frozenset[str]


@dataclass(frozen=True)
class BranchFacts:
    """What pruning needs to know about some branches of one repository (those asked about)."""

    existing: frozenset[str]
    merged: frozenset[str]
    # "cannot tell": unmerged in a shallow clone, or absent from a clone that did not fetch every branch.
    # Their previews are kept (never a wrong removal); the TTL still applies.
    uncertain: frozenset[str] = frozenset()
    memo: MergeMemo | None = None  # for the next sweep of this repository (None: nothing to remember)

    def note(self, app: str) -> str | None:
        if not self.uncertain:
            return None
        return (
            f"{app}: the clone cannot tell whether {listing(self.uncertain)} were merged into latest or deleted "
            f"(shallow, or not every branch fetched); their previews are kept until their TTL ({DEEPEN}, "
            "and git fetch origin '+refs/heads/*:refs/remotes/origin/*')"
        )


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
        self._remote = remote
        self._remote_prefix = f"refs/remotes/{remote}/"

    def sees_every_branch(self) -> bool:
        """Whether a branch missing here is gone: a local repository, a bare clone (it copied every branch),
        or a clone fetching ``refs/heads/*``. GitLab CI's clones fetch only the pipeline's own branch."""
        try:
            origin = self._repo.remotes[self._remote]
        except KeyError:
            return True
        specs = list(origin.fetch_refspecs)
        return not specs or any(spec.lstrip("+").startswith("refs/heads/*:") for spec in specs)

    @property
    def is_shallow(self) -> bool:
        """Fetched with a depth: a commit it cannot reach may still be an ancestor."""
        return bool(self._repo.is_shallow)

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
        """True when ``sha`` contains ``ancestor`` (is it, or a descendant of it); False only when the clone
        can tell. A commit it does not hold, or a "no" from a shallow clone, raises CannotTellError."""
        if sha == ancestor:
            return True
        for commit in (sha, ancestor):
            if not self.has_commit(commit):
                why = "is shallow and does not hold" if self.is_shallow else "does not hold"
                raise CannotTellError(
                    f"refused: cannot tell whether {sha[:12]} contains {ancestor[:12]}: the clone {self.path} {why} "
                    f"commit {commit[:12]}; {DEEPEN}"
                )
        if self._repo.descendant_of(pygit2.Oid(hex=sha), pygit2.Oid(hex=ancestor)):
            return True
        if self.is_shallow:
            raise CannotTellError(
                f"refused: cannot tell whether {sha[:12]} contains {ancestor[:12]}: the clone {self.path} is shallow, "
                f"and the history that would link them may be cut off; {DEEPEN}"
            )
        return False

    def branch_facts(self, branches: Iterable[str], target: str, memo: MergeMemo | None = None) -> BranchFacts:
        """Which of ``branches`` exist and which are merged into ``target`` (all tips reachable from it).

        One libgit2 walk (``git rev-list <tips> --not <target>``): a tip is merged when the walk leaves
        it out. The walk stops once everything left is reachable from ``target``, so its cost follows how
        far back the asked branches fork, not the number of branches or commits; it runs in C. With the
        ``memo`` of the previous sweep, the tips it found unmerged need only the commits ``target`` gained
        since (``MergeMemo``). Same answer as ``git branch --merged`` (tested against it;
        benchmarks/bench_sweep_decision.py). In a shallow clone an unmerged answer is "cannot tell"
        (``uncertain``): the preview is kept, never removed wrongly, and nothing is remembered.
        """
        tips = {branch: self.tips_of(branch) for branch in set(branches)}
        existing = {branch for branch, oids in tips.items() if oids}
        asked = {oid for branch in existing if branch != target for oid in tips[branch]}
        targets = self.tips_of(target)
        shallow = self.is_shallow
        unmerged = self._unmerged(asked, targets, None if shallow else memo)
        merged = {b for b in existing if b != target and not any(oid in unmerged for oid in tips[b])}
        uncertain = existing - merged - {target} if shallow else set()
        if not self.sees_every_branch():  # absent may only mean "not fetched"
            uncertain |= set(tips) - existing
        remembered = None
        if targets and not shallow:
            remembered = MergeMemo(frozenset(str(t) for t in targets), frozenset(str(t) for t in unmerged))
        return BranchFacts(
            existing=frozenset(existing), merged=frozenset(merged), uncertain=frozenset(uncertain), memo=remembered
        )

    def _unmerged(self, tips: set[pygit2.Oid], targets: list[pygit2.Oid], memo: MergeMemo | None) -> set[pygit2.Oid]:
        """Those of ``tips`` not reachable from ``targets``: the ones the memo knew as unmerged by the commits
        the targets gained since, the others by a walk of their own."""
        known = {t for t in tips if memo is not None and str(t) in memo.unmerged}
        gained = self._gained(targets, memo) if known else None
        if gained is None:
            return self._not_reachable(tips, targets)
        return {t for t in known if t not in gained} | self._not_reachable(tips - known, targets)

    def _gained(self, targets: list[pygit2.Oid], memo: MergeMemo | None) -> set[pygit2.Oid] | None:
        """``rev-list <targets> --not <memo's targets>``; None where the memo's targets are not commits of
        this clone or the targets gained more than MEMO_WALK_LIMIT commits since."""
        if memo is None or not targets or not memo.targets:
            return None
        then = []
        for sha in memo.targets:
            if not self.has_commit(sha):
                return None
            then.append(pygit2.Oid(hex=sha))
        walker = self._repo.walk(None)
        for oid in targets:
            walker.push(oid)
        for oid in then:
            walker.hide(oid)
        gained = set()
        for commit in walker:
            gained.add(commit.id)
            if len(gained) > MEMO_WALK_LIMIT:
                return None
        return gained

    def _not_reachable(self, tips: set[pygit2.Oid], targets: list[pygit2.Oid]) -> set[pygit2.Oid]:
        """Those of ``tips`` not reachable from any of ``targets``.

        Measured on 5,000 branches and 47,501 commits with merges spread over the history
        (benchmarks/bench_sweep_decision.py): a newest-first walk in Python read every commit newer than
        the oldest asked tip; this walk stops at their fork points and reads them in C.
        """
        if not tips or not targets:
            return set(tips)
        walker = self._repo.walk(None)
        for oid in tips:
            walker.push(oid)
        for oid in targets:
            walker.hide(oid)
        return {commit.id for commit in walker} & tips

    def _reachable(self, oid: pygit2.Oid, tips: list[pygit2.Oid]) -> bool:
        return any(tip == oid or self._repo.descendant_of(tip, oid) for tip in tips)
