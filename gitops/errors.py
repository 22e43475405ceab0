"""User-facing errors: each says what was wrong, where, and how to fix it."""


class GitOpsError(Exception):
    """An error a user can act on; its message is shown as-is, without a traceback."""


class ConfigError(GitOpsError):
    """Stack settings, the app catalog or the release event are invalid."""


class BaselineError(GitOpsError):
    """The release event breaks the branch -> environment rule (the small baseline)."""


class HoldError(GitOpsError):
    """The release is refused because an admin rolled back from this commit."""


class FreezeError(GitOpsError):
    """prod is inside a deploy freeze."""
