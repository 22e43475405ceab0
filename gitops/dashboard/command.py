"""``gitops dashboard --out DIR``: the page, from each environment's backend given by a read-only URL."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import yaml

from gitops.admin.backend_store import backend_store
from gitops.admin.previews import preview_policy
from gitops.core.catalog import load_catalog
from gitops.core.errors import GitOpsError
from gitops.core.gitrepo import clone_argument
from gitops.core.settings import stack_settings
from gitops.core.stackfile import load_stack_config
from gitops.dashboard.page import Links, render
from gitops.dashboard.read import EnvironmentView, read_environment
from gitops.dashboard.shipped import shipped_merge_requests

ENVIRONMENTS = ("prod", "staging", "preview")


def url_variable(environment: str) -> str:
    """The masked CI variable holding that environment's read-only backend URL (never on a command line)."""
    return f"GITOPS_STATE_URL_{environment.upper()}"


def cmd_dashboard(args: argparse.Namespace) -> int:
    root: Path = args.root
    project = str(yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))["name"])
    views = []
    for environment in ENVIRONMENTS:
        url = os.environ.get(url_variable(environment), "")
        store = backend_store({"PULUMI_BACKEND_URL": url}) if url else None
        if not url:
            views.append(EnvironmentView(environment, "-", problem=f"no backend given ({url_variable(environment)})"))
        elif store is None:
            views.append(EnvironmentView(environment, url.split(":", 1)[0] + "://…",
                                         problem="the page reads file:// and postgres:// backends only"))  # fmt: skip
        else:
            views.append(read_environment(environment, store, project, previews=environment == "preview"))
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC).replace(tzinfo=None)
    links = _links(root)
    clones = dict(clone_argument(text) for text in args.repo)
    shipped = shipped_merge_requests(views, clones, links.projects)
    html = render(views, links, now, ttl_hours=_ttl(root), clusters=_clusters(root), shipped=shipped)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(html, encoding="utf-8")
    print(f"dashboard written to {out / 'index.html'}")
    return 0


def _links(root: Path) -> Links:
    projects = {name: spec.gitlab_project for name, spec in load_catalog(root / "apps.yaml").apps.items()}
    try:
        gitlab: object = load_stack_config(root, "prod").values.get("gitops:gitlab") or "{}"
        gitlab = json.loads(gitlab) if isinstance(gitlab, str) else gitlab
        base = str((gitlab if isinstance(gitlab, dict) else {}).get("base_url", "https://gitlab.com/api/v4"))
    except (GitOpsError, OSError, ValueError):
        base = "https://gitlab.com/api/v4"
    return Links(base.removesuffix("/").removesuffix("/api/v4"), projects)


def _ttl(root: Path) -> int | None:
    try:
        return preview_policy(root).ttl_hours
    except (GitOpsError, OSError):
        return None


def _clusters(root: Path) -> dict[str, list[str]]:
    """Each staging/prod stack's clusters, from its settings (a stack file that does not parse leaves the
    matrix one column for that environment)."""
    found = {}
    for environment in ENVIRONMENTS:
        if environment == "preview":
            continue
        try:
            found[environment] = [c.name for c in stack_settings(root, environment).clusters]
        except (GitOpsError, OSError):
            continue
    return found
