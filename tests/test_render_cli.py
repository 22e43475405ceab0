"""The offline render command, judged by kubernetes-validate --strict (an independent tool)."""

import json
import subprocess
import sys
from pathlib import Path

from tests.gitutil import GitRepo
from tests.harness import ROOT, digest_of

Repo = tuple[GitRepo, dict[str, str]]


def gitops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitops", *args], cwd=ROOT, capture_output=True, text=True)


def validate(files: list[Path]) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "kubernetes-validate"
    return subprocess.run([str(tool), "--strict", "--quiet", *map(str, files)], capture_output=True, text=True)


def test_sample_renders_all_three_stacks_and_every_manifest_validates_strictly(tmp_path: Path) -> None:
    done = gitops("sample", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "stack prod: 56 Kubernetes objects on 2 cluster(s)" in done.stdout
    files = sorted(tmp_path.rglob("*.yaml"))
    assert {p.relative_to(tmp_path).parts[0] for p in files} == {"preview", "staging", "prod"}
    assert len(files) == 29 + 28 + 56
    checked = validate(files)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    again = tmp_path / "again"
    assert gitops("sample", "--out", str(again)).returncode == 0
    for path in files:
        assert (again / path.relative_to(tmp_path)).read_text() == path.read_text(), "same inputs, same output"


def test_validator_rejects_a_broken_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicaz: 1}\n")
    assert validate([bad]).returncode != 0


def render_prod(commit: str, repo: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return gitops(
        "render", "--stack", "prod", "--app", "web", "--commit", commit, "--digest", digest_of(commit),
        "--repo", str(repo), "--out", str(out), *extra,
    )  # fmt: skip


def test_render_chains_state_and_fails_with_the_program_error(tmp_path: Path, web_repo: Repo) -> None:
    git, shas = web_repo
    first = render_prod(shas["master"], git.path, tmp_path / "a", "--now", "2026-03-04T12:00:00")
    assert first.returncode == 0, first.stderr
    state = tmp_path / "a" / "prod" / "outputs.json"
    assert json.loads(state.read_text())["releases"]["web"]["commit"] == shas["master"]
    refused = render_prod(shas["latest"], git.path, tmp_path / "b", "--state", str(state))
    assert refused.returncode == 2
    assert "refused: environment prod, branch 'master'" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "b").exists()
