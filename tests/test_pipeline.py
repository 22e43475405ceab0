"""The pipeline files, judged by GitLab's CI schema (check-jsonschema) and gitlab-ci-local."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.core.environments import ENVIRONMENTS
from tests.harness import ROOT

PIPELINE = ROOT / "ci" / "pipeline.yml"
GITLAB_CI_LOCAL = ROOT / "tools" / "node_modules" / ".bin" / "gitlab-ci-local"
OVERRIDDEN = (
    "CI_COMMIT_BRANCH,CI_COMMIT_REF_NAME,CI_COMMIT_REF_SLUG,CI_PIPELINE_SOURCE,CI_OPEN_MERGE_REQUESTS,CI_COMMIT_TAG"
)


def jobs() -> dict[str, Any]:
    data = yaml.safe_load(PIPELINE.read_text())
    reserved = {"workflow", "stages", "variables", "include", "default"}
    return {k: v for k, v in data.items() if isinstance(v, dict) and k not in reserved and not k.startswith(".")}


@pytest.mark.parametrize("path", [PIPELINE, ROOT / ".gitlab-ci.yml"])
def test_pipeline_files_validate_against_gitlab_ci_schema(path: Path) -> None:
    tool = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.gitlab-ci", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_check_rejects_a_broken_pipeline(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("deploy:\n  script: [x]\n  environment: {name: prod, action: launch}\n")
    tool = Path(sys.executable).parent / "check-jsonschema"
    assert subprocess.run(
        [str(tool), "--builtin-schema", "vendor.gitlab-ci", str(broken)], capture_output=True
    ).returncode


def pipeline_repo(tmp_path_factory: pytest.TempPathFactory, name: str, files: dict[str, Path]) -> Path:
    """A git repository holding pipeline files (destination -> source), for gitlab-ci-local."""
    if not GITLAB_CI_LOCAL.exists():
        if os.environ.get("GITOPS_REQUIRE_TOOLS"):
            pytest.fail("gitlab-ci-local is missing: ./dev test installs it with npm (needs Node.js)")
        pytest.skip("gitlab-ci-local not installed (needs Node.js; ./dev test installs it)")
    repo = tmp_path_factory.mktemp(name)
    for destination, source in files.items():
        (repo / destination).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, repo / destination)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    for args in (["init", "-q", "-b", "master"], ["add", "."], ["commit", "-q", "-m", name]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    return repo


@pytest.fixture(scope="module")
def ci_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An app project: its pipeline is ci/pipeline.yml."""
    return pipeline_repo(tmp_path_factory, "app", {".gitlab-ci.yml": PIPELINE})


def active_jobs(repo: Path, **variables: str) -> dict[str, str]:
    """Jobs gitlab-ci-local's rules evaluation selects (name -> when), when:never left out."""
    args = [str(GITLAB_CI_LOCAL), "--list-json"]
    for key, value in variables.items():
        args += ["--variable", f"{key}={value}"]
    env = {**os.environ, "GCL_IGNORE_PREDEFINED_VARS": OVERRIDDEN}
    done = subprocess.run(args, cwd=repo, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout[done.stdout.index("[") :])
    return {job["name"]: job["when"] for job in listed if job["when"] != "never"}


def push(branch: str, **extra: str) -> dict[str, str]:
    slug = re.sub(r"[^a-z0-9]", "-", branch.lower()).strip("-")
    return {
        "GITOPS_APP": "web",
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_BRANCH": branch,
        "CI_COMMIT_REF_NAME": branch,
        "CI_COMMIT_REF_SLUG": slug,
        **extra,
    }


def stacks_of(selected: dict[str, str]) -> set[str]:
    """Which stacks the selected jobs run `pulumi up` on (from each job's GITOPS_STACK)."""
    return {
        jobs()[name]["variables"]["GITOPS_STACK"]
        for name in selected
        if "GITOPS_STACK" in jobs()[name].get("variables", {}) and name.startswith(("deploy", "stop", "prune"))
    }


APP_CODE = {"lint": "on_success", "unit-tests": "on_success", "build-image": "on_success", "report": "always"}
DASHBOARD = {"publish-dashboard": "always"}  # after a staging/prod release, a failed one too


def test_master_deploys_prod_only(ci_repo: Path) -> None:
    selected = active_jobs(ci_repo, **push("master"))
    assert selected == {**APP_CODE, "deploy-prod": "on_success", "verify-prod": "on_success", **DASHBOARD}
    assert stacks_of(selected) == {"prod"}


def test_latest_deploys_staging_only_even_with_an_open_release_mr(ci_repo: Path) -> None:
    selected = active_jobs(ci_repo, **push("latest", CI_OPEN_MERGE_REQUESTS="shop/web!7"))
    assert selected == {**APP_CODE, "deploy-staging": "on_success", "verify-staging": "on_success", **DASHBOARD}
    assert stacks_of(selected) == {"staging"}


def test_feature_branch_deploys_a_preview_with_a_manual_stop(ci_repo: Path) -> None:
    selected = active_jobs(ci_repo, **push("feature/login"))
    assert selected == {
        **APP_CODE,
        "deploy-preview": "on_success",
        "verify-preview": "on_success",
        "stop-preview": "manual",
    }
    assert stacks_of(selected) == {"preview"}


def test_mr_pipeline_deploys_a_preview(ci_repo: Path) -> None:
    mr = {
        "GITOPS_APP": "web",
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_COMMIT_BRANCH": "",
        "CI_COMMIT_REF_NAME": "feature/login",
        "CI_COMMIT_REF_SLUG": "feature-login",
    }
    selected = active_jobs(ci_repo, **mr)
    assert stacks_of(selected) == {"preview"} and selected["stop-preview"] == "manual"


def test_release_mr_from_latest_to_master_deploys_nothing(ci_repo: Path) -> None:
    mr = {
        "GITOPS_APP": "web",
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_COMMIT_BRANCH": "",
        "CI_COMMIT_REF_NAME": "latest",
        "CI_COMMIT_REF_SLUG": "latest",
    }
    assert active_jobs(ci_repo, **mr) == APP_CODE


def test_branch_push_with_open_mr_and_tags_run_nothing(ci_repo: Path) -> None:
    assert active_jobs(ci_repo, **push("feature/login", CI_OPEN_MERGE_REQUESTS="shop/web!3")) == {}
    tag = {
        "GITOPS_APP": "web",
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_BRANCH": "",
        "CI_COMMIT_TAG": "v1",
        "CI_COMMIT_REF_NAME": "v1",
    }
    assert active_jobs(ci_repo, **tag) == {}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"GITOPS_JOB": "prune"}, {"prune-previews": "on_success"}),
        ({"GITOPS_JOB": "drift", "GITOPS_STACK": "prod"}, {"drift-prod": "on_success"}),
        ({"GITOPS_JOB": "drift", "GITOPS_STACK": "staging"}, {"drift-staging": "on_success"}),
    ],
)
def test_schedules_run_only_their_job(ci_repo: Path, variables: dict[str, str], expected: dict[str, str]) -> None:
    schedule = {**push("master"), "CI_PIPELINE_SOURCE": "schedule", **variables}
    assert active_jobs(ci_repo, **schedule) == expected


def test_deploy_repo_push_runs_no_app_job(ci_repo: Path) -> None:
    assert active_jobs(ci_repo, **{**push("master"), "GITOPS_APP": ""}) == {}


def test_environments_resource_groups_and_stop_follow_the_baseline() -> None:
    defined = jobs()
    expected_env = {
        "deploy-preview": "review/$CI_COMMIT_REF_SLUG",
        "deploy-staging": "staging",
        "deploy-prod": "production",
        "stop-preview": "review/$CI_COMMIT_REF_SLUG",
    }
    for name, environment in expected_env.items():
        job = defined[name]
        assert job["environment"]["name"] == environment
        stack = job["variables"]["GITOPS_STACK"]  # a preview is its own stack: one resource group per branch
        suffix = "-$CI_COMMIT_REF_SLUG" if stack == "preview" else ""
        assert job["resource_group"] == f"gitops-{stack}{suffix}"
    preview = defined["deploy-preview"]["environment"]
    assert preview["on_stop"] == "stop-preview" and preview["auto_stop_in"] and preview["url"] == "$DEPLOY_URL"
    stop = defined["stop-preview"]
    assert stop["environment"]["action"] == "stop" and stop["variables"]["GIT_STRATEGY"] == "none"
    assert defined["unit-tests"]["artifacts"]["reports"]["junit"]
    data = yaml.safe_load(PIPELINE.read_text())
    assert data["variables"]["GIT_DEPTH"] == "0"
    branches = {ENVIRONMENTS[s].deploy_branch for s in ("staging", "prod")}
    assert branches == {"latest", "master"}


def test_ci_scripts_never_trace_or_echo_secrets() -> None:
    for script in (ROOT / "ci").glob("*.sh"):
        text = "\n".join(line for line in script.read_text().splitlines() if not line.lstrip().startswith("#"))
        assert "set -x" not in text and "set -o xtrace" not in text, script
        assert not re.search(
            r"echo[^\n]*\$\{?(KUBECONFIG_B64|PULUMI_ACCESS_TOKEN|CI_JOB_TOKEN|CI_REGISTRY_PASSWORD)", text
        )
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [*sorted((ROOT / "ci").glob("*.sh")), ROOT / "dev", ROOT / ".ci" / "run"]
    tool = Path(sys.executable).parent / "shellcheck"
    done = subprocess.run([str(tool), *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("branch", ["master", "latest", "feature/login"])
def test_needs_of_every_selected_job_are_selected_too(ci_repo: Path, branch: str) -> None:
    assert_needs_are_valid(ci_repo, push(branch))


def assert_needs_are_valid(repo: Path, variables: dict[str, str]) -> None:
    """gitlab-ci-local: every job a selected job needs is selected too."""
    args = [str(GITLAB_CI_LOCAL), "--validate-dependency-chain"]
    for key, value in variables.items():
        args += ["--variable", f"{key}={value}"]
    env = {**os.environ, "GCL_IGNORE_PREDEFINED_VARS": OVERRIDDEN}
    done = subprocess.run(args, cwd=repo, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "All job dependencies are valid" in done.stdout + done.stderr, done.stderr


@pytest.fixture(scope="module")
def deploy_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deploy repo's own pipeline: .gitlab-ci.yml including ci/pipeline.yml."""
    return pipeline_repo(
        tmp_path_factory, "deploy", {".gitlab-ci.yml": ROOT / ".gitlab-ci.yml", "ci/pipeline.yml": PIPELINE}
    )


def deploy_repo_push(branch: str, **extra: str) -> dict[str, str]:
    return {k: v for k, v in push(branch, **extra).items() if k != "GITOPS_APP"}


def test_deploy_repo_mr_plans_every_stack_and_posts_one_note(deploy_repo: Path) -> None:
    mr = {
        **deploy_repo_push("settings-change"),
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "master",
        "CI_MERGE_REQUEST_IID": "3",
    }
    selected = active_jobs(deploy_repo, **mr)
    assert selected == {
        "engine-tests": "on_success",
        "engine-image": "on_success",
        "plan-preview": "on_success",
        "plan-staging": "on_success",
        "plan-prod": "on_success",
        "plan-note": "always",
    }


def test_deploy_repo_merge_applies_every_stack_then_promotes_the_engine(deploy_repo: Path) -> None:
    selected = active_jobs(deploy_repo, **deploy_repo_push("master"))
    assert selected == {
        "engine-tests": "on_success",
        "engine-image": "on_success",
        "apply-preview": "on_success",
        "apply-staging": "on_success",
        "apply-prod": "on_success",
        "promote-engine": "on_success",  # automatic: the image apps use is the one that applied the stacks
    }
    defined = yaml.safe_load((deploy_repo / ".gitlab-ci.yml").read_text())
    assert defined["promote-engine"]["needs"] == ["apply-preview", "apply-staging", "apply-prod"]
    assert defined["apply-prod"]["needs"] == ["apply-staging"]


def test_deploy_repo_feature_push_and_schedules_apply_nothing(deploy_repo: Path) -> None:
    assert active_jobs(deploy_repo, **deploy_repo_push("some-branch")) == {"engine-tests": "on_success"}
    drift = {
        **deploy_repo_push("master"),
        "CI_PIPELINE_SOURCE": "schedule",
        "GITOPS_JOB": "drift",
        "GITOPS_STACK": "prod",
    }
    assert active_jobs(deploy_repo, **drift) == {"drift-prod": "on_success"}


@pytest.mark.parametrize("source", ["schedule", "pipeline"])
def test_the_dashboard_is_published_by_its_schedule_or_an_app_release_and_nothing_else_runs(
    deploy_repo: Path, source: str
) -> None:
    """``pipeline``: the downstream pipeline an app's publish-dashboard job triggers on the deploy project."""
    dashboard = {**deploy_repo_push("master"), "CI_PIPELINE_SOURCE": source, "GITOPS_JOB": "dashboard"}
    assert active_jobs(deploy_repo, **dashboard) == {"pages": "on_success"}
    assert active_jobs(deploy_repo, **{**dashboard, "CI_COMMIT_BRANCH": "x", "CI_COMMIT_REF_NAME": "x"}) == {}
    pages = yaml.safe_load((deploy_repo / ".gitlab-ci.yml").read_text())["pages"]
    assert pages["artifacts"]["paths"] == ["public"] and pages["environment"]["name"] == "dashboard"
    assert pages["script"][-1].startswith("/opt/gitops/ci/dashboard.sh")


def test_an_app_release_triggers_the_dashboard_without_its_own_variables() -> None:
    trigger = jobs()["publish-dashboard"]
    assert trigger["trigger"]["project"] == "platform/deploy" and trigger["trigger"]["branch"] == "master"
    assert trigger["trigger"]["forward"]["pipeline_variables"] is False
    assert trigger["variables"] == {"GITOPS_JOB": "dashboard"} and trigger["allow_failure"] is True
    assert {need["job"] for need in trigger["needs"]} == {"deploy-staging", "deploy-prod"}


def test_deploy_repo_needs_are_valid(deploy_repo: Path) -> None:
    mr = {
        **deploy_repo_push("x"),
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "master",
    }
    for variables in (deploy_repo_push("master"), mr):
        assert_needs_are_valid(deploy_repo, variables)


def test_a_deploy_freeze_holds_the_prod_job_instead_of_failing_it(ci_repo: Path) -> None:
    selected = active_jobs(ci_repo, **push("master", CI_DEPLOY_FREEZE="true"))
    assert selected["deploy-prod"] == "manual", "held: an admin runs it when the freeze is over"
    assert "allow_failure" not in jobs()["deploy-prod"], "a held manual job blocks the pipeline, it does not pass"
    assert active_jobs(ci_repo, **push("master"))["deploy-prod"] == "on_success"


def test_merged_results_pipeline_deploys_a_preview_of_the_source_commit(ci_repo: Path) -> None:
    merged_results = {
        **push("feature/login"),
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_COMMIT_BRANCH": "",
        "CI_COMMIT_REF_NAME": "refs/merge-requests/7/merge",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/login",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": "f" * 40,
    }
    selected = active_jobs(ci_repo, **merged_results)
    assert selected["deploy-preview"] == "on_success" and "deploy-staging" not in selected
    build = "\n".join(jobs()["build-image"]["script"])
    assert 'SOURCE_SHA="${CI_MERGE_REQUEST_SOURCE_BRANCH_SHA:-$CI_COMMIT_SHA}"' in build
    assert "name=$CI_REGISTRY_IMAGE:$SOURCE_SHA" in build
