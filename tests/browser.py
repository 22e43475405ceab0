"""The dashboard page judged by real tools, not by our own parser: the Nu HTML Checker (``vnu.jar`` from npm's
``vnu-jar``, run with the machine's Java), axe-core's WCAG 2.x A/AA rules in Debian's Chromium (driven by
playwright-core: ``tools/judge-page.mjs``) and a full-page screenshot read back with Pillow. ``./dev test``
installs the npm packages, ``.ci/run`` installs ``chromium``; outside CI a missing tool skips its test, in CI
it fails it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"
VNU = TOOLS / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
JUDGE = TOOLS / "judge-page.mjs"


def _require(found: object, what: str, how: str) -> None:
    if found:
        return
    if os.environ.get("CI") or os.environ.get("GITOPS_REQUIRE_TOOLS"):
        pytest.fail(f"{what} is missing: {how}", pytrace=False)
    pytest.skip(f"{what} is not installed here ({how})")


def html_messages(page: Path) -> list[dict[str, Any]]:
    """Every message of the Nu HTML Checker on the page (errors, and warnings as ``subType`` warning)."""
    java = shutil.which("java")
    _require(java, "java", "the machine's JDK runs vnu.jar")
    _require(VNU.exists(), "vnu.jar", "./dev test installs tools/package.json with npm")
    done = subprocess.run(
        [str(java), "-jar", str(VNU), "--format", "json", "--also-check-css", str(page)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    messages: list[dict[str, Any]] = json.loads(done.stderr or done.stdout)["messages"]
    return messages


@dataclass(frozen=True)
class Judged:
    violations: list[dict[str, Any]]  # axe-core's, with the rule id, impact and the first nodes
    passes: int  # axe rules that passed (a run that checked nothing passes none)
    title: str
    screenshot: Path


def judge_in_chromium(page: Path, screenshot: Path) -> Judged:
    chromium = shutil.which("chromium")
    _require(chromium, "chromium", "apt-get install chromium (.ci/run does)")
    _require((TOOLS / "node_modules" / "playwright-core").exists(), "playwright-core", "./dev test installs it")
    done = subprocess.run(
        ["node", str(JUDGE), str(page), str(screenshot), str(chromium)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Judged(result["violations"], int(result["passes"]), str(result["title"]), screenshot)


def colours(screenshot: Path) -> dict[tuple[int, int, int], int]:
    """Pixel count per colour of the screenshot (a page that rendered nothing is one colour)."""
    with Image.open(screenshot) as image:
        counts = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return {(int(c[0]), int(c[1]), int(c[2])): n for n, c in counts if isinstance(c, tuple)}
