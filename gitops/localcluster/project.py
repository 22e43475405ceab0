"""A project folder that runs this repo's program against local clusters with the real Pulumi CLI.

The program and catalog are a copy of this repo's, the virtualenv is linked; the stack files are the repo's
with local changes only: GitLab managed elsewhere (``gitops:gitlab.managed: false``, there is no GitLab
here), no freeze calendar, each cluster's kubeconfig and each app's pull credentials as Pulumi secrets.

State lives where a team keeps it: each environment in its own PostgreSQL database, reached with its own
role, its secrets under its own passphrase (``gitops.localcluster.postgres``). A one-person setup may keep
every stack in a file backend in the folder instead (``backend="file"``), each environment still under its
own passphrase.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from gitops.core.catalog import load_catalog
from gitops.core.environments import environment_for_stack
from gitops.localcluster.cluster import LocalClusters, kubeconfig_text
from gitops.localcluster.postgres import LocalPostgres

STACKS = ("preview", "staging", "prod")
# Copied, as the engine image holds a copy of the repo (the admin commands run the stacks of the folder
# their package lives in); the virtualenv is linked.
PROGRAM = ("__main__.py", "Pulumi.yaml", "apps.yaml", "gitops", "components", "ci")
ENVIRONMENTS = ("preview", "staging", "prod")
PROVIDER = "pulumi-resource-kubernetes"


@dataclass(frozen=True)
class LocalProject:
    folder: Path
    env: dict[str, str]  # what every command needs (the CLI, its home), whatever the stack
    environments: dict[str, dict[str, str]]  # per environment: its backend URL and passphrase, as CI's variables

    @property
    def workdir(self) -> Path:
        return self.folder / "project"

    def env_for(self, stack: str) -> dict[str, str]:
        """What a job of ``stack``'s environment has: the common settings and that environment's backend."""
        return {**self.env, **self.environments[environment_for_stack(stack).name]}

    def env_file(self, environment: str) -> str:
        values = {**self.env, **self.environments[environment]}
        return "".join(f"export {k}={_quote(v)}\n" for k, v in sorted(values.items()))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def stack_clusters(root: Path, stacks: Sequence[str] = STACKS) -> list[tuple[str, str]]:
    """(cluster name, kubeconfig context) of every cluster the stack files name, each once."""
    found: dict[str, str] = {}
    for stack in stacks:
        config = _stack_config(root, stack)
        for cluster in config.get("gitops:clusters", []):
            found.setdefault(cluster["name"], cluster.get("context") or cluster["name"])
    return sorted(found.items())


def _stack_config(root: Path, stack: str) -> dict[str, Any]:
    data = yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")) or {}
    config: dict[str, Any] = data.get("config") or {}
    return config


def local_stack_config(root: Path, stack: str, *, rollout_timeout: int | None = None) -> dict[str, Any]:
    """The repo's settings of ``stack`` with the local changes (see the module docstring); tests shorten
    the rollout deadline so a release that never becomes ready fails in seconds."""
    config = _stack_config(root, stack)
    if rollout_timeout is not None:
        config["gitops:rolloutTimeoutSeconds"] = rollout_timeout
    gitlab = dict(config.get("gitops:gitlab") or {})
    if gitlab:
        gitlab["managed"] = False
        gitlab.pop("freezes", None)
        config["gitops:gitlab"] = gitlab
    return config


def passphrase(environment: str) -> str:
    """Each environment's secrets under a passphrase of its own (local clusters only; CI's are masked variables)."""
    return f"local-clusters-only-{environment}"


def file_backends(folder: Path) -> dict[str, dict[str, str]]:
    """Every environment in one file backend in the folder, each under its own passphrase."""
    url = f"file://{folder / 'backend'}"
    return {e: {"PULUMI_BACKEND_URL": url, "PULUMI_CONFIG_PASSPHRASE": passphrase(e)} for e in ENVIRONMENTS}


def postgres_backends(server: LocalPostgres, prefix: str) -> dict[str, dict[str, str]]:
    """Each environment in its own database, reached with its own role (``LocalPostgres.create_environments``)."""
    made = server.create_environments(prefix, ENVIRONMENTS)
    # a person's `pulumi stack ls` must not hang either (gitops.admin.cli.postgres_safe_parallelism)
    return {
        e: {"PULUMI_BACKEND_URL": b.url, "PULUMI_CONFIG_PASSPHRASE": passphrase(e), "PULUMI_DIY_BACKEND_PARALLEL": "1"}
        for e, b in made.items()
    }


def tool_env(folder: Path, tools_bin: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the real CLI for this folder: its own Pulumi home (the backend and passphrase are
    the environment's: ``file_backends``, ``postgres_backends``)."""
    base = os.environ if base is None else base
    return {
        "PATH": f"{tools_bin}{os.pathsep}{base.get('PATH', '')}",
        "PULUMI_HOME": str(folder / "pulumi-home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",  # every plugin is installed; never download
        # the provider is found in PULUMI_HOME's plugins (install_provider), not as an ambient binary on PATH,
        # which the engine announces with a warning in every update's log
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
    }


def install_provider(project: LocalProject, tools_bin: Path) -> None:
    """Install the built Kubernetes provider into this folder's Pulumi home, at the version the Python SDK
    asks for (`pulumi plugin install --file`), as the engine image does at build time."""
    version = importlib.metadata.version("pulumi_kubernetes")
    done = subprocess.run(
        [str(tools_bin / "pulumi"), "plugin", "install", "resource", "kubernetes", f"v{version}",
         "--file", str(tools_bin / PROVIDER)],
        env={**os.environ, **project.env}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pulumi plugin install of the Kubernetes provider failed: {done.stderr.strip()[-500:]}")


def create_local_project(
    root: Path,
    folder: Path,
    clusters: LocalClusters,
    tools_bin: Path,
    stacks: Sequence[str] = STACKS,
    *,
    rollout_timeout: int | None = None,
    catalog_text: str | None = None,
    backends: dict[str, dict[str, str]] | None = None,
) -> LocalProject:
    """Lay out ``folder/project``, create the stacks in their environments' backends (default: a file backend
    in ``folder/backend``) and set their secrets."""
    workdir = folder / "project"
    workdir.mkdir(parents=True, exist_ok=True)
    (folder / "backend").mkdir(exist_ok=True)
    for name in PROGRAM:
        source, target = root / name, workdir / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    if catalog_text is not None:  # benchmarks: a catalog of many apps
        (workdir / "apps.yaml").write_text(catalog_text, encoding="utf-8")
    if not (workdir / ".venv").exists():
        (workdir / ".venv").symlink_to(root / ".venv")
    project = LocalProject(folder, tool_env(folder, tools_bin), backends or file_backends(folder))
    install_provider(project, tools_bin)
    catalog = load_catalog(workdir / "apps.yaml")
    command = auto.PulumiCommand(root=str(tools_bin.parent))  # <root>/bin/pulumi: the built CLI
    for stack in stacks:
        config = local_stack_config(root, stack, rollout_timeout=rollout_timeout)
        if catalog_text is not None:  # the repo's overrides name the repo's apps
            config.pop("gitops:overrides", None)
        (workdir / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        handle = auto.create_or_select_stack(
            stack_name=stack,
            work_dir=str(workdir),
            opts=auto.LocalWorkspaceOptions(
                secrets_provider="passphrase", env_vars=project.env_for(stack), pulumi_command=command
            ),
        )
        secrets = {
            f"gitops:kubeconfig-{c['name']}": kubeconfig_text(clusters.clusters[c["name"]], clusters.pki)
            for c in config.get("gitops:clusters", [])
        }
        for key, value in secrets.items():
            handle.set_config(key, auto.ConfigValue(value, secret=True))
        for app in sorted(catalog.apps):
            for field, value in (("username", "local"), ("token", f"local-pull-token-{stack}-{app}")):
                handle.set_config(
                    f"gitops:registryCredentials.{app}.{field}", auto.ConfigValue(value, secret=True), path=True
                )
            for name in catalog.apps[app].secrets:
                handle.set_config(
                    f"gitops:appSecrets.{app}.{name}", auto.ConfigValue(f"local-{stack}-{name}", secret=True), path=True
                )
    return project


def remove_local_project(folder: Path) -> None:
    shutil.rmtree(folder / "project", ignore_errors=True)
