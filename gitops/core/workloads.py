"""What runs where: the desired state as plain values the components turn into resources."""

from __future__ import annotations

from dataclasses import dataclass, replace

from gitops.core.catalog import AppSpec, Autoscaling, Catalog, Resources
from gitops.core.environments import Environment
from gitops.core.naming import app_host, preview_host, release_key
from gitops.core.settings import StackSettings
from gitops.core.state import StackState

PART_OF = "gitops"
MANAGED_BY = "pulumi"
ANNOTATION_PREFIX = "gitops"


@dataclass(frozen=True)
class Workload:
    """One app at one commit in one namespace (a release or a preview)."""

    key: str
    spec: AppSpec
    environment: str
    namespace: str
    commit: str
    branch: str
    host: str
    replicas: int
    resources: Resources
    is_preview: bool
    protected: bool  # staging/prod objects are protected: only an explicit retire removes them
    env: dict[str, str]
    autoscaling: Autoscaling | None
    digest: str | None  # sha256:...; staging/prod always have one, a preview may run the tag
    rollout_timeout_seconds: int = 600

    @property
    def image(self) -> str:
        """Pinned by digest where known (a tag can be pushed again); the tag is the commit otherwise."""
        return f"{self.spec.image}@{self.digest}" if self.digest else f"{self.spec.image}:{self.commit}"

    @property
    def registry(self) -> str:
        """The registry host the image is pulled from (the pull secret is for it)."""
        return self.spec.image.split("/", 1)[0]

    @property
    def pull_secret(self) -> str:
        return f"{self.spec.name}-registry"

    @property
    def env_secret(self) -> str | None:
        return f"{self.spec.name}-secrets" if self.spec.secrets else None

    @property
    def selector(self) -> dict[str, str]:
        """Immutable on a Deployment: never includes the version."""
        return {"app.kubernetes.io/name": self.spec.name, "app.kubernetes.io/instance": self.key}

    @property
    def stable_labels(self) -> dict[str, str]:
        """The labels of the objects a release does not change (Service, Ingress, Secrets, PDB, ...): nothing
        of the commit, so a new release leaves them untouched (no update, no Service await)."""
        return {**self.selector, "app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": MANAGED_BY}

    @property
    def labels(self) -> dict[str, str]:
        """The labels of what a release changes anyway (the Deployment, its pods, the migration Job): the
        version, which is what ``status`` reads back from each cluster."""
        return {**self.stable_labels, "app.kubernetes.io/version": self.commit}

    @property
    def stable_annotations(self) -> dict[str, str]:
        return {f"{ANNOTATION_PREFIX}/branch": self.branch, f"{ANNOTATION_PREFIX}/environment": self.environment}

    @property
    def annotations(self) -> dict[str, str]:
        return {
            **self.stable_annotations,
            f"{ANNOTATION_PREFIX}/commit": self.commit,
            **({f"{ANNOTATION_PREFIX}/digest": self.digest} if self.digest else {}),
        }


def release_workloads(env: Environment, settings: StackSettings, catalog: Catalog, state: StackState) -> list[Workload]:
    """staging/prod: one namespace per released app, named after the app."""
    result = []
    for name, release in sorted(state.releases.items()):
        spec = catalog.apps[name]
        result.append(
            Workload(
                key=release_key(name, env.name),
                spec=spec,
                environment=env.name,
                namespace=name,
                commit=release.commit,
                branch=release.branch,
                host=app_host(name, settings.domain),
                replicas=settings.replicas_for(name, spec.replicas),
                resources=settings.resources_for(name, spec.resources),
                is_preview=False,
                protected=not release.retiring,
                env=settings.env_for(name, spec.env),
                autoscaling=settings.autoscaling_for(name, spec.autoscaling),
                digest=release.digest,
                rollout_timeout_seconds=settings.rolloutTimeoutSeconds,
            )
        )
    return result


def on_cluster(workloads: list[Workload], state: StackState, cluster: str) -> list[Workload]:
    """What one cluster runs: a release in waves that has not reached it leaves it on what it ran before."""
    result = []
    for workload in workloads:
        release = None if workload.is_preview else state.releases.get(workload.spec.name)
        if release is None:
            result.append(workload)
            continue
        commit, digest = release.runs_on(cluster)
        if commit is None:  # a first release, not yet at this cluster
            continue
        same = (commit, digest) == (workload.commit, workload.digest)
        result.append(workload if same else replace(workload, commit=commit, digest=digest))
    return result


def preview_workloads(settings: StackSettings, catalog: Catalog, state: StackState) -> list[Workload]:
    """preview: one namespace per (app, branch), keyed by the preview id."""
    result = []
    for key, preview in sorted(state.previews.items()):
        spec = catalog.apps[preview.app]
        result.append(
            Workload(
                key=key,
                spec=spec,
                environment="preview",
                namespace=preview.namespace,
                commit=preview.commit,
                branch=preview.branch,
                host=preview_host(key, settings.domain),
                replicas=settings.preview.replicas,
                resources=settings.resources_for(preview.app, spec.resources),
                is_preview=True,
                protected=False,
                env=settings.env_for(preview.app, spec.env),
                autoscaling=None,  # a preview is one small replica set
                digest=preview.digest,
                rollout_timeout_seconds=settings.rolloutTimeoutSeconds,
            )
        )
    return result
