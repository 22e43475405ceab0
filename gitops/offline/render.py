"""Write what an offline run would deploy: kubectl-applyable YAML per cluster, plus a summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from gitops.offline.engine import Registered, RunResult


def _cluster_of(resource: Registered, providers: dict[str, str]) -> str:
    urn = resource.provider.rsplit("::", 1)[0] if resource.provider else ""
    return providers.get(urn, "default")


def _file_name(manifest: dict[str, Any]) -> str:
    meta = manifest.get("metadata", {})
    parts = [meta.get("namespace", "_cluster"), manifest["kind"].lower(), meta.get("name", "unnamed")]
    return "-".join(parts) + ".yaml"


def write_render(result: RunResult, stack: str, out: Path) -> str:
    """Write ``<out>/<stack>/<cluster>/*.yaml``, ``outputs.json`` and return the summary text."""
    base = out / stack
    base.mkdir(parents=True, exist_ok=True)
    providers = {
        r.urn: r.name.removeprefix(f"{stack}-") for r in result.resources if r.type == "pulumi:providers:kubernetes"
    }
    counts: Counter[tuple[str, str]] = Counter()
    for resource in sorted((r for r in result.resources if r.is_kubernetes_object), key=lambda r: r.urn):
        cluster = _cluster_of(resource, providers)
        target = base / cluster / _file_name(resource.inputs)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(resource.inputs, sort_keys=True), encoding="utf-8")
        counts[(cluster, resource.inputs["kind"])] += 1
    (base / "outputs.json").write_text(json.dumps(result.outputs, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    lines = [f"stack {stack}: {sum(counts.values())} Kubernetes objects on {len(providers)} cluster(s)"]
    for cluster in sorted({c for c, _ in counts}):
        kinds = ", ".join(f"{n} {k}" for (c, k), n in sorted(counts.items()) if c == cluster)
        lines.append(f"  {cluster}: {kinds}")
    gitlab_kinds = Counter(r.type.split(":")[-1] for r in result.resources if r.custom and r.type.startswith("gitlab:"))
    if gitlab_kinds:
        lines.append("  gitlab: " + ", ".join(f"{n} {k}" for k, n in sorted(gitlab_kinds.items())))
    for app, release in sorted(result.outputs.get("releases", {}).items()):
        lines.append(f"  release {app}: {release['commit']} from {release['branch']} ({release['action']})")
    for key, preview in sorted(result.outputs.get("previews", {}).items()):
        lines.append(f"  preview {key}: {preview['app']}@{preview['commit'][:8]} {preview['url']}")
    for app, hold in sorted(result.outputs.get("holds", {}).items()):
        lines.append(f"  hold {app}: refuses {', '.join(c[:8] for c in hold['commits'])} ({hold['reason']})")
    summary = "\n".join(lines) + "\n"
    (base / "SUMMARY.txt").write_text(summary, encoding="utf-8")
    return summary
