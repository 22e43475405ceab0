"""``Application``: one app at one commit: ServiceAccount, pull and env Secrets, optional migration Job,
Deployment, Service, Ingress, PDB, optional HorizontalPodAutoscaler."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components.providers import OWNED
from gitops.core.settings import Ingress
from gitops.core.workloads import Workload

TMP_VOLUME = "tmp"
SECRETS_CHECKSUM = "gitops/secrets-checksum"


@dataclass(frozen=True)
class AppCredentials:
    """What the app needs that is secret: the registry pull config and its env secrets (Pulumi secrets)."""

    registry: pulumi.Output[str]  # a .dockerconfigjson document
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)


class Application(pulumi.ComponentResource):
    """Runs one ``Workload``; every pod (the migration Job's too) passes the ``restricted`` Pod Security Standard."""

    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    ingress: k8s.networking.v1.Ingress
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        workload: Workload,
        ingress: Ingress,
        credentials: AppCredentials,
        provider: k8s.Provider,
        namespace: k8s.core.v1.Namespace,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gitops:app:Application", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider, deleted_with=namespace, depends_on=[namespace])
        w = workload
        # what a release does not change carries nothing of the commit (it stays untouched: no update step,
        # no Service await); the Deployment and the migration Job carry the version (``release_meta``)
        meta = {"namespace": w.namespace, "labels": w.stable_labels, "annotations": {**w.stable_annotations, **OWNED}}
        release_meta = {**meta, "labels": w.labels, "annotations": {**w.annotations, **OWNED}}

        pull = k8s.core.v1.Secret(
            f"{name}-pull",
            metadata={**meta, "name": w.pull_secret},
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": secret(credentials.registry)},
            opts=child,
        )
        env_secret = self._env_secret(name, w, credentials, meta, child)
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={**meta, "name": w.spec.name},
            automount_service_account_token=False,
            image_pull_secrets=[{"name": w.pull_secret}],
            opts=child,
        )
        needs: list[pulumi.Resource] = [namespace, pull, self.service_account, *([env_secret] if env_secret else [])]
        template_annotations: dict[str, Any] = dict(w.annotations)
        if credentials.secrets:  # a changed secret changes the template, so the pods roll
            template_annotations[SECRETS_CHECKSUM] = _checksum(credentials.secrets)
        migration = self._migration(name, w, release_meta, provider, namespace, needs) if w.spec.migration else None
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deploy",
            metadata={**release_meta, "name": w.spec.name},
            spec={
                # under an HPA the replica count is the HPA's: not declared at all, so `pulumi up`
                # (server-side apply) does not own the field and never resets it
                **({} if w.autoscaling else {"replicas": w.replicas}),
                "revision_history_limit": 5,
                # a rollout that makes no progress for this long fails the update (and so starts the restore)
                "progress_deadline_seconds": w.rollout_timeout_seconds,
                "selector": {"match_labels": w.selector},
                "template": {
                    "metadata": {"labels": w.labels, "annotations": template_annotations},
                    "spec": pod_spec(w),
                },
            },
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=[*needs, *filter(None, [migration])],
                    custom_timeouts=pulumi.CustomTimeouts(
                        create=f"{w.rollout_timeout_seconds}s", update=f"{w.rollout_timeout_seconds}s"
                    ),
                ),
            ),
        )
        self.service = k8s.core.v1.Service(
            f"{name}-svc",
            metadata={**meta, "name": w.spec.name},
            spec={
                "selector": w.selector,
                "ports": [{"name": "http", "port": 80, "target_port": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        self.ingress = self._ingress(name, w, ingress, meta, child)
        if (w.autoscaling.min_replicas if w.autoscaling else w.replicas) > 1:
            self.pdb = k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata={**meta, "name": w.spec.name},
                spec={"max_unavailable": 1, "selector": {"match_labels": w.selector}},
                opts=child,
            )
        if w.autoscaling:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata={**meta, "name": w.spec.name},
                spec={
                    "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": w.spec.name},
                    "min_replicas": w.autoscaling.min_replicas,
                    "max_replicas": w.autoscaling.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "average_utilization": w.autoscaling.cpu_utilization},
                            },
                        }
                    ],
                },
                opts=child,
            )
        self.url = pulumi.Output.from_input(f"https://{w.host}")
        self.register_outputs({"url": self.url, "image": w.image})

    def _env_secret(
        self, name: str, w: Workload, credentials: AppCredentials, meta: dict[str, Any], child: pulumi.ResourceOptions
    ) -> k8s.core.v1.Secret | None:
        if not w.env_secret:
            return None
        return k8s.core.v1.Secret(
            f"{name}-env",
            metadata={**meta, "name": w.env_secret},
            type="Opaque",
            string_data={k: secret(v) for k, v in sorted(credentials.secrets.items())},
            opts=child,
        )

    def _migration(
        self,
        name: str,
        w: Workload,
        meta: dict[str, Any],
        provider: k8s.Provider,
        namespace: k8s.core.v1.Namespace,
        needs: list[pulumi.Resource],
    ) -> k8s.batch.v1.Job:
        """The pre-deploy Job: a new one per release (Jobs are immutable), run with the new image; the
        Deployment depends on it, and pulumi-kubernetes awaits a Job's Complete condition and fails on
        Failed, so a failed migration stops the release before traffic moves. Unlike every other
        staging/prod object it is not protected: it is replaced by the next release's Job."""
        assert w.spec.migration is not None
        timeout = w.spec.migration.timeout_seconds
        spec = pod_spec(w)
        container = {**spec["containers"][0], "name": "migrate", "command": list(w.spec.migration.command)}
        for probe in ("readiness_probe", "liveness_probe", "ports"):
            container.pop(probe, None)
        return k8s.batch.v1.Job(
            f"{name}-migrate",
            metadata={**meta, "name": f"{w.spec.name}-migrate-{w.commit[:12]}"},
            spec={
                "backoff_limit": 0,  # a failed migration is not retried blindly
                "active_deadline_seconds": timeout,
                "template": {
                    "metadata": {"labels": {**w.labels, "app.kubernetes.io/component": "migration"}},
                    "spec": {**spec, "containers": [container], "restart_policy": "Never"},
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                deleted_with=namespace,
                depends_on=needs,
                protect=False,
                custom_timeouts=pulumi.CustomTimeouts(create=f"{timeout + 60}s", update=f"{timeout + 60}s"),
            ),
        )

    def _ingress(
        self, name: str, w: Workload, ingress: Ingress, meta: dict[str, Any], child: pulumi.ResourceOptions
    ) -> k8s.networking.v1.Ingress:
        annotations = {**w.stable_annotations, **OWNED}
        tls: list[dict[str, Any]] = []
        if ingress.tls_issuer:
            annotations["cert-manager.io/cluster-issuer"] = ingress.tls_issuer
            tls = [{"hosts": [w.host], "secret_name": f"{w.spec.name}-tls"}]
        backend = {"service": {"name": w.spec.name, "port": {"name": "http"}}}
        return k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata={**meta, "name": w.spec.name, "annotations": annotations},
            spec={
                "ingress_class_name": ingress.class_name,
                "tls": tls or None,
                "rules": [
                    {"host": w.host, "http": {"paths": [{"path": "/", "path_type": "Prefix", "backend": backend}]}}
                ],
            },
            opts=child,
        )


def secret(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """``pulumi.Output.secret`` with its type kept (mypy infers Never for an Output argument)."""
    wrapped: pulumi.Output[str] = pulumi.Output.secret(cast(Any, value))
    return wrapped


def _checksum(secrets: Mapping[str, pulumi.Output[str]]) -> pulumi.Output[str]:
    """A digest of the secret values, itself a Pulumi secret (a hash of a weak password is still sensitive)."""
    names = sorted(secrets)
    joined = pulumi.Output.all(*(secrets[n] for n in names)).apply(
        lambda values: hashlib.sha256(
            "\0".join(f"{n}={v}" for n, v in zip(names, values, strict=True)).encode()
        ).hexdigest()
    )
    return secret(joined)


def pod_spec(w: Workload) -> dict[str, Any]:
    """Pod spec that satisfies the ``restricted`` profile, with probes, resources and pull credentials."""
    probe = {"http_get": {"path": w.spec.health_path, "port": "http"}, "period_seconds": 10}
    env = [{"name": k, "value": v} for k, v in sorted(w.env.items())]
    return {
        "service_account_name": w.spec.name,
        "automount_service_account_token": False,
        "image_pull_secrets": [{"name": w.pull_secret}],
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": w.spec.run_as_user,
            "run_as_group": w.spec.run_as_user,
            "fs_group": w.spec.run_as_user,
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": w.spec.name,
                "image": w.image,
                "image_pull_policy": "IfNotPresent",
                "ports": [{"name": "http", "container_port": w.spec.port, "protocol": "TCP"}],
                "env": env or None,
                "env_from": [{"secret_ref": {"name": w.env_secret}}] if w.env_secret else None,
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
                    "run_as_user": w.spec.run_as_user,
                    "capabilities": {"drop": ["ALL"]},
                    "seccomp_profile": {"type": "RuntimeDefault"},
                },
                "volume_mounts": [{"name": TMP_VOLUME, "mount_path": "/tmp"}],
            }
        ],
        "volumes": [{"name": TMP_VOLUME, "empty_dir": {}}],
    }
