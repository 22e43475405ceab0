"""The release event: which app, commit and branch one `pulumi up` is about."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from gitops.core.catalog import Catalog
from gitops.core.environments import PROTECTED_BRANCHES, Environment
from gitops.core.errors import BaselineError, ConfigError, bounded
from gitops.core.validation import DIGEST, FULL_SHA, require_branch_name, require_dns_label


class Action(str, Enum):
    DEPLOY = "deploy"
    STOP = "stop"
    ROLLBACK = "rollback"
    CLEAR_HOLD = "clear-hold"
    RESTORE = "restore"  # put back the release that ran before a failed one (the release wrapper does this)
    RETIRE = "retire"  # explicitly remove an app from staging/prod (two updates: unprotect, then remove)
    INIT = "init"  # record an empty state for a new staging/prod stack


ADMIN_ACTIONS = frozenset({Action.ROLLBACK, Action.CLEAR_HOLD, Action.RESTORE, Action.RETIRE, Action.INIT})
NEEDS_REASON = frozenset({Action.ROLLBACK, Action.CLEAR_HOLD, Action.RETIRE})
WITHOUT_COMMIT = frozenset({Action.STOP, Action.CLEAR_HOLD, Action.RETIRE, Action.INIT})
MAX_REASON = 300
# actions that change one app only: the release command runs them as a targeted update (gitops:targeted)
TARGETABLE = frozenset({Action.DEPLOY, Action.ROLLBACK, Action.RESTORE, Action.CLEAR_HOLD})
# actions a release in waves runs wave by wave (gitops:wave)
WAVED = frozenset({Action.DEPLOY, Action.RESTORE})
MAX_WAVES = 20


@dataclass(frozen=True)
class ReleaseEvent:
    """What CI (or an admin command) asked for. ``commit`` is None for actions in ``WITHOUT_COMMIT``;
    ``app`` is empty only for ``init``."""

    app: str
    branch: str
    commit: str | None
    action: Action
    reason: str | None = None
    digest: str | None = None  # sha256:<64 hex> of the image built from ``commit``: what actually runs
    # the update runs with `--target` on this app's components: only they are registered, every other
    # app's resources stay as they are (set by `gitops release`/`rollback`/`hold clear`, never by hand)
    targeted: bool = False
    # a release in waves: this update deploys (or restores, up to) that wave of gitops:waves, 1-based
    wave: int | None = None
    # a rollback of one cluster only (gitops rollback --cluster): the others keep the current release
    cluster: str | None = None

    def describe(self, env: Environment) -> str:
        if self.action is Action.INIT:
            return f"init of {env.name}: recording an empty state"
        commit = self.commit or "-"
        wave = f", wave {self.wave}" if self.wave else ""
        where = f", on {self.cluster} only" if self.cluster else ""
        return f"{self.action.value} of {self.app} to {env.name} (branch {self.branch!r}, commit {commit}{wave}{where})"


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"gitops:{key} must be text, not {type(value).__name__} {bounded(repr(value), 40)}")
    text = value.strip()
    return text or None


def _checked_reason(reason: str | None) -> str | None:
    """The reason is kept in the history and shown in chat: one line of bounded length."""
    if reason is None:
        return None
    if len(reason) > MAX_REASON or any(ord(c) < 32 or ord(c) == 127 for c in reason):
        raise ConfigError(
            f"gitops:reason must be one line of at most {MAX_REASON} characters without control characters "
            f"(got {bounded(repr(reason), 60)})"
        )
    return reason


def event_from_config(env: Environment, raw: Mapping[str, Any], catalog: Catalog) -> ReleaseEvent | None:
    """Validate the event keys; None means "no event: re-apply the current state"."""
    app, commit, branch = _text(raw, "app"), _text(raw, "commit"), _text(raw, "branch")
    action_text, reason = _text(raw, "action"), _checked_reason(_text(raw, "reason"))
    digest = _text(raw, "digest")
    targeted = _targeted(_text(raw, "targeted"))
    wave = _wave(_text(raw, "wave"))
    cluster = _cluster(_text(raw, "cluster"))
    if digest is not None and not DIGEST.match(digest):
        raise ConfigError(
            f"gitops:digest {bounded(repr(digest), 80)} is not an image digest (sha256: and 64 lower-case hex); "
            "use the digest the build job recorded (IMAGE_DIGEST)"
        )
    if not any((app, commit, branch, action_text)):
        return None
    try:
        action = Action(action_text or Action.DEPLOY.value)
    except ValueError:
        choices = ", ".join(a.value for a in Action)
        raise ConfigError(f"gitops:action {bounded(repr(action_text), 40)} is not one of: {choices}") from None
    if targeted and (env.is_preview or action not in TARGETABLE):
        raise ConfigError(
            f"gitops:targeted is for staging/prod {', '.join(sorted(a.value for a in TARGETABLE))}, "
            f"not {action.value} in {env.name}; remove it"
        )
    if wave is not None and (env.is_preview or action not in WAVED or not targeted):
        raise ConfigError(
            f"gitops:wave is for targeted staging/prod {', '.join(sorted(a.value for a in WAVED))} updates "
            f"(set by gitops release), not {action.value} in {env.name}; remove it"
        )
    if cluster is not None and (env.is_preview or action is not Action.ROLLBACK or not targeted):
        raise ConfigError(
            f"gitops:cluster is for a targeted staging/prod rollback of one cluster (gitops rollback --cluster), "
            f"not {action.value} in {env.name}; remove it"
        )
    if branch is not None:
        try:
            require_branch_name(branch)
        except ValueError as exc:
            raise ConfigError(f"gitops:branch {exc}") from None
    if action is Action.INIT:
        if env.is_preview:
            raise ConfigError("gitops:action=init is for staging and prod; the preview stack needs no initialization")
        if app or commit:
            raise ConfigError("gitops:action=init takes no gitops:app or gitops:commit: it records an empty state")
        return ReleaseEvent("", env.deploy_branch or "", None, action, reason)
    if app is None:
        raise ConfigError("gitops:app is required when gitops:commit, gitops:branch or gitops:action is set")
    catalog.app(app)

    if env.is_preview:
        if action in ADMIN_ACTIONS:
            raise ConfigError(f"gitops:action={action.value} is for staging and prod; previews are redeployed instead")
        if branch is None:
            raise ConfigError("gitops:branch is required on the preview stack (the feature branch to preview)")
        if branch in PROTECTED_BRANCHES:
            raise BaselineError(
                f"refused: environment preview does not deploy branch {branch!r} "
                f"(commit {bounded(commit or '-', 40)}); {branch!r} deploys to "
                f"{'staging' if branch == 'latest' else 'prod'} after an admin merge"
            )
    else:
        if action is Action.STOP:
            raise ConfigError(f"gitops:action=stop is for preview only; {env.name} releases are rolled back instead")
        assert env.deploy_branch is not None
        if branch is not None and branch != env.deploy_branch:
            raise BaselineError(
                f"refused: environment {env.name} deploys only branch {env.deploy_branch!r}, "
                f"not {branch!r} (commit {bounded(commit or '-', 40)}); merge into {env.deploy_branch!r} first"
            )
        branch = env.deploy_branch

    if action in NEEDS_REASON and not reason:
        raise ConfigError(f"gitops:reason is required for {action.value} (say why, it is kept in the history)")
    if action in WITHOUT_COMMIT:
        if commit is not None or digest is not None:
            raise ConfigError(f"gitops:commit and gitops:digest are not used by {action.value}; remove them")
        return ReleaseEvent(app, branch, None, action, reason, targeted=targeted)
    if digest is None and not env.is_preview:
        raise ConfigError(
            f"gitops:digest is required for {action.value} in {env.name}: staging and prod run images pinned by "
            "digest (image@sha256:...), since a tag can be pushed again; pass the build job's IMAGE_DIGEST"
        )
    if commit is None:
        raise ConfigError(f"gitops:commit is required for {action.value} (the full 40-hex commit SHA)")
    if not FULL_SHA.match(commit.lower()):
        raise ConfigError(
            f"gitops:commit {bounded(repr(commit), 60)} is not a full 40-hex commit SHA; the release version is "
            "the commit id (use $CI_COMMIT_SHA, not a short SHA or a tag)"
        )
    return ReleaseEvent(app, branch, commit.lower(), action, reason, digest, targeted, wave, cluster)


def _cluster(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return require_dns_label(text, max_len=30)
    except ValueError as exc:
        raise ConfigError(f"gitops:cluster {exc}; name one cluster of gitops:clusters") from None


def _wave(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_WAVES or text != str(int(text)):
        raise ConfigError(f"gitops:wave must be a wave number from 1 to {MAX_WAVES}, not {bounded(repr(text), 40)}")
    return int(text)


def _targeted(text: str | None) -> bool:
    if text not in (None, "true", "false"):
        raise ConfigError(f"gitops:targeted must be true or false, not {bounded(repr(text), 40)}")
    return text == "true"
