"""ci/release.sh run for real: the engine (this repo's .venv) and the Automation API, against a stand-in
``pulumi`` on PATH (tests/standin/pulumi) that records its arguments. The Pulumi CLI is the boundary that
cannot be real here; what is checked is what the script and the engine ask of it.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gitops.core.naming import preview_stack
from tests.gitutil import GIT_ENV, GitRepo
from tests.harness import ROOT, deploy_repo_copy

STANDIN = ROOT / "tests" / "standin"


@pytest.fixture()
def app_clone(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A CI-style clone of an app repo with master, latest and feature/x, and a merge commit on no branch."""
    origin = GitRepo(tmp_path / "origin")
    shas = {"master": origin.head()}
    origin.checkout("latest", create_from="master")
    shas["latest"] = origin.commit("latest work")
    shas["feature/x"] = origin.branch_with_commit("feature/x", "latest", "feature work")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin.path), str(clone)], check=True, env={**os.environ, **GIT_ENV})
    # what a merged-results pipeline checks out: feature/x merged into latest, a commit on no branch
    tree = f"{shas['feature/x']}^{{tree}}"
    command = ["git", "commit-tree", "-p", shas["latest"], "-p", shas["feature/x"], "-m", "merge", tree]
    done = subprocess.run(command, cwd=clone, check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    shas["merge"] = done.stdout.strip()
    return clone, shas


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gitops image's folder (``GITOPS_HOME``): a copy of the engine, its virtualenv linked, as a preview's
    release writes the preview's stack file beside ``Pulumi.yaml``."""
    home = deploy_repo_copy(tmp_path_factory.mktemp("engine"))
    for folder in ("gitops", "components"):
        shutil.copytree(ROOT / folder, home / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "__main__.py", home / "__main__.py")
    (home / ".venv").symlink_to(ROOT / ".venv")
    return home


def release(engine: Path, clone: Path, tmp_path: Path, action: str, **env: str) -> tuple[int, list[str], str]:
    log = tmp_path / "pulumi.log"
    log.unlink(missing_ok=True)
    (clone / "deploy.env").unlink(missing_ok=True)
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITOPS_"))},
        "PATH": f"{STANDIN}:{os.environ['PATH']}",
        "PULUMI_STANDIN_LOG": str(log),
        "GITOPS_HOME": str(engine),
        "GITOPS_APP": "web",
        "CI_PROJECT_DIR": str(clone),
        **env,
    }
    done = subprocess.run(
        ["bash", str(ROOT / "ci" / "release.sh"), action], env=environ, capture_output=True, text=True
    )
    calls = log.read_text().splitlines() if log.exists() else []
    dotenv = (clone / "deploy.env").read_text() if (clone / "deploy.env").exists() else ""
    return done.returncode, calls, dotenv + done.stdout + done.stderr


def config_of(calls: list[str]) -> str:
    """The config file (`up --config-file`) that carries the release event."""
    (config_file,) = [c for c in calls if c.startswith("config-file ") and "gitops:app=" in c]
    return config_file


def test_a_push_to_latest_releases_that_commit_to_staging(
    engine: Path, app_clone: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    clone, shas = app_clone
    code, calls, out = release(
        engine,
        clone,
        tmp_path,
        "deploy",
        GITOPS_STACK="staging",
        CI_COMMIT_REF_NAME="latest",
        CI_COMMIT_SHA=shas["latest"],
    )
    assert code == 0, out
    assert f"gitops:commit={shas['latest']}" in config_of(calls) and "gitops:branch=latest" in config_of(calls)
    (up,) = [c for c in calls if " up " in c]
    assert "--stack staging" in up and f"--message deploy web@{shas['latest'][:8]} from latest by " in up
    assert "--config-file " in up, "the event travels in a config file of its own"
    assert not any(c.startswith("config ") and "gitops:app" in c for c in calls), "the stack file is never changed"
    assert "DEPLOY_URL=https://web.staging.example.com" in out and "DEPLOY_RESULT=success" in out


def test_a_merged_results_pipeline_deploys_the_mr_source_commit(
    engine: Path, app_clone: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    clone, shas = app_clone
    code, calls, out = release(
        engine,
        clone,
        tmp_path,
        "deploy",
        GITOPS_STACK="preview",
        CI_COMMIT_REF_NAME="refs/merge-requests/7/merge",
        CI_COMMIT_SHA=shas["merge"],  # the temporary merge commit: on no branch, the baseline would refuse it
        CI_MERGE_REQUEST_SOURCE_BRANCH_SHA=shas["feature/x"],
        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="feature/x",
    )
    assert code == 0, out
    stack = preview_stack("web", "feature/x")
    assert f"gitops:commit={shas['feature/x']}" in config_of(calls) and "gitops:branch=feature/x" in config_of(calls)
    (up,) = [c for c in calls if c.startswith("up ") or " up " in c]
    assert f"--stack {stack}" in up, "the preview's own stack"
    assert "gitops:domain=preview.example.com" in config_of(calls), "the shared preview stack's settings, copied"
    assert not any(c.startswith("config ") for c in calls), "copied as a file: no CLI call"
    assert "DEPLOY_URL=https://" + stack.removeprefix("preview-") + ".preview.example.com" in out


def test_stop_needs_no_clone_and_says_when_there_is_nothing_to_stop(
    engine: Path, app_clone: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    clone, _ = app_clone
    code, calls, out = release(
        engine, clone, tmp_path, "stop", GITOPS_STACK="preview", CI_COMMIT_REF_NAME="feature/gone"
    )
    assert code == 0, out
    assert "nothing to stop" in out and not [c for c in calls if " up " in c or " destroy " in c]


def test_a_failed_update_fails_the_job_and_says_so_for_the_report(
    engine: Path, app_clone: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    clone, shas = app_clone
    code, _, out = release(
        engine,
        clone,
        tmp_path,
        "deploy",
        GITOPS_STACK="prod",
        CI_COMMIT_REF_NAME="master",
        CI_COMMIT_SHA=shas["master"],
        STANDIN_FAIL_UP="1",
    )
    assert code == 2 and "DEPLOY_RESULT=failed" in out and "Traceback" not in out


def test_the_built_provider_is_the_release_the_python_sdk_asks_for() -> None:
    """The engine image and ``./dev cluster up`` install the built provider as plugin ``kubernetes`` at the
    version of tools/go/kubernetes-provider/VERSION; the engine looks it up at the version the Python SDK
    registers its resources with, so the two pins must be one release."""
    version = (ROOT / "tools" / "go" / "kubernetes-provider" / "VERSION").read_text().split("version:")[1].strip()
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    assert pins["pulumi-kubernetes"] == version
    assert importlib.metadata.version("pulumi_kubernetes") == version
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "tools/go/kubernetes-provider/VERSION" in dockerfile and "PULUMI_IGNORE_AMBIENT_PLUGINS=true" in dockerfile
