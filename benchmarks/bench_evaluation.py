"""Benchmark: evaluating the whole program under the mock engine, with and without GC tuning.

Run by hand: ``.venv/bin/python benchmarks/bench_evaluation.py [--apps 50] [--repeat 3]``.
Generates a catalog of N apps and a prod state in which each runs a release, then re-applies prod (two
clusters: every app on both) in a fresh process per run, once with Python's default garbage collector
settings and once with ``gitops.program.tune_gc`` (what ``__main__.py`` applies). Reports registered
resources, CPU seconds and peak RSS (median of the runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = """
import gc, json, resource, sys, time
from datetime import datetime
from pathlib import Path
sys.path.insert(0, {root!r})
from gitops import program
from gitops.offline.engine import run_program
from gitops.core.stackfile import load_stack_config
if {tuned}:
    program.tune_gc()
state = json.loads(Path({state!r}).read_text())
overrides = {{"gitops:catalog": {catalog!r}, "gitops:overrides": "{{}}"}}
config = load_stack_config(Path({root!r}), "prod").with_overrides(overrides)
started = time.process_time()
result = run_program("prod", config, root=Path({root!r}), now=datetime(2026, 3, 4, 12), previous_outputs=state)
cpu = time.process_time() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"resources": len(result.resources), "cpu": cpu, "peak_mb": peak}}))
"""


def write_inputs(tmp: Path, apps: int) -> tuple[Path, Path]:
    catalog = tmp / "apps.yaml"
    lines = ["apps:"]
    for i in range(apps):
        lines += [
            f"  app{i}:",
            f"    gitlab_project: shop/app{i}",
            f"    image: registry.example.com/shop/app{i}",
            "    port: 8080",
            "    replicas: 2",
        ]
    catalog.write_text("\n".join(lines) + "\n", encoding="utf-8")
    release = {"branch": "master", "action": "deploy", "released_at": "2026-03-01T10:00:00Z"}
    releases = {f"app{i}": {**release, "commit": f"{i:040x}"} for i in range(apps)}
    state = tmp / "state.json"
    state.write_text(json.dumps({"releases": releases, "previews": {}, "holds": {}}), encoding="utf-8")
    return catalog, state


def run_once(catalog: Path, state: Path, *, tuned: bool) -> dict[str, float]:
    code = CHILD.format(root=str(ROOT), catalog=str(catalog), state=str(state), tuned=tuned)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        catalog, state = write_inputs(Path(tmp), args.apps)
        print(f"prod re-apply, {args.apps} apps on 2 clusters, {args.repeat} runs each (medians)")
        for tuned in (False, True):
            runs = [run_once(catalog, state, tuned=tuned) for _ in range(args.repeat)]
            label = "gc tuned  " if tuned else "gc default"
            print(
                f"{label}: {int(runs[0]['resources'])} resources, "
                f"cpu {statistics.median(r['cpu'] for r in runs):.2f} s, "
                f"peak {statistics.median(r['peak_mb'] for r in runs):.0f} MB"
            )


if __name__ == "__main__":
    main()
