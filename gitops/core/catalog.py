"""The app catalog (``apps.yaml``): which apps exist and how each one runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from gitops.core.errors import ConfigError, bounded, listing
from gitops.core.strict_yaml import load_file
from gitops.core.validation import Quantity, StrictModel, parse_model, quantity_value, require_dns_label

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The OCI distribution reference grammar (distribution/reference), lower-case, without tag or digest:
# a registry host (with a dot or a port, or localhost), then path components.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)"
IMAGE_REPOSITORY = re.compile(
    rf"^(?:{_HOST}(?:\.{_HOST})+(?::[0-9]{{1,5}})?|{_HOST}:[0-9]{{1,5}}|localhost)(?:/{_COMPONENT})+$"
)
MAX_IMAGE = 255


class Resources(StrictModel):
    """Container requests and limits (Kubernetes quantities)."""

    cpu_request: Quantity = "100m"
    memory_request: Quantity = "128Mi"
    cpu_limit: Quantity = "500m"
    memory_limit: Quantity = "256Mi"

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for kind in ("cpu", "memory"):
            request, limit = getattr(self, f"{kind}_request"), getattr(self, f"{kind}_limit")
            if quantity_value(request) > quantity_value(limit):
                raise ValueError(
                    f"{kind}_request {request} is above {kind}_limit {limit}; Kubernetes refuses such a pod"
                )
        return self


def _env_names(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not ENV_NAME.match(key):
            raise ValueError(f"environment variable name {bounded(repr(key), 60)} must match [A-Za-z_][A-Za-z0-9_]*")
    return value


EnvVars = Annotated[dict[str, str], AfterValidator(_env_names)]


class Autoscaling(StrictModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) on CPU; the Deployment then leaves its replicas to it."""

    min_replicas: int = Field(default=2, ge=1, le=50)
    max_replicas: int = Field(ge=1, le=100)
    cpu_utilization: int = Field(default=70, ge=10, le=100)

    @model_validator(mode="after")
    def _range(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}")
        return self


class Migration(StrictModel):
    """A pre-deploy Job (e.g. database migrations) run with the new image before the Deployment changes."""

    command: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(min_length=1, max_length=30)
    timeout_seconds: int = Field(default=600, ge=30, le=3600)


class Smoke(StrictModel):
    """A command run by the release after each wave's health check, once per cluster of the wave (argv, from
    the deploy repo's root, with GITOPS_URL, GITOPS_HOST, GITOPS_CLUSTER, ... and no credential); exit 0 passes."""

    command: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(min_length=1, max_length=30)
    timeout_seconds: int = Field(default=300, ge=5, le=1800)


class AppSpec(StrictModel):
    """One application of the catalog."""

    name: str
    gitlab_project: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
    image: str
    port: int = Field(ge=1, le=65535)
    health_path: str = Field(default="/healthz", pattern=r"^/")
    run_as_user: int = Field(default=10001, ge=1000, le=2**31 - 1)  # a high, non-root UID for every container
    replicas: int = Field(default=2, ge=1, le=50)
    resources: Resources = Resources()
    env: EnvVars = {}
    secrets: list[str] = Field(default=[], max_length=50)  # names; values are per-stack Pulumi secrets
    autoscaling: Autoscaling | None = None
    migration: Migration | None = None
    smoke: Smoke | None = None
    create_project: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return require_dns_label(value, max_len=30)

    @field_validator("image")
    @classmethod
    def _repository(cls, value: str) -> str:
        if len(value) > MAX_IMAGE or not IMAGE_REPOSITORY.match(value):
            raise ValueError(
                f"{bounded(repr(value), 80)} must be an image repository such as registry.example.com/shop/web: "
                "lower-case, a registry host first, no tag or digest (the release tags it with the commit SHA)"
            )
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        _env_names(dict.fromkeys(value, ""))
        if len(set(value)) != len(value):
            raise ValueError("secret names must be unique")
        return value

    @model_validator(mode="after")
    def _no_clash(self) -> AppSpec:
        clash = sorted(set(self.env) & set(self.secrets))
        if clash:
            raise ValueError(f"{', '.join(clash)} is both a plain env value and a secret; keep one")
        return self


class Catalog(StrictModel):
    """All apps by name."""

    apps: dict[str, AppSpec]

    def app(self, name: str) -> AppSpec:
        try:
            return self.apps[name]
        except KeyError:
            known = listing(self.apps)
            raise ConfigError(
                f"gitops:app {bounded(repr(name), 60)} is not in the app catalog; known apps: {known} "
                "(add it to apps.yaml or fix the name)"
            ) from None


def parse_catalog(data: object, *, source: str) -> Catalog:
    """Validate a loaded YAML document; each app's key becomes its ``name``."""
    if not isinstance(data, dict) or not isinstance(data.get("apps"), dict) or not data["apps"]:
        raise ConfigError(f"{source} must have a non-empty mapping 'apps: {{<name>: {{...}}}}'")
    apps = {}
    for name, spec in data["apps"].items():
        if not isinstance(name, str):
            raise ConfigError(f"{source}: app names must be text; got {bounded(repr(name), 40)}")
        if not isinstance(spec, dict):
            raise ConfigError(f"{source}: apps.{bounded(name, 60)} must be a mapping of settings")
        if "name" in spec:
            raise ConfigError(f"{source}: apps.{bounded(name, 60)}.name is not a setting: an app's name is its key")
        apps[name] = {**spec, "name": name}
    extra = {k: v for k, v in data.items() if k != "apps"}
    return parse_model(Catalog, {"apps": apps, **extra}, source=source)


def load_catalog(path: Path) -> Catalog:
    """Read and validate ``apps.yaml`` (strict YAML: no duplicate keys, no aliases)."""
    return parse_catalog(load_file(path, what="app catalog", hint="set gitops:catalog"), source=str(path))
