"""The end-to-end tier: real API servers, the real Pulumi CLI and provider (built by tools/go/build.sh).

In CI (``CI`` or ``GITOPS_REQUIRE_TOOLS`` set) a tool that cannot be built fails the tier with one line;
elsewhere the tier is skipped with that line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from gitops.localcluster.tools import ToolsError, build_tools
from tests.e2e.world import World, start_world


@pytest.fixture(scope="session")
def tools() -> dict[str, Path]:
    try:
        return build_tools(quiet=True)
    except ToolsError as exc:
        if os.environ.get("CI") or os.environ.get("GITOPS_REQUIRE_TOOLS"):
            pytest.fail(f"end-to-end tools missing: {exc}", pytrace=False)
        pytest.skip(f"end-to-end tools missing (run ./dev tools): {exc}")


@pytest.fixture()
def world_factory(tmp_path: Path, tools: dict[str, Path]) -> Iterator[Callable[[Sequence[str]], World]]:
    """Fresh clusters for the given stacks, and a fresh backend; everything stopped afterwards."""
    started: list[World] = []

    def make(stacks: Sequence[str]) -> World:
        world = start_world(tmp_path / f"world{len(started)}", tools, stacks)
        started.append(world)
        return world

    yield make
    for world in started:
        world.clusters.stop()
