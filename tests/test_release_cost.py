"""A staging/prod release touches only its app: ``gitops release`` runs ``pulumi up --target`` on the app's
components and the program registers only them (the real engine's side is proven in tests/e2e)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gitops.cli import main
from gitops.core.naming import app_component_urns
from gitops.offline.engine import ProgramRefused, RunResult
from tests.fake_pulumi import FakeBackend, FakePulumiCommand
from tests.gitutil import GitRepo
from tests.harness import INITIALIZED, ROOT, digest_of, run

APPLICATION = "gitops:app:Application"


def _components(result: RunResult, type_: str) -> set[str]:
    return {r.name for r in result.resources if r.type == type_}


def test_a_targeted_release_registers_only_its_app_and_carries_the_others(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "api")
    commit = repo.commit("api feature")
    previous = {
        "releases": {
            "web": {
                "commit": "a" * 40, "branch": "master", "action": "deploy", "released_at": "2026-03-01T10:00:00Z",
                "actor": "alice", "pipeline": "", "previous": None, "retiring": False, "digest": digest_of("a" * 40),
                "previous_digest": None,
            }
        },
        "previews": {},
        "holds": {},
    }  # fmt: skip

    full = run("prod", repo=repo.path, previous=previous, app="api", commit=commit, digest=digest_of(commit))
    targeted = run(
        "prod", repo=repo.path, previous=previous, app="api", commit=commit, digest=digest_of(commit), targeted="true"
    )

    assert _components(full, APPLICATION) == {"prod-eu-api-prod", "prod-us-api-prod", "prod-eu-web-prod",
                                                          "prod-us-web-prod"}  # fmt: skip
    assert _components(targeted, APPLICATION) == {"prod-eu-api-prod", "prod-us-api-prod"}
    assert targeted.outputs["releases"] == full.outputs["releases"]  # the state still holds every app
    gitlab = sorted(r.type.rsplit(":", 1)[-1] for r in targeted.resources if r.type.startswith("gitlab:"))
    assert gitlab == ["ProjectDeployToken"], gitlab  # only the pull token it needs; the rest stays untargeted
    assert len([r for r in full.resources if r.type.startswith("gitlab:")]) > 10
    assert set(targeted.outputs["releases"]) == {"web", "api"}


@pytest.mark.parametrize(
    ("stack", "event"),
    [
        ("preview-web-feature-x-1a2b3c4d", {"app": "web", "branch": "feature/x", "commit": "a" * 40}),
        ("prod", {"app": "web", "action": "retire", "reason": "gone"}),
        ("prod", {"action": "init"}),
    ],
    ids=["preview", "retire", "init"],
)
def test_targeted_is_refused_where_an_update_is_not_about_one_app(stack: str, event: dict[str, str]) -> None:
    with pytest.raises(ProgramRefused, match="gitops:targeted is for staging/prod"):
        run(stack, targeted="true", **event)  # type: ignore[arg-type]


def test_gitops_release_targets_the_apps_components_on_every_cluster(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "web")
    commit = repo.head()
    backend = FakeBackend("prod", ROOT, outputs=INITIALIZED, environ={"CI_PROJECT_DIR": str(repo.path)})
    argv = ["release", "--stack", "prod", "--app", "web", "--branch", "master", "--commit", commit]
    argv += ["--digest", digest_of(commit), "--repo", str(repo.path)]

    assert main(argv, pulumi_command=FakePulumiCommand(backend)) == 0

    up = next(call for call in backend.calls if call[0] == "up")
    assert "--target-dependents" in up
    assert backend.targets[-1] == app_component_urns("prod", "gitops", ["prod-eu", "prod-us"], "web", "prod")
    assert backend.history[-1]["config"]["gitops:targeted"]["value"] == "true"
    assert "gitops:targeted" not in (ROOT / "Pulumi.prod.yaml").read_text()  # the stack file is never changed


IMPORTS_OF_A_RUN = """
import sys
from pathlib import Path
from gitops.offline.sample import build_sample_repo
from tests.harness import run
repo = build_sample_repo(Path(sys.argv[1]), "web")
if sys.argv[2] == "preview":
    run("preview", repo=repo.path, app="web", branch=repo.feature_branch, commit=repo.feature)
else:
    run("staging", repo=repo.path, app="web", branch="latest", commit=repo.latest)
print("pulumi_gitlab" in sys.modules)
"""


@pytest.mark.parametrize(("stack", "imported"), [("preview", "False"), ("staging", "True")])
def test_a_preview_deploy_does_not_import_the_gitlab_provider(tmp_path: Path, stack: str, imported: str) -> None:
    """A preview stack declares no GitLab resource: importing pulumi_gitlab was a quarter of its start-up
    (benchmarks/bench_preview_fixed_cost.py). Staging declares GitLab resources, and shows the check sees it."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_OF_A_RUN, str(tmp_path / "web"), stack],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == imported
