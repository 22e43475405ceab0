"""Per-app secrets of a stack (``gitops:appSecrets.<app>.<NAME>``): Pulumi secrets only, never echoed.

The catalog names the secrets an app needs (``secrets: [DATABASE_PASSWORD]``); each stack (preview,
staging, prod) holds its own values, set with
``pulumi config set --secret --path 'gitops:appSecrets.web.DATABASE_PASSWORD' <value>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from gitops.core.catalog import Catalog
from gitops.core.errors import ConfigError, bounded, listing

MAX_VALUE = 64 * 1024
FIX = "pulumi config set --secret --path 'gitops:appSecrets.{app}.{name}' <value>"


def parse_app_secrets(raw: Any, *, is_secret: bool, catalog: Catalog, source: str) -> dict[str, dict[str, str]]:
    """Validate the shape and names; values are plain here and must be wrapped as secrets by the caller."""
    if raw is None:
        return {}
    if not is_secret:
        raise ConfigError(f"{source}: gitops:appSecrets must be a secret: {FIX.format(app='<app>', name='<NAME>')}")
    try:
        values = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        raise ConfigError(f"{source}: gitops:appSecrets must be a mapping app -> NAME -> value") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: gitops:appSecrets must be a mapping app -> NAME -> value")
    for app, names in values.items():
        spec = catalog.apps.get(app)
        if spec is None:
            raise ConfigError(
                f"{source}: gitops:appSecrets names app {bounded(repr(app), 63)}, which is not in the catalog"
            )
        if not isinstance(names, dict):
            raise ConfigError(f"{source}: gitops:appSecrets.{app} must be a mapping NAME -> value")
        for name, value in names.items():
            if name not in spec.secrets:
                raise ConfigError(
                    f"{source}: gitops:appSecrets.{app}.{bounded(str(name), 60)} is not declared in the catalog "
                    f"(apps.{app}.secrets: {listing(spec.secrets)}); declare it or remove the value"
                )
            if not isinstance(value, str) or not value or len(value) > MAX_VALUE:
                raise ConfigError(
                    f"{source}: gitops:appSecrets.{app}.{name} must be non-empty text of at most {MAX_VALUE} bytes"
                )
    return values


def require_values(app: str, declared: Iterable[str], values: Mapping[str, Mapping[str, str]], source: str) -> None:
    """Before anything is registered: every secret the app declares has a value in this stack."""
    missing = [name for name in declared if name not in values.get(app, {})]
    if missing:
        fixes = "; ".join(FIX.format(app=app, name=name) for name in missing[:3])
        raise ConfigError(f"{source}: {app} needs the secret(s) {', '.join(missing)} in this stack: {fixes}")
