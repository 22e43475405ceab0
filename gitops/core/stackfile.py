"""Read ``Pulumi.<stack>.yaml`` into the flat string config map the Pulumi engine would pass."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops.core.environments import settings_stack
from gitops.core.errors import ConfigError, bounded
from gitops.core.strict_yaml import load_file

OFFLINE_SECRET = "offline-placeholder-secret"


@dataclass
class StackConfig:
    values: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)

    def with_overrides(self, overrides: dict[str, str]) -> StackConfig:
        """Like ``pulumi up -c key=value``: the override wins, and a plain override is not secret."""
        return StackConfig({**self.values, **overrides}, [k for k in self.secret_keys if k not in overrides])


def load_stack_config(root: Path, stack: str) -> StackConfig:
    """Secure values (``{secure: ...}``) can only be decrypted by the Pulumi CLI; offline they are
    replaced by a placeholder and still marked secret, so secret handling is exercised."""
    path = root / f"Pulumi.{settings_stack(stack)}.yaml"
    if not path.exists():
        raise ConfigError(f"no stack file {path.name}; stacks are: preview, staging, prod")
    return load_config_file(path)


def load_config_file(path: Path) -> StackConfig:
    """One ``Pulumi.<stack>.yaml`` (or a copy of it, as ``pulumi up --config-file`` takes)."""
    data = load_file(path, what="stack file", hint="restore it from git") or {}
    section = data.get("config") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{path.name} must have a mapping 'config: {{gitops:<key>: ...}}'")
    config = StackConfig()
    for key, value in section.items():
        if not isinstance(key, str) or ":" not in key:
            shown = bounded(repr(key), 60)
            raise ConfigError(f"{path.name}: config key {shown} needs a namespace, e.g. gitops:<key>")
        value, has_secret = _offline_secrets(value)
        if has_secret:
            config.secret_keys.append(key)
        if isinstance(value, str):
            config.values[key] = value
        else:
            config.values[key] = json.dumps(value)
    return config


def _offline_secrets(value: Any) -> tuple[Any, bool]:
    """Replace every ``{secure: ...}`` (top level or nested) by a placeholder; say if any was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return OFFLINE_SECRET, True
        found = False
        result = {}
        for k, v in value.items():
            result[k], inner = _offline_secrets(v)
            found = found or inner
        return result, found
    if isinstance(value, list):
        items = [_offline_secrets(v) for v in value]
        return [v for v, _ in items], any(f for _, f in items)
    return value, False
