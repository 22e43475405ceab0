"""Benchmark: branch facts for pruning previews, against `git branch --merged`.

Run by hand: ``.venv/bin/python benchmarks/bench_branch_scan.py [--branches 5000]``.
Builds a repository with N feature branches (half merged into ``latest``) using git
fast-import, then times ``SourceRepo.branch_facts("latest")`` (one history walk) and
``git branch --merged latest`` and checks both agree on which branches are merged.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitops.gitrepo import SourceRepo

IDENT = "Bench <bench@example.com> 1767225600 +0000"


def build(path: Path, branches: int, history: int) -> None:
    """``history`` commits on latest; each branch forks from a point on it and adds one commit;
    even branches are merged back (so they are ancestors of latest's tip)."""
    lines: list[str] = []
    mark = 0

    def commit(ref: str, parents: list[str], message: str) -> str:
        nonlocal mark
        mark += 1
        data = message.encode()
        lines.append(f"commit {ref}\nmark :{mark}\ncommitter {IDENT}\ndata {len(data)}\n{message}")
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
    parser.add_argument("--history", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        started = time.perf_counter()
        build(path, args.branches, args.history)
        elapsed = time.perf_counter() - started
        print(f"built repo: {args.branches} branches, {args.history} spine commits in {elapsed:.1f}s")

        ours, theirs = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            facts = SourceRepo(path).branch_facts("latest")
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
        assert facts.merged == merged_git, "branch_facts disagrees with git branch --merged"
        print(f"merged branches: {len(facts.merged)} of {len(facts.existing) - 1} (agrees with git)")
        for label, times in (("SourceRepo.branch_facts", ours), ("git branch --merged", theirs)):
            median = sorted(times)[len(times) // 2]
            print(f"{label:24} best {min(times) * 1000:.0f} ms, median {median * 1000:.0f} ms")


if __name__ == "__main__":
    main()
