"""The three environments (= Pulumi stacks) and the branch each one may deploy."""

from __future__ import annotations

from dataclasses import dataclass

from gitops.core.errors import ConfigError

INTEGRATION_BRANCH = "latest"
PRODUCTION_BRANCH = "master"
PROTECTED_BRANCHES = frozenset({INTEGRATION_BRANCH, PRODUCTION_BRANCH})


@dataclass(frozen=True)
class Environment:
    """One environment; ``deploy_branch`` is None for previews (any feature branch)."""

    name: str
    deploy_branch: str | None
    gitlab_environment: str

    @property
    def is_preview(self) -> bool:
        return self.deploy_branch is None


ENVIRONMENTS: dict[str, Environment] = {
    "preview": Environment("preview", None, "review"),
    "staging": Environment("staging", INTEGRATION_BRANCH, "staging"),
    "prod": Environment("prod", PRODUCTION_BRANCH, "production"),
}


def environment_for_stack(stack: str) -> Environment:
    """The stack name *is* the environment (``preview-<preview id>``: one preview); anything else is refused."""
    from gitops.core.naming import preview_of_stack

    if stack in ENVIRONMENTS:
        return ENVIRONMENTS[stack]
    if preview_of_stack(stack) is not None:
        return ENVIRONMENTS["preview"]
    known = ", ".join(ENVIRONMENTS)
    raise ConfigError(
        f"stack {stack[:80]!r} is not an environment of this project; "
        f"select one of: {known}, or preview-<preview id> for one preview (pulumi stack select <name>)"
    )


def settings_stack(stack: str) -> str:
    """Whose ``Pulumi.<stack>.yaml`` configures ``stack``: a preview's own stack is configured as ``preview``."""
    return environment_for_stack(stack).name
