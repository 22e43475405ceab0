"""Production safety: no ordinary fault deletes, downgrades or hijacks a live staging/prod release.

The program runs for real under Pulumi's mock engine with real git repositories. What the real engine
does with the flags the program sets (``protect`` refuses a delete or a replacement) is cited in the
README ("Safety guarantees") from pulumi/pulumi's step executor; here we assert that every object the
engine would be asked to delete carries that flag, and that the program itself refuses first.
The release wrapper runs against the fake Pulumi CLI (tests/fake_pulumi.py), the one boundary that
cannot be real here; its ``up`` runs the real program and keeps outputs as the engine does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.admin.stack import LOCK_POLL_SECONDS, StackAdmin
from gitops.cli import main
from gitops.core.naming import preview_id
from gitops.offline.engine import ProgramRefused, RunResult
from tests.fake_pulumi import FakeBackend, FakePulumiCommand
from tests.gitutil import GitRepo
from tests.harness import APP_SECRETS, INITIALIZED, MISSING, ROOT, digest_of, run

PROVIDERS = "pulumi:providers:kubernetes"


@pytest.fixture()
def master(tmp_path: Path) -> tuple[GitRepo, list[str]]:
    """master: m1 - m2 - m3 (each contains the one before)."""
    repo = GitRepo(tmp_path / "app")
    return repo, [repo.head(), repo.commit("m2"), repo.commit("m3")]


def prod_with_web_and_api(repo: GitRepo, commit: str) -> RunResult:
    first = run("prod", repo=repo.path, app="web", commit=commit)
    return run("prod", repo=repo.path, previous=first.outputs, app="api", commit=commit)


def objects_of(result: RunResult, app: str) -> list[Any]:
    return [r for r in result.resources if r.is_kubernetes_object and f"-{app}-" in r.urn]


def test_every_staging_prod_object_and_provider_is_protected_and_no_preview_object_is(
    master: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    """protect is what makes the engine refuse to delete or replace a live object (step.go, DeleteStep)."""
    repo, (m1, *_) = master
    prod = prod_with_web_and_api(repo, m1)
    objects = [r for r in prod.resources if r.is_kubernetes_object]
    jobs = [r for r in objects if r.inputs["kind"] == "Job"]  # api's migration: replaced by each release's Job
    assert len(objects) > 40 and all(r.protect for r in objects if r not in jobs)
    assert len(jobs) == 2 and not any(r.protect for r in jobs)
    assert all(p.protect for p in prod.of_type(PROVIDERS)) and len(prod.of_type(PROVIDERS)) == 2
    branch = repo.branch_with_commit("feature/x", "master")
    preview = run("preview", repo=repo.path, app="web", commit=branch, branch="feature/x")
    assert not any(r.protect for r in preview.resources if r.custom)


def test_lost_state_refuses_before_registering_and_empty_state_cannot_delete(
    master: tuple[GitRepo, list[str]],
) -> None:
    repo, (m1, m2, _) = master
    live = prod_with_web_and_api(repo, m1)
    with pytest.raises(ProgramRefused, match="the prod stack has no recorded state") as err:
        run("prod", repo=repo.path, previous=MISSING, app="web", commit=m2)
    assert err.value.registered == []
    # A recorded but emptied state is indistinguishable from "nothing runs"; the engine is then asked to
    # delete api's objects, and each of them was registered protected by the update that created it.
    emptied = run("prod", repo=repo.path, previous=INITIALIZED, app="web", commit=m2)
    assert not objects_of(emptied, "api")
    assert objects_of(live, "api") and all(r.protect for r in objects_of(live, "api") if r.inputs["kind"] != "Job")


def test_retried_old_pipeline_is_refused_and_names_the_way_back(master: tuple[GitRepo, list[str]]) -> None:
    repo, (m1, m2, m3) = master
    state = run("prod", repo=repo.path, app="web", commit=m3).outputs
    for old in (m1, m2):
        with pytest.raises(ProgramRefused, match=f"outdated pipeline: web runs {m3[:8]}") as err:
            run("prod", repo=repo.path, previous=state, app="web", commit=old)
        assert f"python -m gitops rollback --stack prod --app web --to {old}" in str(err.value)
        assert err.value.registered == []
    again = run("prod", repo=repo.path, previous=state, app="web", commit=m3)
    assert again.outputs == state, "re-running the live commit's pipeline changes nothing"


def test_diverged_commit_is_not_a_fast_forward(master: tuple[GitRepo, list[str]]) -> None:
    repo, (m1, m2, _) = master
    state = run("prod", repo=repo.path, app="web", commit=m2).outputs
    repo.checkout("side", create_from=m1)
    repo.git("commit", "-q", "--allow-empty", "-m", "side work")
    side = repo.head()
    repo.checkout("master")
    repo.merge("side", "master")  # side is on master now, but does not contain m2
    with pytest.raises(ProgramRefused, match="outdated pipeline") as err:
        run("prod", repo=repo.path, previous=state, app="web", commit=side)
    assert err.value.registered == []


def test_retire_is_two_explicit_updates_and_only_then_may_the_catalog_drop_the_app(
    master: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, (m1, *_) = master
    live = prod_with_web_and_api(repo, m1)
    web_before = {r.urn: r.inputs for r in objects_of(live, "web")}

    unprotected = run("prod", previous=live.outputs, app="api", action="retire", reason="replaced by shop")
    assert unprotected.outputs["releases"]["api"]["retiring"] is True
    assert objects_of(unprotected, "api") and not any(r.protect for r in objects_of(unprotected, "api"))
    assert all(r.protect for r in objects_of(unprotected, "web"))
    assert any("retire api (1/2)" in line for line in unprotected.logs)

    removed = run("prod", previous=unprotected.outputs, app="api", action="retire", reason="replaced by shop")
    assert "api" not in removed.outputs["releases"] and not objects_of(removed, "api")
    assert {r.urn: r.inputs for r in objects_of(removed, "web")} == web_before

    without_api = tmp_path / "apps.yaml"
    without_api.write_text((ROOT / "apps.yaml").read_text().split("  api:")[0], encoding="utf-8")
    secrets = {"gitops:catalog": str(without_api), "gitops:appSecrets": json.dumps({"web": APP_SECRETS["web"]})}
    after = run("prod", previous=removed.outputs, extra=secrets, secret_keys=["gitops:appSecrets"])
    assert set(after.outputs["releases"]) == {"web"}


def test_a_deploy_cancels_a_half_done_retirement(master: tuple[GitRepo, list[str]]) -> None:
    repo, (m1, m2, _) = master
    live = run("prod", repo=repo.path, app="web", commit=m1)
    half = run("prod", previous=live.outputs, app="web", action="retire", reason="oops")
    redeployed = run("prod", repo=repo.path, previous=half.outputs, app="web", commit=m2)
    assert redeployed.outputs["releases"]["web"]["retiring"] is False
    assert all(r.protect for r in objects_of(redeployed, "web"))


def test_preview_of_an_app_removed_from_the_catalog_is_dropped_and_logged(tmp_path: Path) -> None:
    key = preview_id("api", "feature/x")
    preview = {
        "app": "api",
        "branch": "feature/x",
        "commit": "f" * 40,
        "namespace": key,
        "url": f"https://{key}.preview.example.com",
        "last_deployed": "2026-03-04T11:00:00Z",
    }
    only_web = tmp_path / "apps.yaml"
    only_web.write_text((ROOT / "apps.yaml").read_text().split("  api:")[0], encoding="utf-8")
    result = run(
        "preview", previous={**INITIALIZED, "previews": {key: preview}}, extra={"gitops:catalog": str(only_web)}
    )
    assert result.outputs["previews"] == {}
    assert any(f"dropped preview {key}: app api is no longer in the catalog" in line for line in result.logs)


# ---- the release wrapper (`python -m gitops release`) against the fake Pulumi CLI ----


def prod_backend(repo: GitRepo, commits: list[str]) -> FakeBackend:
    backend = FakeBackend("prod", ROOT, environ={"GITLAB_USER_LOGIN": "ci"})
    admin = StackAdmin("prod", ROOT, FakePulumiCommand(backend))
    admin.release({"action": "init"}, "init prod", on_output=lambda _: None)
    for commit in commits:
        event = {"app": "web", "commit": commit, "branch": "master", "sourceRepo": str(repo.path)}
        admin.release({**event, "digest": digest_of(commit)}, f"deploy web@{commit[:8]}", on_output=lambda _: None)
    return backend


def release_cli(backend: FakeBackend, repo: GitRepo, commit: str, dotenv: Path, *extra: str) -> int:
    argv = ["release", "--stack", "prod", "--app", "web", "--branch", "master", "--commit", commit]
    argv += ["--repo", str(repo.path), "--dotenv", str(dotenv), "--digest", digest_of(commit), *extra]
    return main(argv, pulumi_command=FakePulumiCommand(backend))


def test_failed_release_is_restored_to_the_last_good_one(
    master: tuple[GitRepo, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (m1, m2, m3) = master
    backend = prod_backend(repo, [m1, m2])
    backend.fail_commits.add(m3)  # its rollout never becomes ready; the engine keeps the new outputs
    dotenv = tmp_path / "deploy.env"
    assert release_cli(backend, repo, m3, dotenv) == 1
    out = capsys.readouterr().out
    assert f"restoring web in prod to {m2}" in out and f"runs {m2} again" in out
    web = backend.outputs["releases"]["web"]
    assert (web["commit"], web["action"], web["previous"]) == (m2, "restore", m3)
    updates = [h for h in backend.history if h["kind"] == "update"]
    results = [(h["result"], h["message"].split(" by ")[0]) for h in updates[-2:]]
    assert backend.history[-2]["kind"] == "refresh", "the restore reads the clusters back first"
    assert results == [
        ("failed", f"deploy web@{m3[:8]} from master"),
        ("succeeded", f"restore web from {m3[:8]} to {m2[:8]}"),
    ]
    assert (
        dotenv.read_text()
        == "DEPLOY_URL=https://web.example.com\n"
        + f"DEPLOY_RESULT=failed\nGITOPS_REASON=failed; {m2[:8]} restored automatically\n"
    )
    backend.fail_commits.clear()  # the cause is fixed: the same commit may be released again
    assert release_cli(backend, repo, m3, tmp_path / "again.env") == 0
    assert backend.outputs["releases"]["web"]["commit"] == m3


def test_a_refused_release_is_not_restored(master: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, (m1, m2, _) = master
    backend = prod_backend(repo, [m2])
    before = dict(backend.outputs)
    assert release_cli(backend, repo, m1, tmp_path / "deploy.env") == 2  # an outdated pipeline
    assert backend.outputs == before and [h["result"] for h in backend.history[-1:]] == ["failed"]
    assert sum(call[0] == "up" for call in backend.calls) == 3  # init, m2, the refused one: no restore


def test_first_release_that_fails_has_nothing_to_restore(master: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, (m1, *_) = master
    backend = prod_backend(repo, [])
    backend.fail_commits.add(m1)
    assert release_cli(backend, repo, m1, tmp_path / "deploy.env") == 2
    assert (tmp_path / "deploy.env").read_text() == "DEPLOY_URL=https://web.example.com\nDEPLOY_RESULT=failed\n"


def test_a_locked_stack_is_waited_for_then_released(
    master: tuple[GitRepo, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo, (m1, m2, _) = master
    backend = prod_backend(repo, [m1])
    backend.locked_updates = 2
    slept: list[float] = []
    monkeypatch.setattr("gitops.admin.stack.time.sleep", slept.append)
    assert release_cli(backend, repo, m2, tmp_path / "deploy.env", "--lock-wait", "1200") == 0
    assert "stack prod is locked by another update; waiting" in capsys.readouterr().out
    assert slept == [LOCK_POLL_SECONDS, LOCK_POLL_SECONDS] and backend.outputs["releases"]["web"]["commit"] == m2


def test_a_lock_that_outlasts_the_wait_changes_nothing(
    master: tuple[GitRepo, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (m1, m2, _) = master
    backend = prod_backend(repo, [m1])
    backend.locked_updates = 1
    before = dict(backend.outputs)
    assert release_cli(backend, repo, m2, tmp_path / "deploy.env", "--lock-wait", "0") == 2
    out = capsys.readouterr().out
    assert "still locked by another update after 0s (held by another update); nothing changed" in out
    assert "python -m gitops unlock --stack prod" in out, "the message names the way out of a dead holder's lock"
    assert backend.outputs == before


def test_init_retire_and_status_through_the_admin_commands(
    master: tuple[GitRepo, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (m1, *_) = master
    backend = FakeBackend("prod", ROOT)
    assert main(["status", "--stack", "prod"], pulumi_command=FakePulumiCommand(backend)) == 0
    assert "NO RECORDED STATE" in capsys.readouterr().out
    assert main(["init", "--stack", "prod"], pulumi_command=FakePulumiCommand(backend)) == 0
    assert main(["init", "--stack", "prod"], pulumi_command=FakePulumiCommand(backend)) == 2
    assert "already has a recorded state" in capsys.readouterr().err
    admin = StackAdmin("prod", ROOT, FakePulumiCommand(backend))
    event = {"app": "api", "commit": m1, "sourceRepo": str(repo.path), "digest": digest_of(m1)}
    admin.release(event, "deploy api", on_output=print)
    retire = ["retire", "--stack", "prod", "--app", "api", "--reason", "replaced", "--yes"]
    assert main(retire, pulumi_command=FakePulumiCommand(backend)) == 0
    assert backend.outputs["releases"] == {}
    retires = backend.history[-2:]
    assert [h["result"] for h in retires] == ["succeeded", "succeeded"]
    assert all(h["message"].startswith("retire api by ") and h["message"].endswith(": replaced") for h in retires)


def test_corrupted_state_is_a_one_line_error_in_admin_commands(capsys: pytest.CaptureFixture[str]) -> None:
    release = {"commit": "5", "branch": "master", "action": "deploy", "released_at": "2026-03-01T10:00:00Z"}
    backend = FakeBackend("prod", ROOT, outputs={**INITIALIZED, "releases": {"web": release}})
    for command in (["status", "--stack", "prod"], ["retire", "--stack", "prod", "--app", "web", "--reason", "x"]):
        assert main(command, pulumi_command=FakePulumiCommand(backend)) == 2
        err = capsys.readouterr().err
        assert "stack output releases.web.commit: must be a full 40-hex" in err and "Traceback" not in err


def engine(commit: str, sequence: int) -> dict[str, str]:
    return {"GITOPS_ENGINE_COMMIT": commit, "GITOPS_ENGINE_SEQUENCE": str(sequence)}


def test_the_engine_that_updates_a_stack_only_moves_forward(master: tuple[GitRepo, list[str]]) -> None:
    repo, (m1, *_) = master
    first = run("prod", repo=repo.path, app="web", commit=m1, environ=engine("a" * 40, 5))
    assert first.outputs["engine"] == {"commit": "a" * 40, "sequence": 5}
    newer = run("prod", previous=first.outputs, environ=engine("b" * 40, 6))
    assert newer.outputs["engine"] == {"commit": "b" * 40, "sequence": 6}
    for older, why in (
        (engine("a" * 40, 5), r"is older than the engine bbbbbbbb \(#6\)"),
        (engine("c" * 40, 6), "is not"),
    ):
        with pytest.raises(ProgramRefused, match=why) as err:
            run("prod", previous=newer.outputs, environ=older)
        assert err.value.registered == [] and "gitops:stable" in str(err.value)


def test_a_malformed_engine_identity_is_a_clear_error() -> None:
    with pytest.raises(ProgramRefused, match="GITOPS_ENGINE_COMMIT must be a 40-hex commit") as err:
        run("prod", environ={"GITOPS_ENGINE_COMMIT": "abc", "GITOPS_ENGINE_SEQUENCE": "x"})
    assert err.value.registered == []


TOKEN = "gitlab:index/projectDeployToken:ProjectDeployToken"
GATE = (
    "gitlab:index/branchProtection:BranchProtection",
    "gitlab:index/projectEnvironment:ProjectEnvironment",
    "gitlab:index/projectVariable:ProjectVariable",
)


def _gate_of(result: RunResult, app: str | None) -> list[Any]:
    """The gate resources of ``app``'s project (None: the deploy repo's), by the names ReleaseGate gives them."""
    found = [r for t in GATE for r in result.of_type(t)]
    if app is None:
        return [r for r in found if "deploy-project" in r.name or "/deploy" in r.name]
    return [r for r in found if f"-{app}-" in r.name or f"/{app}-" in r.name]


def test_what_guards_the_release_gate_is_protected_until_an_app_is_retired(master: tuple[GitRepo, list[str]]) -> None:
    """An engine that deletes what a program stops registering must refuse to delete a live app's branch
    protection, environment or CI/CD variables (and the deploy repo's): they are the release gate. Retire's
    first update unprotects the retiring app's, like its Kubernetes objects, and its registry deploy tokens."""
    repo, (m1, *_) = master
    credentials = {"gitops:ciVariables": json.dumps({"KUBECONFIG_B64": "a2ViZWNvbmZpZw=="})}
    first = run("prod", repo=repo.path, app="web", commit=m1, extra=credentials, secret_keys=["gitops:ciVariables"])
    live = run("prod", repo=repo.path, previous=first.outputs, app="api", commit=m1, extra=credentials,
               secret_keys=["gitops:ciVariables"])  # fmt: skip
    for app in ("web", "api"):
        gate = _gate_of(live, app)
        assert {r.type for r in gate} == set(GATE) and all(r.protect for r in gate), app
    assert _gate_of(live, None) and all(r.protect for r in _gate_of(live, None))
    tokens = live.of_type(TOKEN)
    assert len(tokens) == 2 and all(r.protect for r in tokens), "revoking one breaks the next image pull"

    unprotected = run("prod", previous=live.outputs, app="api", action="retire", reason="replaced by shop",
                      extra=credentials, secret_keys=["gitops:ciVariables"])  # fmt: skip
    assert _gate_of(unprotected, "api") and not any(r.protect for r in _gate_of(unprotected, "api"))
    assert [r.protect for r in sorted(unprotected.of_type(TOKEN), key=lambda r: r.name)] == [False, True]  # api, web
    assert all(r.protect for r in _gate_of(unprotected, "web"))
    targeted = run(
        "prod", repo=repo.path, previous=live.outputs, app="web", commit=m1, extra={"gitops:targeted": "true"}
    )
    assert not _gate_of(targeted, "web"), "a targeted release registers no gate resource: they stay as they are"
    preview = run("preview", repo=repo.path, app="web", commit=repo.branch_with_commit("feature/y", "master"),
                  branch="feature/y")  # fmt: skip
    assert not any(r.protect for r in preview.resources if r.type.startswith("gitlab:"))


def _gitlab(**changes: str) -> dict[str, str]:
    """prod's gitops:gitlab setting with ``changes``."""
    settings = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]["gitops:gitlab"]
    return {"gitops:gitlab": json.dumps({**settings, **changes})}


def test_a_pull_token_rotation_in_prod_is_explicit_and_deletes_nothing_in_use(
    master: tuple[GitRepo, list[str]],
) -> None:
    """Changing the rotation name alone would make the engine delete the protected tokens the running pods
    pull with: refused before anything changes, naming the two-step way. Step 1 keeps the old tokens,
    unprotected and unused; step 2 drops them."""
    repo, (m1, m2, _) = master
    live = run("prod", repo=repo.path, app="web", commit=m1)
    assert live.outputs["pullTokenRotation"] == "1"
    assert {r.name for r in live.of_type(TOKEN)} == {"prod-web-registry-pull-1", "prod-api-registry-pull-1"}

    rotated = _gitlab(registry_token_rotation="2")
    with pytest.raises(ProgramRefused, match="registry_token_rotation of prod changed from '1' to '2'") as err:
        run("prod", repo=repo.path, previous=live.outputs, app="web", commit=m2, extra=rotated)
    assert "retiring_registry_token_rotation: '1'" in str(err.value) and not err.value.registered

    moving = run("prod", repo=repo.path, previous=live.outputs, app="web", commit=m2,
                 extra=_gitlab(registry_token_rotation="2", retiring_registry_token_rotation="1"))  # fmt: skip
    protect = {r.name: r.protect for r in moving.of_type(TOKEN)}
    assert protect == {
        "prod-web-registry-pull-2": True, "prod-api-registry-pull-2": False,  # api does not run in prod
        "prod-web-registry-pull-1": False, "prod-api-registry-pull-1": False,
    }  # fmt: skip
    assert moving.outputs["pullTokenRotation"] == "2"
    pull = [r for r in moving.of_type("kubernetes:core/v1:Secret") if r.name.endswith("-web-prod-pull")]
    assert pull and all("gitops-prod-web" in json.dumps(r.inputs) for r in pull)

    done = run("prod", repo=repo.path, previous=moving.outputs, app="web", commit=m2, extra=rotated)
    assert {r.name for r in done.of_type(TOKEN)} == {"prod-web-registry-pull-2", "prod-api-registry-pull-2"}
    with pytest.raises(ProgramRefused, match="is the rotation in use"):
        run("prod", repo=repo.path, previous=done.outputs, app="web", commit=m2,
            extra=_gitlab(registry_token_rotation="2", retiring_registry_token_rotation="2"))  # fmt: skip


@pytest.mark.parametrize("carried", [7, "UPPER", "x" * 30, {"r": "1"}])
def test_a_malformed_carried_token_rotation_is_a_clear_error(carried: object) -> None:
    """The carried outputs are untrusted: a rotation record that is not a rotation name changes nothing."""
    with pytest.raises(ProgramRefused, match=r"stack output pullTokenRotation is .* not a rotation name") as err:
        run("prod", previous={**INITIALIZED, "pullTokenRotation": carried})
    assert err.value.registered == []
