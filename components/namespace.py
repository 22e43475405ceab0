"""``AppNamespace``: a namespace locked down for one app: PSS restricted, default-deny, RBAC."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.providers import OWNED
from gitops.core.settings import Access, Quota

DEVELOPER_ROLE = "gitops-developer-read"

# Read everything an app needs to debug, including pod logs; never secrets, exec or port-forward.
DEVELOPER_RULES = [
    {
        "api_groups": [""],
        "resources": ["pods", "pods/log", "services", "endpoints", "configmaps", "events", "serviceaccounts"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "api_groups": ["apps"],
        "resources": ["deployments", "replicasets"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "api_groups": ["networking.k8s.io"],
        "resources": ["ingresses", "networkpolicies"],
        "verbs": ["get", "list", "watch"],
    },
    {"api_groups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["get", "list", "watch"]},
    {"api_groups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]},
    {"api_groups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["get", "list", "watch"]},
]


@dataclass(frozen=True)
class NamespaceSpec:
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    app_port: int
    access: Access
    quota: Quota | None = None


class AppNamespace(pulumi.ComponentResource):
    """Namespace with restricted enforcement, network policies, developer/admin RBAC, optional quota."""

    namespace: k8s.core.v1.Namespace

    def __init__(
        self, name: str, spec: NamespaceSpec, provider: k8s.Provider, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops:env:AppNamespace", name, None, opts)
        ns = spec.name
        psa = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": ns, "labels": {**spec.labels, **psa}, "annotations": {**spec.annotations, **OWNED}},
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        child = pulumi.ResourceOptions(
            parent=self, provider=provider, deleted_with=self.namespace, depends_on=[self.namespace]
        )
        meta = {"namespace": ns, "labels": spec.labels, "annotations": OWNED}
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata={**meta, "name": "default-deny-ingress"},
            spec={"pod_selector": {}, "policy_types": ["Ingress"]},
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-ingress-controller",
            metadata={**meta, "name": "allow-from-ingress-controller"},
            spec={
                "pod_selector": {},
                "policy_types": ["Ingress"],
                "ingress": [
                    {
                        "from_": [
                            {
                                "namespace_selector": {
                                    "match_labels": {"kubernetes.io/metadata.name": spec.access.ingress_namespace}
                                }
                            }
                        ],
                        "ports": [{"port": spec.app_port, "protocol": "TCP"}],
                    }
                ],
            },
            opts=child,
        )
        k8s.rbac.v1.Role(
            f"{name}-developer-role", metadata={**meta, "name": DEVELOPER_ROLE}, rules=DEVELOPER_RULES, opts=child
        )
        for who, group, role_kind, role in (
            ("developers", spec.access.developers_group, "Role", DEVELOPER_ROLE),
            ("admins", spec.access.admins_group, "ClusterRole", "admin"),
        ):
            k8s.rbac.v1.RoleBinding(
                f"{name}-{who}",
                metadata={**meta, "name": f"gitops-{who}"},
                role_ref={"api_group": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
                subjects=[{"api_group": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
                opts=child,
            )
        if spec.quota is not None:
            q = spec.quota
            k8s.core.v1.ResourceQuota(
                f"{name}-quota",
                metadata={**meta, "name": "preview-quota"},
                spec={
                    "hard": {
                        "limits.cpu": q.cpu,
                        "limits.memory": q.memory,
                        "requests.cpu": q.cpu,
                        "requests.memory": q.memory,
                        "pods": str(q.pods),
                    }
                },
                opts=child,
            )
            k8s.core.v1.LimitRange(
                f"{name}-limits",
                metadata={**meta, "name": "preview-defaults"},
                spec={
                    "limits": [
                        {
                            "type": "Container",
                            "default": {"cpu": "500m", "memory": "256Mi"},
                            "default_request": {"cpu": "100m", "memory": "128Mi"},
                        }
                    ]
                },
                opts=child,
            )
        self.register_outputs({"name": ns})
