"""Registry pull credentials: a GitLab deploy token (read_registry) per app and environment, rendered as the
``.dockerconfigjson`` of a ``kubernetes.io/dockerconfigjson`` Secret in every namespace of that app."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from gitops.core.catalog import Catalog
from gitops.core.errors import ConfigError, bounded

FIX = "pulumi config set --secret --path 'gitops:registryCredentials.{app}.{field}' <value>"
MAX_FIELD = 4096


@dataclass(frozen=True)
class RegistryCredential:
    """Pull credentials an admin set for an app (used where this stack does not create GitLab deploy tokens)."""

    username: str
    token: str


def dockerconfig(registry: str, username: str, token: str) -> str:
    """The document kubelet reads for ``imagePullSecrets`` (sorted keys: the same inputs give the same text)."""
    auth = base64.b64encode(f"{username}:{token}".encode()).decode()
    return json.dumps({"auths": {registry: {"username": username, "password": token, "auth": auth}}}, sort_keys=True)


def token_username(environment: str, app: str) -> str:
    return f"gitops-{environment}-{app}"


def parse_registry_credentials(
    raw: Any, *, is_secret: bool, catalog: Catalog, source: str
) -> dict[str, RegistryCredential]:
    """``gitops:registryCredentials.<app>: {username, token}``: a secret, naming only catalog apps."""
    if raw is None:
        return {}
    if not is_secret:
        raise ConfigError(
            f"{source}: gitops:registryCredentials must be a secret: {FIX.format(app='<app>', field='token')}"
        )
    try:
        values = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: gitops:registryCredentials must be a mapping app -> {{username, token}}")
    found = {}
    for app, entry in values.items():
        if app not in catalog.apps:
            raise ConfigError(
                f"{source}: gitops:registryCredentials names app {bounded(repr(app), 63)}, which is not in the catalog"
            )
        if not isinstance(entry, dict) or set(entry) != {"username", "token"}:
            raise ConfigError(f"{source}: gitops:registryCredentials.{app} must have exactly username and token")
        for field in ("username", "token"):
            value = entry[field]
            if not isinstance(value, str) or not value or len(value) > MAX_FIELD or not value.isprintable():
                raise ConfigError(
                    f"{source}: gitops:registryCredentials.{app}.{field} must be one line of text "
                    f"(at most {MAX_FIELD} characters): {FIX.format(app=app, field=field)}"
                )
        found[app] = RegistryCredential(entry["username"], entry["token"])
    return found


def check_token_rotation(environment: str, rotation: str, retiring: str | None, recorded: str | None) -> None:
    """A rotation of staging/prod pull tokens is explicit: their deploy tokens are protected (deleting one
    revokes what every running pod's next image pull needs), so the old tokens stay registered, unprotected,
    for the update that moves the pull Secrets to the new ones, and go in the next. Refused before anything
    changes: a rotation name changed with the old one not named as retiring."""
    if recorded is None or recorded == rotation or retiring == recorded:
        return
    raise ConfigError(
        f"refused: gitops:gitlab.registry_token_rotation of {environment} changed from {recorded!r} to {rotation!r}, "
        f"which would delete the protected {recorded!r} pull tokens in the same update. Rotate in two applies: "
        f"first with gitlab.retiring_registry_token_rotation: {recorded!r} (the new tokens are created and the pull "
        "Secrets moved to them; the old ones stay, unprotected), then without it (the old ones are deleted)"
    )
