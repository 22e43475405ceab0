"""Benchmark: the real engine on local clusters — a preview deploy with many live preview stacks, and
``gitops history`` on a long real history.

Run by hand: ``.venv/bin/python benchmarks/bench_real_engine.py [--live 10 100] [--updates 1000]``.
- preview: for each count, a fresh preview cluster and backend holding that many live preview stacks (made
  cheaply: ``stack init`` + ``stack import`` of outputs that record one preview each), then the wall time
  of one ``gitops release --stack preview`` of a new branch (``max_previews`` raised so nothing is evicted).
- history: a stack with that many real updates (``pulumi up`` of a program that only exports a number, in a
  project of its own), then the wall time and CLI calls of ``gitops history --json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops.core.naming import preview_id, preview_stack  # noqa: E402
from gitops.localcluster.project import file_backends, tool_env  # noqa: E402
from gitops.localcluster.tools import build_tools  # noqa: E402
from tests.e2e.world import World, start_world  # noqa: E402


def preview_record(key: str, branch: str, commit: str) -> dict[str, object]:
    return {
        "app": "web", "branch": branch, "commit": commit, "namespace": key, "url": f"https://{key}.preview.example.com",
        "first_deployed": "2026-12-03T10:00:00Z", "last_deployed": "2026-12-03T10:00:00Z", "digest": None,
    }  # fmt: skip


def live_previews(world: World, count: int) -> None:
    """``count`` preview stacks, each recording one preview (no objects: what a deploy reads is the stack list)."""
    for i in range(count):
        branch = f"bench/live-{i}"
        key, stack = preview_id("web", branch), preview_stack("web", branch)
        world.pulumi("stack", "init", stack)
        state = world.export(stack)
        deployment = state.setdefault("deployment", {})
        resources = deployment.setdefault("resources", [])
        root = {"urn": f"urn:pulumi:{stack}::gitops::pulumi:pulumi:Stack::gitops-{stack}", "custom": False,
                "type": "pulumi:pulumi:Stack", "outputs": {"releases": {}, "holds": {},
                "previews": {key: preview_record(key, branch, f"{i + 1:040x}")}}}  # fmt: skip
        resources[:] = [root]
        path = world.folder / "live.json"
        path.write_text(json.dumps(state))
        world.pulumi("stack", "import", "--stack", stack, "--file", str(path))


def preview_deploy(tools: dict[str, Path], live: int, folder: Path) -> float:
    world = start_world(folder, tools, ["preview"])
    try:
        stack_file = world.workdir / "Pulumi.preview.yaml"
        stack_file.write_text(stack_file.read_text().replace("max_previews: 20", "max_previews: 5000"))
        world.gitops("apply", "--stack", "preview")
        live_previews(world, live)
        repo = world.app_repo("web")
        commit = repo.branch_with_commit("feature/bench", "latest")
        clone = world.ci_clone("web", commit)
        args = ["release", "--stack", "preview", "--app", "web", "--branch", "feature/bench", "--commit", commit]
        started = time.perf_counter()
        world.gitops(*args, "--repo", str(clone))
        return time.perf_counter() - started
    finally:
        world.clusters.stop()


PROGRAM = "import pulumi\npulumi.export('n', pulumi.Config().get_int('n') or 0)\n"


def history(tools: dict[str, Path], updates: int, folder: Path) -> tuple[float, int]:
    """``updates`` real updates of a tiny project's ``prod`` stack, then ``gitops history`` of it."""
    project = folder / "tiny"
    project.mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: gitops\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n")
    (project / "__main__.py").write_text(PROGRAM)
    (project / ".venv").symlink_to(ROOT / ".venv")
    env = {**os.environ, **tool_env(folder, tools["pulumi"].parent), **file_backends(folder)["prod"]}
    (folder / "backend").mkdir()

    def pulumi(*args: str) -> None:
        subprocess.run([str(tools["pulumi"]), *args, "--non-interactive"], cwd=project, env=env, check=True,
                       capture_output=True)  # fmt: skip

    pulumi("stack", "init", "prod")
    for n in range(updates):
        pulumi("up", "--yes", "--skip-preview", "--stack", "prod", "--config", f"n={n}", "-m", f"update {n}")
    started = time.perf_counter()
    argv = [str(ROOT / ".venv" / "bin" / "python"), "-m", "gitops", "history", "--stack", "prod", "--json"]
    done = subprocess.run(argv,
                          cwd=ROOT, env=env, check=False, capture_output=True,
                          text=True)  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return elapsed, len(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--live", type=int, nargs="*", default=[10, 100])
    parser.add_argument("--updates", type=int, default=1000)
    args = parser.parse_args()
    tools = build_tools()
    with tempfile.TemporaryDirectory(prefix="bench-real-") as folder:
        for live in args.live:
            seconds = preview_deploy(tools, live, Path(folder) / f"live-{live}")
            print(f"preview deploy with {live:4d} live preview stacks: {seconds:.1f} s")
        if args.updates:
            seconds, rows = history(tools, args.updates, Path(folder) / "history")
            print(f"gitops history on {args.updates} real updates: {rows} rows in {seconds:.1f} s")


if __name__ == "__main__":
    main()
