"""Pending operations in the checkpoint, judged with the fake CLI: a live update's steps in flight are not an
interruption (nothing is cleared or restored); an interrupted update's are cleared and its other apps put
back to what the stack records."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gitops.admin.stack import StackAdmin
from gitops.cli import main
from tests.fake_pulumi import FakeBackend, FakePulumiCommand
from tests.gitutil import GitRepo
from tests.harness import ROOT, digest_of

API_DEPLOYMENT = {
    "type": "updating",
    "resource": {
        "urn": "urn:pulumi:prod::gitops::gitops:env:AppEnvironment$gitops:app:Application$"
        "kubernetes:apps/v1:Deployment::prod-eu-api-prod-deploy",
        "type": "kubernetes:apps/v1:Deployment",
        "inputs": {"metadata": {"name": "api"}},
    },
}


@pytest.fixture()
def repo(tmp_path: Path) -> tuple[GitRepo, list[str]]:
    app = GitRepo(tmp_path / "app")
    return app, [app.head(), app.commit("m2")]


def _prod(repo: GitRepo, commit: str) -> FakeBackend:
    """prod with web and api released at ``commit``."""
    backend = FakeBackend("prod", ROOT, environ={"GITLAB_USER_LOGIN": "ci"})
    admin = StackAdmin("prod", ROOT, FakePulumiCommand(backend))
    admin.release({"action": "init"}, "init prod", on_output=lambda _: None)
    for app in ("web", "api"):
        event = {"app": app, "commit": commit, "branch": "master", "sourceRepo": str(repo.path)}
        admin.release({**event, "digest": digest_of(commit)}, f"deploy {app}", on_output=lambda _: None)
    return backend


def _release_web(backend: FakeBackend, repo: GitRepo, commit: str, dotenv: Path) -> int:
    argv = ["release", "--stack", "prod", "--app", "web", "--branch", "master", "--commit", commit]
    argv += ["--repo", str(repo.path), "--dotenv", str(dotenv), "--digest", digest_of(commit), "--lock-wait", "60"]
    return main(argv, pulumi_command=FakePulumiCommand(backend))


def _clears(backend: FakeBackend) -> list[dict[str, object]]:
    """The repairs that ran (a refused one is not recorded)."""
    return [item for item in backend.history if item["kind"] == "refresh" and item["message"].startswith("repair")]


def _restores(backend: FakeBackend) -> list[str]:
    return [
        item["message"]
        for item in backend.history
        if item["kind"] == "update" and item["message"].startswith("restore")
    ]


def test_pending_operations_of_a_live_update_are_waited_for_not_repaired(
    repo: tuple[GitRepo, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another job's release of api (m1 -> m2) is in flight when this release of web starts: the checkpoint
    shows its Deployment update pending and the stack is locked. When that update ends it has recorded api at
    m2; nothing may call that an interruption, clear it, or put api back to m1."""
    app, (m1, m2) = repo
    backend = _prod(app, m1)
    backend.pending_operations = [API_DEPLOYMENT]
    backend.locked_updates = 1

    def api_release_lands(b: FakeBackend) -> None:
        b.pending_operations = []
        b.outputs = copy.deepcopy(b.outputs)
        b.outputs["releases"]["api"]["commit"] = m2

    backend.holder_ends = api_release_lands
    monkeypatch.setattr("gitops.admin.stack.time.sleep", lambda _: None)

    assert _release_web(backend, app, m2, tmp_path / "deploy.env") == 0
    out = capsys.readouterr().out
    assert "interrupted" not in out and not _clears(backend), out
    assert backend.outputs["releases"]["api"]["commit"] == m2, "the other job's release of api stays"
    assert backend.outputs["releases"]["web"]["commit"] == m2
    assert not _restores(backend), "api is not put back"
    assert "interrupted" not in backend.history[-1]["message"]
    assert "interrupted" not in (tmp_path / "deploy.env").read_text()


def test_pending_operations_left_by_a_dead_update_are_cleared_and_its_apps_put_back(
    repo: tuple[GitRepo, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No update holds the lock: the pending operations were left by one that died. They are cleared, api is
    put back to the release the stack records, and the history and the report say so."""
    app, (m1, m2) = repo
    backend = _prod(app, m1)
    backend.pending_operations = [API_DEPLOYMENT]

    assert _release_web(backend, app, m2, tmp_path / "deploy.env") == 0
    out = capsys.readouterr().out
    assert "an earlier update was interrupted (left pending: updating Deployment api)" in out, out
    assert len(_clears(backend)) == 1 and not backend.pending_operations
    assert f"restoring api to its recorded release {m1[:8]} after the interruption" in out
    assert backend.outputs["releases"]["api"]["commit"] == m1 and len(_restores(backend)) == 1
    assert backend.outputs["releases"]["web"]["commit"] == m2
    assert "an earlier update was interrupted" in _restores(backend)[0], "the history says why api was put back"
    assert "an earlier update was interrupted" in (tmp_path / "deploy.env").read_text()


def test_status_on_a_backend_whose_lock_it_cannot_read_does_not_call_pending_operations_an_interruption(
    repo: tuple[GitRepo, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    app, (m1, _) = repo
    backend = _prod(app, m1)
    backend.pending_operations = [API_DEPLOYMENT]
    assert main(["status", "--stack", "prod"], pulumi_command=FakePulumiCommand(backend)) == 0
    out = capsys.readouterr().out
    assert "PENDING: updating Deployment api: an update runs, or one was interrupted" in out, out
    assert "INTERRUPTED" not in out
