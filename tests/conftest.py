"""Shared fixtures: a real app repository per test; no test leaves files in the repository."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops.localcluster.cluster import ClusterError
from gitops.localcluster.postgres import LocalPostgres
from tests.gitutil import GitRepo, standard_repo


@pytest.fixture(autouse=True)
def no_real_notifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """Admin commands notify; in tests only channels a test points at 127.0.0.1 may be used."""
    monkeypatch.setenv("GITOPS_NOTIFY_CONFIG", '{"gitlab_card": false}')
    for name in ("GITOPS_NOTIFY_TOKEN", "DINGTALK_WEBHOOK", "SLACK_WEBHOOK_URL", "SMTP_PASSWORD", "CI_API_V4_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def no_real_backend(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """gitops reads the backend the CLI would use (locks, the stack index): never the one a person running
    the tests is logged in to. A test that wants a backend sets PULUMI_BACKEND_URL itself."""
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path_factory.getbasetemp() / "pulumi-home"))


@pytest.fixture()
def web_repo(tmp_path: Path) -> tuple[GitRepo, dict[str, str]]:
    return standard_repo(tmp_path / "web")


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def repository_untouched() -> Iterator[None]:
    """A test that writes a stack file into the repository (a preview's, copied from the shared stack) would
    leave it to be committed by mistake: the session fails instead."""
    before = set(REPO.glob("Pulumi.*.yaml"))
    yield
    added = sorted(p.name for p in set(REPO.glob("Pulumi.*.yaml")) - before)
    for name in added:
        (REPO / name).unlink()
    assert not added, f"tests wrote stack files into the repository (now removed): {added}"


def postgres_server() -> Iterator[LocalPostgres]:
    """A PostgreSQL server for a fixture's scope (Debian's ``postgresql``); in CI one that cannot start fails
    the tests, elsewhere it skips them with the reason."""
    try:
        server = LocalPostgres.start()
    except ClusterError as exc:
        if os.environ.get("CI") or os.environ.get("GITOPS_REQUIRE_TOOLS"):
            pytest.fail(f"PostgreSQL cannot start: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL cannot start here (apt-get install postgresql): {exc}")
    yield server
    server.stop()
