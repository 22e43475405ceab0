"""The app catalog (``apps.yaml``): which apps exist and how each one runs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import Field, field_validator

from gitops.errors import ConfigError
from gitops.validation import StrictModel, parse_model, require_dns_label

QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Resources(StrictModel):
    """Container requests and limits (Kubernetes quantities)."""

    cpu_request: str = "100m"
    memory_request: str = "128Mi"
    cpu_limit: str = "500m"
    memory_limit: str = "256Mi"

    @field_validator("cpu_request", "memory_request", "cpu_limit", "memory_limit")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not QUANTITY.match(value):
            raise ValueError(f"{value!r} is not a Kubernetes quantity such as 250m, 1, 512Mi or 2Gi")
        return value


class AppSpec(StrictModel):
    """One application of the catalog."""

    name: str
    gitlab_project: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
    image: str
    port: int = Field(ge=1, le=65535)
    health_path: str = Field(default="/healthz", pattern=r"^/")
    replicas: int = Field(default=2, ge=1, le=50)
    resources: Resources = Resources()
    env: dict[str, str] = {}
    create_project: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return require_dns_label(value, max_len=30)

    @field_validator("image")
    @classmethod
    def _untagged(cls, value: str) -> str:
        last = value.rsplit("/", 1)[-1]
        if "@" in value or ":" in last or not value:
            raise ValueError(
                f"{value!r} must be an image repository without tag or digest "
                "(the release sets the tag to the commit SHA)"
            )
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_NAME.match(key):
                raise ValueError(f"environment variable name {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
        return value


class Catalog(StrictModel):
    """All apps by name."""

    apps: dict[str, AppSpec]

    def app(self, name: str) -> AppSpec:
        try:
            return self.apps[name]
        except KeyError:
            known = ", ".join(sorted(self.apps)) or "(none)"
            raise ConfigError(
                f"gitops:app {name!r} is not in the app catalog; known apps: {known} "
                "(add it to apps.yaml or fix the name)"
            ) from None


def parse_catalog(data: object, *, source: str) -> Catalog:
    """Validate a loaded YAML document; each app's key becomes its ``name``."""
    if not isinstance(data, dict) or not isinstance(data.get("apps"), dict) or not data["apps"]:
        raise ConfigError(f"{source} must have a non-empty mapping 'apps: {{<name>: {{...}}}}'")
    apps = {}
    for name, spec in data["apps"].items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{source}: apps.{name} must be a mapping of settings")
        apps[name] = {"name": name, **spec}
    extra = {k: v for k, v in data.items() if k != "apps"}
    return parse_model(Catalog, {"apps": apps, **extra}, source=source)


def load_catalog(path: Path) -> Catalog:
    """Read and validate ``apps.yaml``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read app catalog {path}: {exc.strerror} (set gitops:catalog)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse_catalog(data, source=str(path))
