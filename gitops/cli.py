"""``python -m gitops``: the offline render, the built-in sample, the admin commands and the report step."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from gitops.admin.commands import add_admin_commands
from gitops.admin.shared import served_url
from gitops.core.catalog import load_catalog
from gitops.core.errors import ConfigError, GitOpsError
from gitops.core.naming import preview_stack
from gitops.core.stackfile import OFFLINE_SECRET, StackConfig, load_stack_config
from gitops.core.state import StackState
from gitops.notify.cli import add_notify_command
from gitops.offline.engine import ProgramRefused, RunResult, run_program
from gitops.offline.render import write_render
from gitops.offline.sample import SampleRepo, build_sample_repo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
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
    root: Path = PROJECT_ROOT,
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
    result = offline_run(stack, _event_overrides(args), now=now, previous=previous)
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
    catalog = load_catalog(PROJECT_ROOT / "apps.yaml")
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="gitops-sample-") as tmp:
        repos = {app: build_sample_repo(Path(tmp) / app, app) for app in sorted(catalog.apps)}
        for stack, branch in (("staging", "latest"), ("prod", "master")):
            state = offline_run(stack, {"gitops:action": "init"}, now=SAMPLE_NOW, previous=None).outputs
            for app, repo in repos.items():
                commit = repo.latest if branch == "latest" else repo.master
                event = {**_sample_event(app, repo, commit, branch), "gitops:digest": sample_digest(commit)}
                result = offline_run(stack, event, now=SAMPLE_NOW, previous=state)
                state = result.outputs
            print(write_render(result, stack, out), end="")
        shared = offline_run("preview", {}, now=SAMPLE_NOW, previous=None)  # the GitLab side and the pull tokens
        print(write_render(shared, "preview", out / "preview"), end="")
        for app, repo in repos.items():
            stack = preview_stack(app, repo.feature_branch)
            event = {
                **_sample_event(app, repo, repo.feature, repo.feature_branch),
                "gitops:digest": sample_digest(repo.feature),
            }
            result = offline_run(stack, event, now=SAMPLE_NOW, previous=None, other_stacks={"preview": shared.outputs})
            print(write_render(result, stack, out / "preview"), end="")
    print(f"manifests written under {out}/<stack>/<cluster>/ (previews: {out}/preview/<preview stack>/<cluster>/)")
    return 0


def sample_digest(commit: str) -> str:
    """The sample has no registry: a stand-in for the digest its build job would record."""
    return "sha256:" + hashlib.sha256(commit.encode()).hexdigest()


def _sample_event(app: str, repo: SampleRepo, commit: str, branch: str) -> dict[str, str]:
    return {"gitops:app": app, "gitops:commit": commit, "gitops:branch": branch, "gitops:sourceRepo": str(repo.path)}


def cmd_url(args: argparse.Namespace) -> int:
    """The URL a release is served at (``gitops release`` writes it to deploy.env itself)."""
    print(served_url(PROJECT_ROOT, args.stack, args.app, args.branch))
    return 0


def cmd_apps(args: argparse.Namespace) -> int:
    """``<app> <gitlab project>`` per line, for the scheduled sweep that clones every app."""
    for name, spec in sorted(load_catalog(PROJECT_ROOT / "apps.yaml").apps.items()):
        print(name, spec.gitlab_project)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gitops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="run the program offline and write the Kubernetes YAML it would apply")
    render.add_argument("--stack", required=True, help="preview, staging or prod")
    render.add_argument("--app")
    render.add_argument("--commit", help="full 40-hex commit SHA")
    render.add_argument("--branch")
    render.add_argument("--action", help="deploy (default), stop, rollback, clear-hold")
    render.add_argument("--reason")
    render.add_argument("--digest", help="sha256:<hex> of the image (required on staging/prod)")
    render.add_argument("--repo", help="local clone of the app's source repository")
    render.add_argument("--state", help="JSON of the stack's previous outputs (e.g. a previous outputs.json)")
    render.add_argument("--now", help="ISO timestamp to use as the current time")
    render.add_argument("--out", required=True, help="directory for the manifests")
    render.set_defaults(func=cmd_render)

    sample = sub.add_parser("sample", help="render all three stacks of the sample catalog (offline)")
    sample.add_argument("--out", default="build/sample")
    sample.set_defaults(func=cmd_sample)
    url = sub.add_parser("url", help="print the URL of an app in a stack (preview: per branch)")
    url.add_argument("--stack", required=True)
    url.add_argument("--app", required=True)
    url.add_argument("--branch")
    url.set_defaults(func=cmd_url)

    apps = sub.add_parser("apps", help="list catalog apps and their GitLab projects")
    apps.set_defaults(func=cmd_apps)
    add_admin_commands(sub)
    add_notify_command(sub)
    return parser


def _line_buffered() -> None:
    """A CI job's log is a pipe, which Python buffers in blocks: a line such as "baking web for 600s" would
    show only when the next block fills, and a job killed meanwhile (its timeout, a lost runner) would lose
    it. Each line goes out as it is written."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)


def command_error_line(exc: auto.CommandError) -> str:
    """The line of a failed Pulumi CLI call that says why, bounded: the first ``error:`` line (the CLI prints
    the cause in its diagnostics before the closing "update failed")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    chosen = (errors or lines or ["(no output)"])[0]
    return chosen.removeprefix("error:").strip()[:500]


def main(argv: Sequence[str] | None = None, *, pulumi_command: auto.PulumiCommand | None = None) -> int:
    """``pulumi_command`` replaces the Pulumi CLI behind the Automation API (tests use a fake)."""
    _line_buffered()
    args = build_parser().parse_args(argv)
    args.pulumi_command = pulumi_command
    args.root = PROJECT_ROOT
    try:
        return int(args.func(args))
    except (GitOpsError, ProgramRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except auto.CommandError as exc:
        print(f"error: pulumi failed: {command_error_line(exc)}", file=sys.stderr)
        return 2
