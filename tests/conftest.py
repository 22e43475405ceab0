"""Shared fixtures: a real app repository per test."""

from pathlib import Path

import pytest

from tests.gitutil import GitRepo, standard_repo


@pytest.fixture(autouse=True)
def no_real_notifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """Admin commands notify; in tests only channels a test points at 127.0.0.1 may be used."""
    monkeypatch.setenv("GITOPS_NOTIFY_CONFIG", '{"gitlab_card": false}')
    for name in ("GITOPS_NOTIFY_TOKEN", "DINGTALK_WEBHOOK", "SLACK_WEBHOOK_URL", "SMTP_PASSWORD", "CI_API_V4_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def web_repo(tmp_path: Path) -> tuple[GitRepo, dict[str, str]]:
    return standard_repo(tmp_path / "web")
