"""The real engine and cluster binaries: built once by ``tools/go/build.sh`` into a cache keyed by the pins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = PROJECT_ROOT / "tools" / "go" / "build.sh"
NAMES = (
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-resource-kubernetes",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
    "kwok",
)


class ToolsError(RuntimeError):
    """The binaries could not be built; the message says which step failed."""


def build_tools(*, quiet: bool = False) -> dict[str, Path]:
    """Build what is missing (a cold build takes long: progress goes to stderr) and return NAME -> path.
    ``GITOPS_TOOLS_BIN`` names a folder of prebuilt binaries instead (its parent is the CLI's root)."""
    prebuilt = os.environ.get("GITOPS_TOOLS_BIN")
    if prebuilt:
        missing = [name for name in NAMES if not (Path(prebuilt) / name).exists()]
        if missing:
            raise ToolsError(f"GITOPS_TOOLS_BIN={prebuilt} lacks {', '.join(missing)}")
        return {name: Path(prebuilt) / name for name in NAMES}
    try:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT)],
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if quiet else sys.stderr,
            text=True,
        )
    except OSError as exc:
        raise ToolsError(f"cannot run {BUILD_SCRIPT}: {exc}") from None
    if done.returncode != 0:
        raise ToolsError(f"{BUILD_SCRIPT} failed (exit {done.returncode}); its output above says which build")
    found = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    missing = [name for name in NAMES if name not in found or not Path(found[name]).exists()]
    if missing:
        raise ToolsError(f"{BUILD_SCRIPT} did not produce: {', '.join(missing)}")
    return {name: Path(found[name]) for name in NAMES}


def tools_bin() -> Path:
    """The one folder holding every binary (put it first on PATH: the CLI finds its plugins there)."""
    return build_tools(quiet=True)["pulumi"].parent
