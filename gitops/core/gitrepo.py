"""Facts about an app's source repository, read with pygit2 from a local clone.

Works on a CI clone (detached HEAD, only remote-tracking branches ``origin/*``) and on a
developer's clone (local branches). A branch exists if either ref exists; a commit is on a
branch if it is reachable from either tip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitops.core.errors import CannotTellError, ConfigError, listing

LOCAL_PREFIX = "refs/heads/"
DEEPEN = "fetch the whole history: GIT_DEPTH: 0 in the job's variables, or git fetch --unshallow in the clone"
# what the sweep's memo may cost before the sweep asks afresh: commits read in Python (about 7 µs each) and
# libgit2 ancestry checks (from under a millisecond near the tip to tens of ms for an old fork point)
MEMO_WALK_LIMIT = 5_000
MEMO_ANCESTRY_CHECKS = 16


@dataclass(frozen=True)
class MergeMemo:
    """What one sweep learnt, for the next: the target's tips then, and each asked tip not merged into it with
    its frontier (the target's commits where that tip's own history meets it: its fork points).

    The next sweep walks only what the target gained since (``rev-list <target now> --not <target then>
    <frontiers>``): a tip not reachable from the target then is reachable now exactly when it is among those
    commits, and hiding the frontiers (commits of the target then) stops that walk at the fork points even
    where the target gained the merge of an old branch. A memo is a hint, never trusted to remove: a tip is
    only ever called merged when a walk found it, and a wrong memo can only hide more, so a wrong or forged
    memo can keep a merged branch's preview (until its TTL), never remove a live one.
    """

    targets: frozenset[str]
    unmerged: Mapping[str, frozenset[str]]  # tip -> its frontier


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

    def _commit(self, oid: pygit2.Oid) -> pygit2.Commit:
        commit = self._repo[oid]
        if not isinstance(commit, pygit2.Commit):
            raise TypeError(f"{oid} is not a commit")
        return commit

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
            frontiers = {str(t): frozenset(str(f) for f in fs) for t, fs in unmerged.items()}
            remembered = MergeMemo(frozenset(str(t) for t in targets), frontiers)
        return BranchFacts(
            existing=frozenset(existing), merged=frozenset(merged), uncertain=frozenset(uncertain), memo=remembered
        )

    def _unmerged(
        self, tips: set[pygit2.Oid], targets: list[pygit2.Oid], memo: MergeMemo | None
    ) -> dict[pygit2.Oid, frozenset[pygit2.Oid]]:
        """Those of ``tips`` not reachable from ``targets``, each with its frontier: the ones the memo knew as
        unmerged by the commits the targets gained since, the others by a walk of their own."""
        known = {t for t in tips if memo is not None and str(t) in memo.unmerged}
        walk = self._gained(targets, memo, known) if memo is not None and known else None
        if walk is None:
            return self._not_reachable(tips, targets)
        gained, fast_forward = walk
        assert memo is not None
        still = {
            t: frozenset(pygit2.Oid(hex=f) for f in memo.unmerged[str(t)]) if fast_forward else frozenset()
            for t in known
            if t not in gained
        }
        return still | self._not_reachable(tips - known, targets)

    def _gained(
        self, targets: list[pygit2.Oid], memo: MergeMemo, known: set[pygit2.Oid]
    ) -> tuple[set[pygit2.Oid], bool] | None:
        """What the targets reach short of the target then, and whether every memo target is still reachable
        from ``targets`` (then the known tips' frontiers stay the target's commits and are carried on). None
        where that takes more than MEMO_WALK_LIMIT commits or MEMO_ANCESTRY_CHECKS checks: the sweep asks
        afresh.

        A walk down from ``targets`` that stops at the target's tips then, at the known tips' frontiers, and
        at a commit no newer than those tips that libgit2 finds reachable from them (a fork point the memo did
        not know). It holds every commit the target gained and only commits it reaches now, so a known tip
        (not reachable from the target then) is in it exactly when it is reachable now. Unlike ``rev-list
        --not``, it does not paint the target's old history down to the oldest commit it meets (the date rule
        of git's and libgit2's walks): the merge of an old branch costs what it adds. A stop commit the memo
        names wrongly can only keep a tip unmerged."""
        then = [pygit2.Oid(hex=sha) for sha in sorted(memo.targets) if self.has_commit(sha)]
        if not targets or not then:
            return None
        stop = set(then) | {pygit2.Oid(hex=f) for t in known for f in memo.unmerged[str(t)] if self.has_commit(f)}
        newest = max(self._commit(t).commit_time for t in then)
        reached, met, checks = set(), set(), 0
        todo = list(dict.fromkeys(targets))
        while todo:
            oid = todo.pop()
            if oid in stop:
                met.add(oid)
                continue
            if oid in reached:
                continue
            commit = self._commit(oid)
            if oid not in known and commit.commit_time <= newest:  # perhaps history the target had then
                checks += 1
                if checks > MEMO_ANCESTRY_CHECKS:
                    return None
                if any(self._repo.descendant_of(t, oid) for t in then):
                    continue
            reached.add(oid)
            if len(reached) > MEMO_WALK_LIMIT:
                return None
            todo.extend(commit.parent_ids)
        return reached, len(then) == len(memo.targets) and set(then) <= met

    def _not_reachable(
        self, tips: set[pygit2.Oid], targets: list[pygit2.Oid]
    ) -> dict[pygit2.Oid, frozenset[pygit2.Oid]]:
        """Those of ``tips`` not reachable from any of ``targets``, each with its frontier: the parents of its
        own commits (those the walk yields from it) that the targets reach.

        Measured on 5,000 branches and 47,501 commits with merges spread over the history
        (benchmarks/bench_sweep_decision.py): a newest-first walk in Python read every commit newer than
        the oldest asked tip; this walk stops at their fork points and reads them in C.
        """
        if not tips or not targets:
            return {t: frozenset() for t in tips}
        walker = self._repo.walk(None)
        for oid in tips:
            walker.push(oid)
        for oid in targets:
            walker.hide(oid)
        own = {commit.id: commit.parent_ids for commit in walker}
        return {t: self._frontier(t, own) for t in tips if t in own}

    @staticmethod
    def _frontier(tip: pygit2.Oid, own: Mapping[pygit2.Oid, list[pygit2.Oid]]) -> frozenset[pygit2.Oid]:
        seen, todo, frontier = {tip}, [tip], set()
        while todo:
            for parent in own[todo.pop()]:
                if parent not in own:
                    frontier.add(parent)
                elif parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return frozenset(frontier)

    def _reachable(self, oid: pygit2.Oid, tips: list[pygit2.Oid]) -> bool:
        return any(tip == oid or self._repo.descendant_of(tip, oid) for tip in tips)


def clone_argument(text: str) -> tuple[str, str]:
    """``--repo <app>=<path of its clone>`` (the sweep and the dashboard take one per app): (app, path)."""
    app, sep, path = text.partition("=")
    if not sep or not app or not path:
        raise ConfigError(f"--repo {text[:80]!r} must be <app>=<path of its clone>")
    return app, str(Path(path).resolve())
