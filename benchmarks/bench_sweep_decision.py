"""Benchmark: the sweep's merged/deleted decision, against `git branch --merged`.

Run by hand: ``.venv/bin/python benchmarks/bench_sweep_decision.py [--branches 5000 --history 40000 --live 20]``.
Builds a repository with N feature branches (half merged into ``latest``) and a long ``latest`` (by
default 5,000 branches and about 47,500 commits) with git fast-import, branches forking and merging all
over the history, then times what the sweep does, ``SourceRepo.branch_facts(<live previews' branches>,
"latest")``, against ``git branch --merged latest``, and checks both agree on the live branches: once
with the newest branches live, once with live branches of every age (the worst case). Each case twice:
a first sweep (no memo), and the next one, with the memo of the one before: the previews the first
sweep found merged are gone, one preview of a new branch came, and latest gained ``--gain`` commits, among
them the merges of a live branch and of a branch opened since (what the hourly sweep meets).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitops.core.gitrepo import MergeMemo, SourceRepo

EPOCH = 1767225600
MERGE_AFTER = 50  # commits on latest between a branch's fork and its merge


def build(path: Path, branches: int, history: int) -> None:
    """A ``latest`` of ``history`` commits, one a minute, with ``branches`` feature branches spread over
    that time as in a real repository: each forks from ``latest`` as it was then, gets a commit, and the
    even ones are merged back a while later (``MERGE_AFTER`` commits on), so merges sit all over the
    history, not at the tip."""
    lines: list[str] = []
    mark = 0

    def commit(ref: str, parents: list[str], message: str) -> str:
        nonlocal mark
        mark += 1
        data = message.encode()
        ident = f"Bench <bench@example.com> {EPOCH + mark * 60} +0000"  # one commit a minute
        lines.append(f"commit {ref}\nmark :{mark}\ncommitter {ident}\ndata {len(data)}\n{message}")
        if parents:
            lines.append(f"from {parents[0]}")
            lines.extend(f"merge {p}" for p in parents[1:])
        lines.append(f"M 644 inline f\ndata {len(data)}\n{message}\n")
        return f":{mark}"

    tip = commit("refs/heads/latest", [], "root")
    forks_at: dict[int, list[int]] = {}
    for b in range(branches):
        forks_at.setdefault((b * history) // branches, []).append(b)
    merges_at: dict[int, list[tuple[int, str]]] = {}
    for i in range(history):
        tip = commit("refs/heads/latest", [tip], f"latest {i}")
        for b in forks_at.get(i, []):
            head = commit(f"refs/heads/feature/b{b}", [tip], f"branch {b}")
            if b % 2 == 0:
                merges_at.setdefault(min(i + MERGE_AFTER, history - 1), []).append((b, head))
        for b, head in merges_at.pop(i, []):
            tip = commit("refs/heads/latest", [tip, head], f"merge {b}")
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input="\n".join(lines).encode(), check=True)


def live_branches(branches: int, live: int, *, every_age: bool) -> list[str]:
    """The live previews' branches, half of them merged: the newest ones, or ones of every age."""
    if not every_age:
        return [f"feature/b{i}" for i in range(branches - live, branches)]
    step = max(branches // live, 1)
    return [f"feature/b{i + (i // step) % 2}" for i in range(0, branches - 1, step)][:live]


def measure(path: Path, live: list[str], repeat: int, memo: MergeMemo | None = None) -> float:
    """Prints both timings for one set of live branches; returns the ratio of the medians."""
    ours, theirs = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        facts = SourceRepo(path).branch_facts(live, "latest", memo)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = subprocess.run(
            ["git", "branch", "--merged", "latest", "--format=%(refname:short)"],
            cwd=path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        theirs.append(time.perf_counter() - t0)
    merged_git = set(out.split()) - {"latest"}
    if facts.merged != merged_git & set(live):
        raise SystemExit("branch_facts disagrees with git branch --merged")
    print(f"  live previews: {len(live)}, merged: {len(facts.merged)} (agrees with git branch --merged)")
    medians = {}
    for label, times in (("sweep decision", ours), ("git branch --merged", theirs)):
        medians[label] = sorted(times)[len(times) // 2]
        print(f"  {label:24} best {min(times) * 1000:.1f} ms, median {medians[label] * 1000:.1f} ms")
    return medians["sweep decision"] / medians["git branch --merged"]


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, text=True).stdout.strip()


def advance(path: Path, kept: list[str], gain: int) -> str:
    """Between two sweeps: a new branch forks from latest (its preview is new) and latest gains ``gain``
    commits: the merge of a kept (unmerged) branch, and the merge of a branch opened and merged since (the
    memo never saw it). Returns the new branch."""
    (todo, *_) = kept
    tree = git(path, "rev-parse", "latest^{tree}")
    tip = git(path, "rev-parse", "latest")
    fresh = "feature/opened-since"
    git(path, "update-ref", f"refs/heads/{fresh}", git(path, "commit-tree", tree, "-p", tip, "-m", "new work"))
    fork = git(path, "rev-parse", "latest~20")  # opened a while ago, merged since the last sweep
    quick = git(path, "commit-tree", tree, "-p", fork, "-m", "opened and merged between two sweeps")
    for i in range(gain):
        second = {gain // 2: git(path, "rev-parse", todo), gain // 3: quick}.get(i)
        parents = ["-p", tip, *(["-p", second] if second else [])]
        tip = git(path, "commit-tree", tree, *parents, "-m", f"gained {i}")
    git(path, "update-ref", "refs/heads/latest", tip)
    return fresh


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--branches", type=int, default=5000)
    parser.add_argument("--history", type=int, default=40000)
    parser.add_argument("--live", type=int, default=20, help="live previews (their branches are the ones checked)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--gain", type=int, default=50, help="commits latest gains between two sweeps")
    parser.add_argument(
        "--commit-graph", action="store_true", help="as a clone that keeps an index of its commits: a commit-graph file"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        started = time.perf_counter()
        build(path, args.branches, args.history)
        elapsed = time.perf_counter() - started
        commits = args.history + 1 + args.branches + (args.branches + 1) // 2
        print(f"built repo: {args.branches} branches, {commits} commits in {elapsed:.1f}s (merges spread over time)")
        if args.commit_graph:
            # generation numbers v1: libgit2 1.9 refuses a file with a chunk it does not know (v2's GDA2/GDO2:
            # "unrecognized chunk ID" in git_commit_graph_file_parse) and silently reads the objects instead
            started = time.perf_counter()
            write = ["git", "-c", "commitGraph.generationVersion=1", "commit-graph", "write", "--reachable"]
            subprocess.run(write, cwd=path, check=True)
            elapsed = time.perf_counter() - started
            print(f"with a commit-graph (generation numbers v1: git and libgit2 read it), written in {elapsed:.2f}s")
        ratios = {}
        for case, every_age in (("recent previews", False), ("previews of every age", True)):
            live = live_branches(args.branches, args.live, every_age=every_age)
            print(f"{case}, first sweep (no memo)")
            ratios[f"{case}, first sweep"] = measure(path, live, args.repeat)
            first = SourceRepo(path).branch_facts(live, "latest")
            kept = [b for b in live if b not in first.merged]  # the merged ones' previews were removed
            fresh = advance(path, kept, args.gain)
            print(
                f"{case}, next sweep (memo of the one before: its merged previews gone, one new;"
                f" latest gained {args.gain} commits, two merges)"
            )
            ratios[f"{case}, next sweep"] = measure(path, [*kept, fresh], args.repeat, first.memo)
        print("sweep decision / git branch --merged: " + "; ".join(f"{c} {r:.2f}x" for c, r in ratios.items()))


if __name__ == "__main__":
    main()
