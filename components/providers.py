"""One explicit Kubernetes provider per cluster of the stack (default providers are disabled)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from gitops.core.settings import StackSettings

RENDER_TARGET = "render"
# On every object this program declares: Pulumi owns the fields it declares even where someone else wrote
# them since (`kubectl scale`, `kubectl edit`). Without it, server-side apply refuses the next update with
# a field conflict, so drift could be reported but never reverted (found with the real engine, tests/e2e).
OWNED = {"pulumi.com/patchForce": "true"}


@dataclass(frozen=True)
class ClusterTarget:
    name: str
    provider: k8s.Provider


def cluster_targets(
    settings: StackSettings, stack: str, kubeconfigs: Mapping[str, pulumi.Output[str]], *, protect: bool
) -> list[ClusterTarget]:
    """A provider per named cluster; with none named, one that renders YAML to ``renderDir`` (an explicit
    setting, preview only: ``StackSettings.check_targets``). Protected providers cannot be dropped by
    removing a cluster from the settings while objects still live there."""
    if not settings.clusters:
        assert settings.renderDir is not None
        provider = k8s.Provider(
            f"{stack}-{RENDER_TARGET}",
            render_yaml_to_directory=f"{settings.renderDir}/{stack}",
            cluster_identifier=f"{stack}-{RENDER_TARGET}",
        )
        return [ClusterTarget(RENDER_TARGET, provider)]
    targets = []
    for cluster in settings.clusters:
        provider = k8s.Provider(
            f"{stack}-{cluster.name}",
            context=cluster.context,
            kubeconfig=kubeconfigs.get(cluster.name),
            cluster_identifier=cluster.identifier,
            delete_unreachable=False,
            opts=pulumi.ResourceOptions(protect=protect),
        )
        targets.append(ClusterTarget(cluster.name, provider))
    return targets
