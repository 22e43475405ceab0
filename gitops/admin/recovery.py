"""What to do when a staging/prod release fails: pure decisions, driven by ``gitops release``.

Pulumi's engine does *not* simply keep the previous stack outputs on a failed update. When the program
registered its outputs and a resource operation then fails (a rollout that never becomes ready), the
new outputs are persisted (``executeRegisterResourceOutputs`` with ``errored``: old outputs overwritten
by the new ones; pinned by ``TestStackOutputsResourceError`` in pulumi/pulumi). Only when the *program*
fails are the old outputs kept (``TestStackOutputsProgramError``). So after a failed release the stack
may already record the failed commit while the cluster runs a half-finished rollout. The release
wrapper therefore remembers the last good release *before* the update and, when the update failed past
the program's checks, restores it explicitly (``gitops:action=restore``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gitops.core.environments import Environment
from gitops.core.errors import REFUSAL_MARK
from gitops.core.naming import short_commit
from gitops.core.state import CarriedState


def is_refusal(error_text: str) -> bool:
    return REFUSAL_MARK in error_text


@dataclass(frozen=True)
class Restore:
    app: str
    commit: str
    failed_commit: str
    digest: str | None = None

    @property
    def reason(self) -> str:
        return f"automatic restore after the failed release of {short_commit(self.failed_commit)}"

    def event(self, branch: str) -> dict[str, str]:
        event = {"app": self.app, "commit": self.commit, "branch": branch, "action": "restore", "reason": self.reason}
        return {**event, **({"digest": self.digest} if self.digest else {})}


def restore_after_failure(
    env: Environment, event: Mapping[str, str], before: CarriedState | None, error_text: str
) -> Restore | None:
    """The restore a failed update calls for, or None (previews, refusals, first releases, unknown state)."""
    if env.is_preview or event.get("action", "deploy") != "deploy" or is_refusal(error_text):
        return None
    if before is None or not before.recorded:
        return None
    app, commit = event.get("app", ""), event.get("commit", "")
    live = before.state.releases.get(app)
    if live is None or live.commit == commit:
        return None
    return Restore(app=app, commit=live.commit, failed_commit=commit, digest=live.digest)
