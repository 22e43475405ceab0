"""A fresh machine has empty caches: the tools build must fetch every module it reads itself.

CI runs on the machine that submitted, whose Go module cache and tools cache are warm, so a step of
``tools/go/build.sh`` that reads a module's source folder without downloading it first passes there and
fails on a new machine (and in the engine image's build, which starts from nothing). This test runs the
build with an empty Go module cache and an empty tools cache; the Go build cache stays warm, so the
compiling is mostly cache hits and the test costs the downloads and the links.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from gitops.localcluster.tools import BUILD_SCRIPT, NAMES

BUILD_TIMEOUT = 3600  # downloads from the module proxy and links of every binary on 2 cores


def test_the_tools_build_from_an_empty_module_cache_and_an_empty_tools_cache(tmp_path: Path) -> None:
    modules, tools = tmp_path / "gomodcache", tmp_path / "tools"
    env = {**os.environ, "GOMODCACHE": str(modules), "GITOPS_TOOLS_CACHE": str(tools)}
    env.pop("GOFLAGS", None)
    try:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert done.returncode == 0, f"build.sh exited {done.returncode}:\n{done.stderr[-4000:]}"
        built = dict(line.split(" ", 1) for line in done.stdout.splitlines())
        assert set(built) == set(NAMES), done.stdout
        for name, path in built.items():
            binary = Path(path)
            assert binary.is_relative_to(tools), f"{name} came from outside the empty cache: {path}"
            assert binary.stat().st_size > 0 and os.access(binary, os.X_OK), path
        assert any((Path(built["kwok"]).parent / "kwok-stages").glob("pod-*.yaml")), "kwok's stages from its module"
        version = subprocess.run([built["pulumi"], "version"], capture_output=True, text=True, check=True, env=env)
        assert version.stdout.strip() == "v3.274.1"
        assert any(modules.iterdir()), "the modules were downloaded into the empty module cache"
    finally:
        # the module cache is read-only by design; Go removes it itself
        subprocess.run(["go", "clean", "-modcache"], env=env, capture_output=True, check=False)
        shutil.rmtree(tmp_path, ignore_errors=True)
