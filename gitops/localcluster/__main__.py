"""``./dev tools`` and ``./dev cluster up|down``: the real engine and local clusters for a person.

python -m gitops.localcluster tools                 build what is missing; one NAME PATH line per binary
python -m gitops.localcluster up [--dir DIR] [--file-backend]
                                                    start the clusters of every stack and the team backend
                                                    (PostgreSQL; or a file backend); print how to use them
python -m gitops.localcluster down [--dir DIR]      stop them
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gitops.localcluster.cluster import STATE_FILE, ClusterError, LocalClusters
from gitops.localcluster.postgres import LocalPostgres
from gitops.localcluster.project import (
    ENVIRONMENTS,
    STACKS,
    create_local_project,
    file_backends,
    local_stack_config,
    postgres_backends,
    stack_clusters,
)
from gitops.localcluster.tools import PROJECT_ROOT, ToolsError, build_tools

DEFAULT_DIR = PROJECT_ROOT / "build" / "clusters"
POSTGRES_STATE = "postgres.json"


def cmd_tools() -> int:
    for name, path in build_tools().items():
        print(f"{name} {path}")
    return 0


def cmd_up(folder: Path, *, file_backend: bool) -> int:
    tools = build_tools()
    clusters = LocalClusters.start(folder, stack_clusters(PROJECT_ROOT), tools)
    server = None
    try:
        if file_backend:
            backends, where = file_backends(folder), f"a file backend in {folder / 'backend'}"
        else:
            server = LocalPostgres.start()
            server.save(folder / POSTGRES_STATE)
            backends = postgres_backends(server, "gitops")
            where = f"PostgreSQL on 127.0.0.1:{server.port}, one database and role per environment"
        project = create_local_project(PROJECT_ROOT, folder, clusters, tools["pulumi"].parent, backends=backends)
    except BaseException:
        clusters.stop()
        if server is not None:
            server.stop()
        raise
    for environment in ENVIRONMENTS:
        (folder / f"local-{environment}.env").write_text(project.env_file(environment), encoding="utf-8")
    print(f"local clusters running in {folder} (logs: {folder / 'logs'})")
    for name, cluster in sorted(clusters.clusters.items()):
        print(f"  {name:10} {cluster.server}  kubeconfig {cluster.kubeconfig}")
    print(f"\nstacks (state: {where}; each environment's URL and passphrase in {folder}/local-<environment>.env):")
    for stack in STACKS:
        names = [c["name"] for c in local_stack_config(PROJECT_ROOT, stack).get("gitops:clusters", [])]
        print(f"  {stack:8} -> {', '.join(names)}")
    print(
        f"\nuse them with the real CLI, one environment per shell as CI's jobs do:\n"
        f"  source {folder}/local-staging.env && cd {project.workdir}\n"
        "  .venv/bin/python -m gitops init --stack staging\n"
        "  pulumi stack history --stack staging\n"
        f"stop them: ./dev cluster down --dir {folder}"
    )
    return 0


def cmd_down(folder: Path) -> int:
    stopped = False
    if (folder / POSTGRES_STATE).exists():
        LocalPostgres.attach(folder / POSTGRES_STATE).stop()
        (folder / POSTGRES_STATE).unlink()
        stopped = True
    if (folder / STATE_FILE).exists():
        LocalClusters.attach(folder).stop()
        stopped = True
    print(f"stopped the clusters in {folder}" if stopped else f"no clusters running in {folder}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tools", help="build the real engine and cluster binaries; print NAME PATH lines")
    for name in ("up", "down"):
        command = sub.add_parser(name, help=f"{name}: the local clusters of every stack")
        command.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"default {DEFAULT_DIR}")
        if name == "up":
            command.add_argument(
                "--file-backend", action="store_true", help="keep the state in a file backend (one person)"
            )
    args = parser.parse_args(argv)
    try:
        if args.command == "tools":
            return cmd_tools()
        folder = args.dir.resolve()
        return cmd_up(folder, file_backend=args.file_backend) if args.command == "up" else cmd_down(folder)
    except (ToolsError, ClusterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
