"""Benchmark: the sweep's merged/deleted decision, against `git branch --merged`.

Run by hand: ``.venv/bin/python benchmarks/bench_sweep_decision.py [--branches 5000 --history 40000 --live 20]``.
Builds a repository with N feature branches (half merged into ``latest``) and a long ``latest`` (by
default 5,000 branches and about 45,000 commits) with git fast-import, then times what the sweep does,
``SourceRepo.branch_facts(<live previews' branches>, "latest")`` (libgit2 ``descendant_of`` per live
branch), against ``git branch --merged latest``, and checks both agree on the live branches.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitops.core.gitrepo import SourceRepo

EPOCH = 1767225600


def build(path: Path, branches: int, history: int) -> None:
    """``history`` commits on latest; each branch forks from a point on it and adds one commit;
    even branches are merged back (so they are ancestors of latest's tip)."""
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

    spine = [commit("refs/heads/latest", [], "root")]
    for i in range(history):
        spine.append(commit("refs/heads/latest", [spine[-1]], f"latest {i}"))
    tip = spine[-1]
    for b in range(branches):
        base = spine[(b * 7) % len(spine)]
        head = commit(f"refs/heads/feature/b{b}", [base], f"branch {b}")
        if b % 2 == 0:
            tip = commit("refs/heads/latest", [tip, head], f"merge {b}")
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input="\n".join(lines).encode(), check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--branches", type=int, default=5000)
    parser.add_argument("--history", type=int, default=40000)
    parser.add_argument("--live", type=int, default=20, help="live previews (their branches are the ones checked)")
    parser.add_argument("--spread", action="store_true", help="worst case: live previews of every age")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        started = time.perf_counter()
        build(path, args.branches, args.history)
        elapsed = time.perf_counter() - started
        commits = args.history + 1 + args.branches + (args.branches + 1) // 2
        print(f"built repo: {args.branches} branches, {commits} commits in {elapsed:.1f}s")
        # the newest branches are the live previews (older ones were merged, deleted or expired); odd ones unmerged
        live = [f"feature/b{i}" for i in range(args.branches - args.live, args.branches)]
        if args.spread:
            step = max(args.branches // args.live, 1)
            live = [f"feature/b{i + (i // step) % 2}" for i in range(0, args.branches - 1, step)][: args.live]

        ours, theirs = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            facts = SourceRepo(path).branch_facts(live, "latest")
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
        assert facts.merged == merged_git & set(live), "branch_facts disagrees with git branch --merged"
        print(f"live previews: {len(live)}, merged: {len(facts.merged)} (agrees with git branch --merged)")
        medians = {}
        for label, times in (("sweep decision", ours), ("git branch --merged", theirs)):
            medians[label] = sorted(times)[len(times) // 2]
            print(f"{label:26} best {min(times) * 1000:.1f} ms, median {medians[label] * 1000:.1f} ms")
        ratio = medians["sweep decision"] / medians["git branch --merged"]
        print(f"sweep decision / git branch --merged: {ratio:.2f}x")


if __name__ == "__main__":
    main()
