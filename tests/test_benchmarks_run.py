"""The benchmarks still run (tiny sizes). Their figures are measured by hand and never asserted here."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.harness import ROOT

SMOKE = [
    (["bench_preview_scale.py", "--live", "2", "5", "--skip-shared"], "18 resources"),
    (["bench_history_calls.py", "--updates", "30"], "history (all)"),
    (
        ["bench_sweep_decision.py", "--branches", "40", "--history", "60", "--live", "6", "--repeat", "1"],
        "agrees with git",
    ),
    (["bench_evaluation.py", "--apps", "2", "--repeat", "1"], "gc tuned"),
    (["bench_release_cost.py", "--apps", "3", "--evaluation-only"], "evaluation: 1 app"),
    (["bench_preview_fixed_cost.py", "--repeat", "1"], "preview deploy: program"),
    (["bench_dashboard_scale.py", "--apps", "3", "--previews", "4", "--repeat", "1"], "dashboard at 3 apps"),
]


@pytest.mark.parametrize(("argv", "expected"), SMOKE, ids=[a[0] for a, _ in SMOKE])
def test_benchmark_runs(argv: list[str], expected: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert expected in done.stdout, done.stdout
