"""Who owns what in GitLab, and the CI/CD variables each environment hands to its jobs.

Every GitLab resource has exactly one owning stack (see the README's ownership table):
each environment owns its own credentials, environment and drift schedule; the branch it deploys
from is protected by that environment's stack; project-wide settings belong to prod (the most
protected credentials); the preview sweep (schedule, job-token access) belongs to preview.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gitops.core.environments import Environment
from gitops.core.errors import ConfigError

ENVIRONMENT_SCOPE = {"preview": "review/*", "staging": "staging", "prod": "production"}
PROJECT_WIDE_OWNER = "prod"
SWEEP_OWNER = "preview"
VARIABLE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
MASKABLE = re.compile(r"^[A-Za-z0-9+/=@:.~_-]{8,}$")


def owns_project_settings(env: Environment) -> bool:
    return env.name == PROJECT_WIDE_OWNER


def owns_sweep(env: Environment) -> bool:
    return env.name == SWEEP_OWNER


def ci_variables(env: Environment, raw: Any, *, is_secret: bool) -> dict[str, str]:
    """Validate ``gitops:ciVariables`` (name -> value) without ever echoing a value.

    GitLab can mask only single-line values of at least 8 characters from a small alphabet; a
    value that cannot be masked is refused (store it base64-encoded, e.g. as KUBECONFIG_B64).
    """
    if raw is None:
        return {}
    if not is_secret:
        raise ConfigError(
            "gitops:ciVariables must be a secret: pulumi config set --secret --path 'gitops:ciVariables.NAME' <value>"
        )
    try:
        values = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        raise ConfigError("gitops:ciVariables must be a mapping of NAME: value") from None
    if not isinstance(values, dict):
        raise ConfigError("gitops:ciVariables must be a mapping of NAME: value")
    for name, value in values.items():
        if not VARIABLE_NAME.match(name):
            raise ConfigError(f"gitops:ciVariables.{name}: variable names are UPPER_SNAKE_CASE")
        if not isinstance(value, str) or not MASKABLE.match(value):
            raise ConfigError(
                f"gitops:ciVariables.{name} ({env.name}) cannot be masked by GitLab: it needs one line of at least "
                "8 characters from A-Z a-z 0-9 + / = @ : . ~ _ -; store it base64-encoded (e.g. as "
                f"{name}_B64) and decode it in the job"
            )
    return dict(sorted(values.items()))
