"""``./dev tools`` and ``./dev cluster up|down``: the real engine and local clusters for a person.

python -m gitops.localcluster tools                 build what is missing; one NAME PATH line per binary
python -m gitops.localcluster up [--dir DIR]        start the clusters of every stack; print how to use them
python -m gitops.localcluster down [--dir DIR]      stop them
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gitops.localcluster.cluster import STATE_FILE, ClusterError, LocalClusters
from gitops.localcluster.project import STACKS, create_local_project, local_stack_config, stack_clusters
from gitops.localcluster.tools import PROJECT_ROOT, ToolsError, build_tools

DEFAULT_DIR = PROJECT_ROOT / "build" / "clusters"


def cmd_tools() -> int:
    for name, path in build_tools().items():
        print(f"{name} {path}")
    return 0


def cmd_up(folder: Path) -> int:
    tools = build_tools()
    clusters = LocalClusters.start(folder, stack_clusters(PROJECT_ROOT), tools)
    project = create_local_project(PROJECT_ROOT, folder, clusters, tools["pulumi"].parent)
    env_file = folder / "local.env"
    env_file.write_text(project.env_file(), encoding="utf-8")
    print(f"local clusters running in {folder} (logs: {folder / 'logs'})")
    for name, cluster in sorted(clusters.clusters.items()):
        print(f"  {name:10} {cluster.server}  kubeconfig {cluster.kubeconfig}")
    print(f"\nstacks (state: {folder / 'backend'}, passphrase in {env_file}):")
    for stack in STACKS:
        names = [c["name"] for c in local_stack_config(PROJECT_ROOT, stack).get("gitops:clusters", [])]
        print(f"  {stack:8} -> {', '.join(names)}")
    print(
        f"\nuse them with the real CLI:\n  source {env_file} && cd {project.workdir}\n"
        "  .venv/bin/python -m gitops init --stack staging\n"
        "  pulumi stack history --stack staging\n"
        f"stop them: ./dev cluster down --dir {folder}"
    )
    return 0


def cmd_down(folder: Path) -> int:
    if not (folder / STATE_FILE).exists():
        print(f"no clusters running in {folder}")
        return 0
    LocalClusters.attach(folder).stop()
    print(f"stopped the clusters in {folder}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tools", help="build the real engine and cluster binaries; print NAME PATH lines")
    for name in ("up", "down"):
        command = sub.add_parser(name, help=f"{name}: the local clusters of every stack")
        command.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"default {DEFAULT_DIR}")
    args = parser.parse_args(argv)
    try:
        if args.command == "tools":
            return cmd_tools()
        folder = args.dir.resolve()
        return cmd_up(folder) if args.command == "up" else cmd_down(folder)
    except (ToolsError, ClusterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
