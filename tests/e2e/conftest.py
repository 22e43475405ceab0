"""The end-to-end tier: real API servers, the real Pulumi CLI and provider (built by tools/go/build.sh).

In CI (``CI`` or ``GITOPS_REQUIRE_TOOLS`` set) a tool that cannot be built fails the tier with one line;
elsewhere the tier is skipped with that line.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from gitops.localcluster.postgres import LocalPostgres
from gitops.localcluster.tools import ToolsError, build_tools
from tests.conftest import postgres_server
from tests.e2e.world import World, start_world


@pytest.fixture(scope="session")
def tools() -> dict[str, Path]:
    try:
        return build_tools(quiet=True)
    except ToolsError as exc:
        if os.environ.get("CI") or os.environ.get("GITOPS_REQUIRE_TOOLS"):
            pytest.fail(f"end-to-end tools missing: {exc}", pytrace=False)
        pytest.skip(f"end-to-end tools missing (run ./dev tools): {exc}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """The team backend's server (Debian's PostgreSQL), one per test process; each world gets its own
    databases and roles on it."""
    yield from postgres_server()


@pytest.fixture()
def world_factory(tmp_path: Path, tools: dict[str, Path], postgres: LocalPostgres) -> Iterator[Callable[..., World]]:
    """Fresh clusters for the given stacks, and a fresh backend (the team's PostgreSQL backend; ``backend=
    "file"`` for a test that needs the backend's files at hand); everything stopped afterwards."""
    started: list[World] = []

    def make(stacks: Sequence[str], *, backend: str = "postgres", catalog_text: str | None = None) -> World:
        server = postgres if backend == "postgres" else None
        folder = tmp_path / f"world{len(started)}"
        world = start_world(folder, tools, stacks, postgres=server, catalog_text=catalog_text)
        started.append(world)
        return world

    yield make
    for world in started:
        world.clusters.stop()
        _kill_leftovers(world.folder)


def _kill_leftovers(folder: Path) -> None:
    """Processes a test's killed job left behind (a SIGKILLed CLI's provider plugin and language host keep
    running: in CI the job's container ends them): any process run from, or naming, the world's folder."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        inside = f"{folder}/"
        if cwd == str(folder) or cwd.startswith(inside) or inside in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
