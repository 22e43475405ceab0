"""Benchmark: CLI calls and time of ``python -m gitops history`` / ``rollback --dry-run`` on a long history.

Run by hand: ``.venv/bin/python benchmarks/bench_history_calls.py [--updates 5000]``. The Pulumi CLI
cannot be installed here: the fake CLI (tests/fake_pulumi.py) answers ``stack history`` pages with the
CLI's JSON shapes, so what is counted is the number of CLI processes the command would start.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops.cli import main as gitops_main  # noqa: E402
from tests.fake_pulumi import FakeBackend, FakePulumiCommand, history_item  # noqa: E402

EMPTY: dict[str, dict[str, object]] = {"releases": {}, "previews": {}, "holds": {}}


def measure(updates: int, argv: list[str]) -> tuple[int, float]:
    items = [history_item(v, app="web", commit=f"{v:040x}", action="deploy") for v in range(1, updates + 1)]
    backend = FakeBackend("prod", ROOT, history=items, outputs=EMPTY)
    with contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        assert gitops_main(argv, pulumi_command=FakePulumiCommand(backend)) == 0
        elapsed = time.perf_counter() - started
    return len(backend.calls), elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=5000)
    args = parser.parse_args()
    for label, argv in (
        ("history (all)", ["history", "--stack", "prod", "--json"]),
        ("history --limit 20", ["history", "--stack", "prod", "--limit", "20"]),
        ("rollback --dry-run", ["rollback", "--stack", "prod", "--app", "web", "--reason", "x", "--dry-run"]),
    ):
        calls, elapsed = measure(args.updates, argv)
        print(f"{label:20} {args.updates} updates: {calls} CLI calls, {elapsed:.2f} s")


if __name__ == "__main__":
    main()
