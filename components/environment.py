"""``AppEnvironment`` (staging/prod) and ``PreviewEnvironment``: a namespace plus the app in it."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.application import AppCredentials, Application
from components.namespace import AppNamespace, NamespaceSpec
from gitops.core.naming import APP_ENVIRONMENT_TYPE
from gitops.core.settings import StackSettings
from gitops.core.workloads import Workload


def _namespace_spec(w: Workload, settings: StackSettings) -> NamespaceSpec:
    return NamespaceSpec(
        name=w.namespace,
        labels={**w.stable_labels, "gitops/environment": w.environment},
        annotations={"gitops/branch": w.branch},
        app_port=w.spec.port,
        access=settings.access,
        quota=settings.preview.quota if w.is_preview else None,
    )


class AppEnvironment(pulumi.ComponentResource):
    """A released app in staging/prod: its own locked-down namespace and the app."""

    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        workload: Workload,
        settings: StackSettings,
        credentials: AppCredentials,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
        type_token: str = APP_ENVIRONMENT_TYPE,
    ) -> None:
        # protect is inherited by every child (pulumi.Resource infers it from the parent): the engine
        # then refuses each delete or replacement of a live staging/prod object (see README, Safety).
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=workload.protected))
        super().__init__(type_token, name, None, opts)
        self.namespace = AppNamespace(
            f"{name}", _namespace_spec(workload, settings), provider, pulumi.ResourceOptions(parent=self)
        )
        self.app = Application(
            f"{name}",
            workload,
            settings.ingress,
            credentials,
            provider,
            self.namespace.namespace,
            pulumi.ResourceOptions(parent=self),
        )
        self.url = self.app.url
        self.register_outputs({"url": self.url, "namespace": workload.namespace, "commit": workload.commit})


class PreviewEnvironment(AppEnvironment):
    """A branch preview: same shape, plus quota and limits; deleting it deletes its namespace."""

    def __init__(
        self,
        name: str,
        workload: Workload,
        settings: StackSettings,
        credentials: AppCredentials,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            name, workload, settings, credentials, provider, opts, type_token="gitops:preview:PreviewEnvironment"
        )
