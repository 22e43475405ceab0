"""Benchmark: what one preview deploy costs while N other previews are live.

Run by hand: ``.venv/bin/python benchmarks/bench_preview_scale.py [--live 10 100 1000]``.
For each N, a fake backend (tests/fake_pulumi.py: the Pulumi CLI cannot be installed here) holds N live
preview stacks, and ``python -m gitops release --stack preview`` deploys one more preview: the real
program runs under the mock engine. Reported: resources the deploy registered, CLI calls it made, and
its wall time. For comparison, the design this replaced: one stack holding every preview, re-applied
with N previews in it (each deploy re-registered all of them).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops.cli import main as gitops_main  # noqa: E402
from gitops.core.naming import preview_host, preview_id, preview_stack  # noqa: E402
from gitops.core.settings import PreviewPolicy  # noqa: E402
from gitops.core.stackfile import StackConfig, load_stack_config  # noqa: E402
from gitops.offline.engine import run_program  # noqa: E402
from tests.fake_pulumi import FakeProject, FakePulumiCommand, history_item  # noqa: E402
from tests.gitutil import standard_repo  # noqa: E402
from tests.harness import APP_SECRETS, SHARED_PREVIEW, deploy_repo_copy  # noqa: E402

NOW = datetime(2026, 3, 4, 12, 0)


def preview_outputs(index: int) -> tuple[str, dict[str, str]]:
    branch = f"feature/live-{index}"
    key = preview_id("web", branch)
    preview = {
        "app": "web",
        "branch": branch,
        "commit": f"{index:040x}",
        "namespace": key,
        "url": f"https://{preview_host(key, 'preview.example.com')}",
        "last_deployed": (NOW - timedelta(minutes=index)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "actor": "",
    }
    return key, preview


def live_project(count: int, root: Path) -> FakeProject:
    project = FakeProject(root, now=NOW)
    project.backend("preview").outputs = {"releases": {}, "previews": {}, "holds": {}, **SHARED_PREVIEW}
    for index in range(count):
        key, preview = preview_outputs(index)
        backend = project.backend(f"preview-{key}")
        backend.outputs = {"releases": {}, "previews": {key: preview}, "holds": {}}
        backend.history.append(history_item(1, start=NOW - timedelta(minutes=index)))
        backend.resource_count = 15
    return project


def one_deploy(count: int, repo: Path, commit: str, root: Path) -> tuple[int, int, float]:
    """One preview deploy in ``root``, a copy of the deploy repo (the preview's stack file is written there)."""
    project = live_project(count, root)
    calls_before = len(project.calls)
    argv = ["release", "--stack", "preview", "--app", "web", "--branch", "feature/login", "--commit", commit]
    argv += ["--repo", str(repo)]
    policy = PreviewPolicy(ttl_hours=72, max_previews=count + 10)
    with (
        mock.patch("gitops.admin.releases.preview_policy", lambda root: policy),
        mock.patch("gitops.admin.previews.utc_now", lambda: NOW),
        mock.patch("gitops.cli.PROJECT_ROOT", root),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        started = time.perf_counter()
        code = gitops_main(argv, pulumi_command=FakePulumiCommand(project))
        elapsed = time.perf_counter() - started
    assert code == 0
    result = project.stacks[preview_stack("web", "feature/login")].last_result
    assert result is not None
    return len(result.resources), len(project.calls) - calls_before, elapsed


def shared_stack_reapply(count: int) -> tuple[int, float]:
    previews = dict(preview_outputs(i) for i in range(count))
    overrides = {"gitops:preview": '{"max_previews": 100000}', "gitops:appSecrets": json.dumps(APP_SECRETS)}
    config = load_stack_config(ROOT, "preview").with_overrides(overrides)
    config = StackConfig(config.values, [*config.secret_keys, "gitops:appSecrets"])
    started = time.perf_counter()
    result = run_program(
        "preview",
        config,
        root=ROOT,
        now=NOW,
        previous_outputs={"releases": {}, "previews": previews, "holds": {}},
    )
    return len(result.resources), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--live", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--skip-shared", action="store_true", help="skip the old one-stack design (slow at 1000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo, shas = standard_repo(Path(tmp) / "web")
        root = deploy_repo_copy(Path(tmp) / "deploy")
        print(
            "live previews | per-preview stack deploy: resources, CLI calls, wall | one shared stack: resources, wall"
        )
        for count in args.live:
            resources, calls, elapsed = one_deploy(count, repo.path, shas["feature/login"], root)
            shared = "skipped" if args.skip_shared else "{} resources, {:.1f} s".format(*shared_stack_reapply(count))
            print(f"{count:>13} | {resources:>4} resources, {calls:>2} calls, {elapsed:5.2f} s | {shared}")


if __name__ == "__main__":
    main()
