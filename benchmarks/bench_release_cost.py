"""Benchmark: what one release into prod costs with the real engine, 1 app vs many apps live, on two clusters.

Run by hand: ``.venv/bin/python benchmarks/bench_release_cost.py [--apps 50]`` (builds the tools on first
use; a 50-app run takes several minutes: the fixture itself is one update that creates every app).

For each stack size it starts fresh local clusters (prod-eu, prod-us) and a file backend, records a state
holding N released apps (``pulumi stack import`` of outputs; a plain ``pulumi up`` then creates them all),
and times, as wall clock of ``python -m gitops release`` (what CI runs):
- one release of app-000 (a fast-forward commit), targeted (the default) and, for comparison, untargeted;
- two releases of different apps started together, against one alone.
Program evaluation of the release is measured under the mock engine (CPU seconds of the program alone).
The last line is ``release cost: N apps / 1 app = X; evaluation = Y; two together / one = Z``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops.localcluster.tools import build_tools  # noqa: E402
from tests.e2e.world import World, digest, start_world  # noqa: E402
from tests.gitutil import GitRepo  # noqa: E402
from tests.harness import digest_of, run  # noqa: E402


def catalog(apps: int) -> str:
    lines = ["apps:"]
    for i in range(apps):
        lines += [
            f"  app-{i:03d}:",
            f"    gitlab_project: bench/app-{i:03d}",
            f"    image: registry.example.com/bench/app-{i:03d}",
            "    port: 8080",
            "    health_path: /healthz",
            "    replicas: 1",
        ]
    return "\n".join(lines) + "\n"


def release_record(commit: str, n: int) -> dict[str, Any]:
    return {
        "commit": commit, "branch": "master", "action": "deploy", "released_at": "2026-12-01T10:00:00Z",
        "actor": "bench", "pipeline": "", "previous": None, "retiring": False, "digest": digest(n),
        "previous_digest": None,
    }  # fmt: skip


def seed(world: World, apps: int) -> dict[str, str]:
    """A prod stack whose state holds ``apps`` releases, all created by one plain update."""
    commits = {}
    for i in range(apps):
        repo = world.app_repo(f"app-{i:03d}")
        commits[f"app-{i:03d}"] = repo.commit("first")
    world.gitops("init", "--stack", "prod")
    state = world.export("prod")
    root = next(r for r in state["deployment"]["resources"] if r["type"] == "pulumi:pulumi:Stack")
    root["outputs"]["releases"] = {app: release_record(c, i + 1) for i, (app, c) in enumerate(sorted(commits.items()))}
    path = world.folder / "seed.json"
    path.write_text(json.dumps(state))
    world.pulumi("stack", "import", "--stack", "prod", "--file", str(path))
    world.gitops("apply", "--stack", "prod", "--lock-wait", "0")
    return commits


UNTARGETED = """
import sys
from pathlib import Path
from gitops.admin.stack import StackAdmin
app, commit, digest, repo = sys.argv[1:]
event = {"app": app, "commit": commit, "branch": "master", "digest": digest, "sourceRepo": repo}
StackAdmin("prod", Path.cwd()).release(event, f"untargeted deploy {app} (benchmark)", lambda _: None)
"""


def timed_release(world: World, app: str, n: int, *, untargeted: bool = False) -> float:
    """Wall time of one release as CI runs it (``ci/release.sh``); untargeted: the same event through a
    plain ``pulumi up`` of the whole stack (how every release ran before targeted releases)."""
    commit = world.repos[app].commit(f"release {n}")
    env = world.release_env("prod", app, commit, image_digest=digest(1000 + n))
    argv = world.release_argv("prod", app, commit, image_digest="")
    if untargeted:
        python = str(world.workdir / ".venv" / "bin" / "python")
        argv = [python, "-c", UNTARGETED, app, commit, digest(1000 + n), env["CI_PROJECT_DIR"]]
    started = time.perf_counter()
    cwd = world.workdir if untargeted else Path(env["CI_PROJECT_DIR"])
    subprocess.run(argv, env=env, check=True, capture_output=True, cwd=cwd)
    return time.perf_counter() - started


def together(world: World, apps: list[str], n: int) -> float:
    jobs = []
    started = time.perf_counter()
    for i, app in enumerate(apps):
        commit = world.repos[app].commit(f"together {n}")
        env = world.release_env("prod", app, commit, image_digest=digest(2000 + n + i))
        argv = world.release_argv("prod", app, commit, image_digest="")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        jobs.append(subprocess.Popen(argv, env=env, cwd=env["CI_PROJECT_DIR"], **quiet))  # type: ignore[call-overload]
    for job in jobs:
        assert job.wait(timeout=1200) == 0
    return time.perf_counter() - started


def evaluation_seconds(apps: int, repeat: int = 3) -> float:
    """CPU seconds of the program for one targeted release of app-000 with ``apps`` live (mock engine)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "apps.yaml"
        path.write_text(catalog(apps))
        repo = GitRepo(Path(folder) / "app-000")
        live = repo.head()
        commit = repo.commit("release")
        previous = {
            "releases": {
                f"app-{i:03d}": release_record(live if i == 0 else f"{i + 1:040x}", i + 1) for i in range(apps)
            },
            "previews": {},
            "holds": {},
        }
        extra = {"gitops:catalog": str(path), "gitops:overrides": "{}"}
        best = float("inf")
        for _ in range(repeat):
            started = time.process_time()
            run("prod", repo=repo.path, previous=previous, extra=extra, app="app-000", commit=commit,
                digest=digest_of(commit), targeted="true")  # fmt: skip
            best = min(best, time.process_time() - started)
        return best


def measure(tools: dict[str, Path], apps: int, folder: Path) -> dict[str, float]:
    world = start_world(folder, tools, ["prod"], catalog_text=catalog(apps))
    try:
        started = time.perf_counter()
        seed(world, apps)
        figures = {"seed": time.perf_counter() - started}
        timed_release(world, "app-000", 0)  # warm-up (plugin start, first diff)
        figures["one"] = min(timed_release(world, "app-000", n) for n in (1, 2))
        figures["untargeted"] = timed_release(world, "app-000", 3, untargeted=True)
        if apps >= 2:
            figures["two"] = together(world, ["app-000", "app-001"], 4)
        return figures
    finally:
        world.clusters.stop()


def report(label: str, figures: dict[str, float]) -> None:
    print(
        f"{label:8} seed {figures['seed']:6.1f} s; one release {figures['one']:5.1f} s "
        f"(untargeted {figures['untargeted']:5.1f} s); two together {figures.get('two', 0):5.1f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--evaluation-only", action="store_true", help="only the program's evaluation (no clusters)")
    args = parser.parse_args()
    if args.evaluation_only:
        one_eval, many_eval = evaluation_seconds(1), evaluation_seconds(args.apps)
        print(f"evaluation: 1 app {one_eval:.3f} s CPU, {args.apps} apps {many_eval:.3f} s CPU")
        return
    tools = build_tools()
    with tempfile.TemporaryDirectory(prefix="bench-release-") as folder:
        small = measure(tools, 1, Path(folder) / "small")
        report("1 app", small)
        large = measure(tools, args.apps, Path(folder) / "large")
        report(f"{args.apps} apps", large)
    one_eval, many_eval = evaluation_seconds(1), evaluation_seconds(args.apps)
    print(f"evaluation: 1 app {one_eval:.3f} s CPU, {args.apps} apps {many_eval:.3f} s CPU")
    print(
        f"release cost: {args.apps} apps / 1 app = {large['one'] / small['one']:.2f}; "
        f"evaluation = {many_eval / one_eval:.2f}; two together / one = {large['two'] / large['one']:.2f}"
    )


if __name__ == "__main__":
    main()
