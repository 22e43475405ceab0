"""Shared fixtures: a real app repository per test."""

from pathlib import Path

import pytest

from tests.gitutil import GitRepo, standard_repo


@pytest.fixture()
def web_repo(tmp_path: Path) -> tuple[GitRepo, dict[str, str]]:
    return standard_repo(tmp_path / "web")
