"""The README's local walk-through, run as written: a newcomer's commands must work on the real engine.

The block after ``<!-- walk-through -->`` in README.md is run with bash from the repo's root, its folder
moved from ``/tmp/gitops-local`` into the test's own; the last line (cluster down) runs after the
assertions on what the API servers and the backend hold.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from gitops.core.naming import preview_id
from gitops.localcluster.cluster import LocalClusters
from tests.e2e.world import ROOT

MARK = "<!-- walk-through -->"
README_FOLDER = "/tmp/gitops-local"
TIMEOUT = 1200


def walk_through() -> list[str]:
    """The README's walk-through: its commands, a continued line joined to the one before."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(re.escape(MARK) + r"\n```bash\n(.*?)\n```", text, re.DOTALL)
    assert found, f"README.md has no bash block after {MARK}"
    return found.group(1).replace("\\\n", "").splitlines()


def run_bash(lines: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    script = "set -euo pipefail\n" + "\n".join(line.replace(README_FOLDER, str(folder)) for line in lines) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "GITOPS_", "CI_", "KUBECONFIG"))}
    return subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_the_readme_walk_through_works_as_written(tmp_path: Path, tools: dict[str, Path]) -> None:
    folder = tmp_path / "gitops-local"
    *steps, down = walk_through()
    assert "./dev cluster down" in down, "the walk-through ends by stopping its clusters"
    try:
        done = run_bash(steps, folder)
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"the walk-through stopped (exit {done.returncode}):\n{out[-6000:]}"
        assert "from $PATH" not in out, "the engine announced an ambient provider plugin"

        web = folder / "web"  # ../web from the project folder
        latest = subprocess.run(["git", "-C", str(web), "rev-parse", "latest"], capture_output=True, text=True)
        commit = latest.stdout.strip()
        login = subprocess.run(["git", "-C", str(web), "rev-parse", "feature/login"], capture_output=True, text=True)
        assert re.fullmatch(r"[0-9a-f]{40}", commit) and re.fullmatch(r"[0-9a-f]{40}", login.stdout.strip())
        assert f"web: {commit} from latest (deploy)" in done.stdout, "status tells what runs"
        assert re.search(r"deployment\.apps/web\s+\d+/\d+", done.stdout), "kubectl sees the Deployment"
        assert "preview stacks: 1 live" in done.stdout

        clusters = LocalClusters.attach(folder)
        staging = clusters.client("staging").get("/apis/apps/v1/namespaces/web/deployments/web")
        assert staging["metadata"]["labels"]["app.kubernetes.io/version"] == commit
        assert staging["spec"]["template"]["spec"]["containers"][0]["image"].endswith("@sha256:" + "1" * 64)
        namespace = preview_id("web", "feature/login")
        preview = clusters.client("preview").get(f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
        assert preview["metadata"]["labels"]["app.kubernetes.io/version"] == login.stdout.strip()

        env = {**os.environ, **_local_env(folder)}
        assert env["PULUMI_BACKEND_URL"].startswith("postgres://"), "the walk-through runs on the team backend"
        history = subprocess.run(
            [str(tools["pulumi"]), "stack", "history", "--stack", "staging", "--json", "--non-interactive"],
            cwd=folder / "project", env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        messages = [entry["message"] for entry in json.loads(history.stdout)]
        assert messages[0].startswith(f"deploy web@{commit[:8]} from latest"), messages
        assert messages[1].startswith("init staging"), messages
    finally:
        stopped = run_bash([f"cd {ROOT}", down.replace("cd - && ", "")], folder)
    assert stopped.returncode == 0 and "stopped the clusters" in stopped.stdout, stopped.stdout + stopped.stderr


def _local_env(folder: Path) -> dict[str, str]:
    """What ``source local-staging.env`` exports (staging's backend on the local PostgreSQL server)."""
    found = {}
    for line in (folder / "local-staging.env").read_text(encoding="utf-8").splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        found[key] = value.strip("'")
    return found
