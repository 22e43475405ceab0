"""``render``, ``sample`` and ``apps``: the program run offline (no backend, no cluster), and the catalog."""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitops.core.catalog import load_catalog
from gitops.core.errors import ConfigError
from gitops.core.naming import preview_stack
from gitops.core.stackfile import OFFLINE_SECRET, StackConfig, load_stack_config
from gitops.core.state import StackState
from gitops.offline.engine import RunResult, run_program
from gitops.offline.render import write_render
from gitops.offline.sample import SampleRepo, build_sample_repo

SAMPLE_NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _event_overrides(args: argparse.Namespace) -> dict[str, str]:
    pairs = {
        "app": args.app,
        "commit": args.commit,
        "branch": args.branch,
        "action": args.action,
        "reason": args.reason,
        "digest": args.digest,
    }
    overrides = {f"gitops:{k}": v for k, v in pairs.items() if v}
    if args.repo:
        overrides["gitops:sourceRepo"] = str(Path(args.repo).resolve())
    return overrides


def offline_run(
    stack: str,
    overrides: dict[str, str],
    *,
    now: datetime,
    previous: dict[str, Any] | None,
    root: Path,
    other_stacks: dict[str, Any] | None = None,
) -> RunResult:
    """One update offline. Secret values live only in the Pulumi backend, so declared app secrets and the
    shared preview stack's pull tokens the stack file cannot give are placeholders, still marked secret."""
    config = load_stack_config(root, stack).with_overrides(overrides)
    catalog = load_catalog(root / "apps.yaml")
    if "gitops:appSecrets" not in config.values:
        placeholders = {app: dict.fromkeys(spec.secrets, OFFLINE_SECRET) for app, spec in catalog.apps.items()}
        values = {**config.values, "gitops:appSecrets": json.dumps(placeholders)}
        config = StackConfig(values, [*config.secret_keys, "gitops:appSecrets"])
    if other_stacks is None:
        tokens = {app: {"username": f"gitops-preview-{app}", "token": OFFLINE_SECRET} for app in catalog.apps}
        other_stacks = {"preview": {"registry": tokens}}
    return run_program(stack, config, root=root, now=now, previous_outputs=previous, other_stacks=other_stacks)


def cmd_render(args: argparse.Namespace) -> int:
    """Without --state, render into a new (initialized, empty) stack: offline, nothing is at risk."""
    previous = _read_state_file(Path(args.state)) if args.state else StackState().to_outputs()
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    stack = preview_stack(args.app, args.branch) if args.stack == "preview" and args.app and args.branch else args.stack
    result = offline_run(stack, _event_overrides(args), now=now, previous=previous, root=args.root)
    print(write_render(result, stack, Path(args.out)), end="")
    return 0


def _read_state_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--state {path}: cannot read a JSON object of stack outputs ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--state {path}: expected a JSON object of stack outputs, got {type(data).__name__}")
    return data


def cmd_sample(args: argparse.Namespace) -> int:
    """Render every stack with a release of every app, from generated sample repositories: staging and
    prod hold every app (initialized once, state carried from release to release); each preview is its
    own stack, written under ``<out>/preview/``."""
    catalog = load_catalog(args.root / "apps.yaml")
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="gitops-sample-") as tmp:
        repos = {app: build_sample_repo(Path(tmp) / app, app) for app in sorted(catalog.apps)}
        for stack, branch in (("staging", "latest"), ("prod", "master")):
            state = offline_run(stack, {"gitops:action": "init"}, now=SAMPLE_NOW, previous=None, root=args.root).outputs
            for app, repo in repos.items():
                commit = repo.latest if branch == "latest" else repo.master
                event = {**_sample_event(app, repo, commit, branch), "gitops:digest": sample_digest(commit)}
                result = offline_run(stack, event, now=SAMPLE_NOW, previous=state, root=args.root)
                state = result.outputs
            print(write_render(result, stack, out), end="")
        # the GitLab side and the pull tokens
        shared = offline_run("preview", {}, now=SAMPLE_NOW, previous=None, root=args.root)
        print(write_render(shared, "preview", out / "preview"), end="")
        for app, repo in repos.items():
            stack = preview_stack(app, repo.feature_branch)
            event = {
                **_sample_event(app, repo, repo.feature, repo.feature_branch),
                "gitops:digest": sample_digest(repo.feature),
            }
            result = offline_run(
                stack, event, now=SAMPLE_NOW, previous=None, other_stacks={"preview": shared.outputs}, root=args.root
            )
            print(write_render(result, stack, out / "preview"), end="")
    print(f"manifests written under {out}/<stack>/<cluster>/ (previews: {out}/preview/<preview stack>/<cluster>/)")
    return 0


def sample_digest(commit: str) -> str:
    """The sample has no registry: a stand-in for the digest its build job would record."""
    return "sha256:" + hashlib.sha256(commit.encode()).hexdigest()


def _sample_event(app: str, repo: SampleRepo, commit: str, branch: str) -> dict[str, str]:
    return {"gitops:app": app, "gitops:commit": commit, "gitops:branch": branch, "gitops:sourceRepo": str(repo.path)}


def cmd_apps(args: argparse.Namespace) -> int:
    """``<app> <gitlab project>`` per line, for the scheduled sweep that clones every app."""
    for name, spec in sorted(load_catalog(args.root / "apps.yaml").apps.items()):
        print(name, spec.gitlab_project)
    return 0
