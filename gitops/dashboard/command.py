"""``gitops dashboard --out DIR``: the page, from each environment's backend given by a read-only URL."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import yaml

from gitops.admin.backend_store import backend_store
from gitops.core.catalog import load_catalog
from gitops.core.errors import GitOpsError
from gitops.core.gitrepo import clone_argument
from gitops.core.settings import StackSettings, stack_settings
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
    settings = _settings(root)
    links = _links(root, settings)
    clones = dict(clone_argument(text) for text in args.repo)
    shipped = shipped_merge_requests(views, clones, links.projects)
    ttl = settings["preview"].preview.ttl_hours if "preview" in settings else None
    clusters = {env: [c.name for c in found.clusters] for env, found in settings.items() if env != "preview"}
    html = render(views, links, now, ttl_hours=ttl, clusters=clusters, shipped=shipped)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(html, encoding="utf-8")
    print(f"dashboard written to {out / 'index.html'}")
    return 0


def _settings(root: Path) -> dict[str, StackSettings]:
    """Each environment's settings from its stack file; one that does not parse is left out (the page then
    shows one column for its clusters, links to gitlab.com, no TTL)."""
    found = {}
    for environment in ENVIRONMENTS:
        try:
            found[environment] = stack_settings(root, environment)
        except (GitOpsError, OSError):
            continue
    return found


def _links(root: Path, settings: Mapping[str, StackSettings]) -> Links:
    projects = {name: spec.gitlab_project for name, spec in load_catalog(root / "apps.yaml").apps.items()}
    gitlab = settings["prod"].gitlab if "prod" in settings else None
    base = gitlab.base_url if gitlab is not None else "https://gitlab.com/api/v4"
    return Links(base.removesuffix("/").removesuffix("/api/v4"), projects)
