"""The real-engine benchmarks still run (tiny sizes). Their figures are measured by hand, never asserted."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.world import ROOT


def test_the_real_engine_benchmark_runs(tools: dict[str, object]) -> None:
    argv = [sys.executable, str(ROOT / "benchmarks" / "bench_real_engine.py"), "--live", "2", "--updates", "3"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "preview deploy with    2 live preview stacks" in done.stdout
    assert "gitops history on 3 real updates: 3 rows" in done.stdout


def test_the_redeploy_floor_benchmark_runs(tools: dict[str, object]) -> None:
    argv = [sys.executable, str(ROOT / "benchmarks" / "bench_redeploy_floor.py"), "--repeat", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("redeploy vs floor: preview ") and "two together / one = " in last, done.stdout


def test_the_team_backend_benchmark_runs(tools: dict[str, object]) -> None:
    argv = [sys.executable, str(ROOT / "benchmarks" / "bench_preview_backend_scale.py"), "--previews", "12",
            "--repeat", "1"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("team backend: preview deploy at 12 / 10 previews = "), done.stdout
    assert "; sweep at 12 previews = " in last and "; four runners / one = " in last, done.stdout
