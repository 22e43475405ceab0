"""Registry pull credentials: a GitLab deploy token (read_registry) per app and environment, rendered as the
``.dockerconfigjson`` of a ``kubernetes.io/dockerconfigjson`` Secret in every namespace of that app."""

from __future__ import annotations

import base64
import json


def dockerconfig(registry: str, username: str, token: str) -> str:
    """The document kubelet reads for ``imagePullSecrets`` (sorted keys: the same inputs give the same text)."""
    auth = base64.b64encode(f"{username}:{token}".encode()).decode()
    return json.dumps({"auths": {registry: {"username": username, "password": token, "auth": auth}}}, sort_keys=True)


def token_username(environment: str, app: str) -> str:
    return f"gitops-{environment}-{app}"
