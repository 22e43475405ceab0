"""``Application``: one app at one commit: ServiceAccount, Deployment, Service, Ingress, PDB."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from gitops.core.settings import Ingress
from gitops.core.workloads import Workload

TMP_VOLUME = "tmp"


class Application(pulumi.ComponentResource):
    """Runs one ``Workload``; every pod passes the ``restricted`` Pod Security Standard."""

    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    ingress: k8s.networking.v1.Ingress
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        workload: Workload,
        ingress: Ingress,
        provider: k8s.Provider,
        namespace: k8s.core.v1.Namespace,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gitops:app:Application", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider, deleted_with=namespace, depends_on=[namespace])
        w = workload
        meta = {
            "name": w.spec.name,
            "namespace": w.namespace,
            "labels": w.labels,
            "annotations": w.annotations,
        }

        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=meta, automount_service_account_token=False, opts=child
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deploy",
            metadata=meta,
            spec={
                "replicas": w.replicas,
                "revision_history_limit": 5,
                "selector": {"match_labels": w.selector},
                "template": {
                    "metadata": {"labels": w.labels, "annotations": w.annotations},
                    "spec": _pod_spec(w),
                },
            },
            opts=child,
        )
        self.service = k8s.core.v1.Service(
            f"{name}-svc",
            metadata=meta,
            spec={
                "selector": w.selector,
                "ports": [{"name": "http", "port": 80, "target_port": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        annotations = dict(w.annotations)
        tls: list[dict[str, Any]] = []
        if ingress.tls_issuer:
            annotations["cert-manager.io/cluster-issuer"] = ingress.tls_issuer
            tls = [{"hosts": [w.host], "secret_name": f"{w.spec.name}-tls"}]
        self.ingress = k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata={**meta, "annotations": annotations},
            spec={
                "ingress_class_name": ingress.class_name,
                "tls": tls or None,
                "rules": [
                    {
                        "host": w.host,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "path_type": "Prefix",
                                    "backend": {"service": {"name": w.spec.name, "port": {"name": "http"}}},
                                }
                            ]
                        },
                    }
                ],
            },
            opts=child,
        )
        if w.replicas > 1:
            self.pdb = k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=meta,
                spec={"max_unavailable": 1, "selector": {"match_labels": w.selector}},
                opts=child,
            )
        self.url = pulumi.Output.from_input(f"https://{w.host}")
        self.register_outputs({"url": self.url, "image": w.image})


def _pod_spec(w: Workload) -> dict[str, Any]:
    """Pod spec that satisfies the ``restricted`` profile, with probes and resources."""
    probe = {"http_get": {"path": w.spec.health_path, "port": "http"}, "period_seconds": 10}
    env = [{"name": k, "value": v} for k, v in sorted(w.spec.env.items())]
    return {
        "service_account_name": w.spec.name,
        "automount_service_account_token": False,
        "security_context": {
            "run_as_non_root": True,
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": w.spec.name,
                "image": w.image,
                "image_pull_policy": "IfNotPresent",
                "ports": [{"name": "http", "container_port": w.spec.port, "protocol": "TCP"}],
                "env": env or None,
                "resources": {
                    "requests": {"cpu": w.resources.cpu_request, "memory": w.resources.memory_request},
                    "limits": {"cpu": w.resources.cpu_limit, "memory": w.resources.memory_limit},
                },
                "readiness_probe": {**probe, "initial_delay_seconds": 2},
                "liveness_probe": {**probe, "initial_delay_seconds": 10, "failure_threshold": 3},
                "security_context": {
                    "allow_privilege_escalation": False,
                    "read_only_root_filesystem": True,
                    "run_as_non_root": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccomp_profile": {"type": "RuntimeDefault"},
                },
                "volume_mounts": [{"name": TMP_VOLUME, "mount_path": "/tmp"}],
            }
        ],
        "volumes": [{"name": TMP_VOLUME, "empty_dir": {}}],
    }
