"""User-facing errors: each says what was wrong, where, and how to fix it."""

from collections.abc import Iterable

MAX_SHOWN = 120
# Every refusal of the program starts with this, so a wrapper can tell "refused, nothing changed"
# from "failed while changing resources" (gitops.admin.recovery).
REFUSAL_MARK = "gitops refused the update (nothing was changed):"


def bounded(text: str, limit: int = MAX_SHOWN) -> str:
    """Untrusted input quoted in a message is cut, so an error never echoes unbounded input."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def listing(names: Iterable[str], limit: int = 20) -> str:
    """A sorted, bounded list of names for a message ("a, b, c and 12 more")."""
    items = sorted(names)
    shown = ", ".join(bounded(i, 63) for i in items[:limit]) or "none"
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


class GitOpsError(Exception):
    """An error a user can act on; its message is shown as-is, without a traceback."""


class ConfigError(GitOpsError):
    """Stack settings, the app catalog or the release event are invalid."""


class StateError(GitOpsError):
    """The stack's carried state (its last outputs) is missing, corrupted or inconsistent."""


class BaselineError(GitOpsError):
    """The release event breaks the branch -> environment rule (the small baseline)."""


class CannotTellError(GitOpsError):
    """The clone cannot answer a git question (shallow, or a commit or branch it does not hold); never a "no"."""


class HoldError(GitOpsError):
    """The release is refused because an admin rolled back from this commit."""


class OutdatedError(GitOpsError):
    """The release would move a staging/prod app backwards (a retried old pipeline)."""


class FreezeError(GitOpsError):
    """prod is inside a deploy freeze."""


class BackendError(StateError):
    """The state backend fails (unwritable, full, gone): nothing can be recorded until it is repaired."""
