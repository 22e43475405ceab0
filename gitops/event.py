"""The release event: which app, commit and branch one `pulumi up` is about."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from gitops.catalog import Catalog
from gitops.environments import PROTECTED_BRANCHES, Environment
from gitops.errors import BaselineError, ConfigError

FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


class Action(str, Enum):
    DEPLOY = "deploy"
    STOP = "stop"
    ROLLBACK = "rollback"
    CLEAR_HOLD = "clear-hold"


@dataclass(frozen=True)
class ReleaseEvent:
    """What CI (or the rollback tool) asked for. ``commit`` is None only for ``stop``."""

    app: str
    branch: str
    commit: str | None
    action: Action
    reason: str | None = None

    def describe(self, env: Environment) -> str:
        commit = self.commit or "-"
        return f"{self.action.value} of {self.app} to {env.name} (branch {self.branch!r}, commit {commit})"


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def event_from_config(env: Environment, raw: Mapping[str, Any], catalog: Catalog) -> ReleaseEvent | None:
    """Validate the event keys; None means "no event: re-apply the current state"."""
    app, commit, branch = _text(raw, "app"), _text(raw, "commit"), _text(raw, "branch")
    action_text, reason = _text(raw, "action"), _text(raw, "reason")
    if not any((app, commit, branch, action_text)):
        return None
    try:
        action = Action(action_text or Action.DEPLOY.value)
    except ValueError:
        choices = ", ".join(a.value for a in Action)
        raise ConfigError(f"gitops:action {action_text!r} is not one of: {choices}") from None
    if app is None:
        raise ConfigError("gitops:app is required when gitops:commit, gitops:branch or gitops:action is set")
    catalog.app(app)

    if env.is_preview:
        if action in (Action.ROLLBACK, Action.CLEAR_HOLD):
            raise ConfigError(f"gitops:action={action.value} is for staging and prod; previews are redeployed instead")
        if branch is None:
            raise ConfigError("gitops:branch is required on the preview stack (the feature branch to preview)")
        if branch in PROTECTED_BRANCHES:
            raise BaselineError(
                f"refused: environment preview does not deploy branch {branch!r} (commit {commit or '-'}); "
                f"{branch!r} deploys to {'staging' if branch == 'latest' else 'prod'} after an admin merge"
            )
    else:
        if action is Action.STOP:
            raise ConfigError(f"gitops:action=stop is for preview only; {env.name} releases are rolled back instead")
        assert env.deploy_branch is not None
        if branch is not None and branch != env.deploy_branch:
            raise BaselineError(
                f"refused: environment {env.name} deploys only branch {env.deploy_branch!r}, "
                f"not {branch!r} (commit {commit or '-'}); merge into {env.deploy_branch!r} first"
            )
        branch = env.deploy_branch

    if action in (Action.ROLLBACK, Action.CLEAR_HOLD) and not reason:
        raise ConfigError(f"gitops:reason is required for {action.value} (say why, it is kept in the history)")
    if action in (Action.STOP, Action.CLEAR_HOLD):
        return ReleaseEvent(app, branch, None, action, reason)
    if commit is None:
        raise ConfigError(f"gitops:commit is required for {action.value} (the full 40-hex commit SHA)")
    if not FULL_SHA.match(commit.lower()):
        raise ConfigError(
            f"gitops:commit {commit!r} is not a full 40-hex commit SHA; the release version is the commit id "
            "(use $CI_COMMIT_SHA, not a short SHA or a tag)"
        )
    return ReleaseEvent(app, branch, commit.lower(), action, reason)
