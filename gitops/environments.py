"""The three environments (= Pulumi stacks) and the branch each one may deploy."""

from __future__ import annotations

from dataclasses import dataclass

from gitops.errors import ConfigError

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
    """The stack name *is* the environment; anything else is refused."""
    try:
        return ENVIRONMENTS[stack]
    except KeyError:
        known = ", ".join(ENVIRONMENTS)
        raise ConfigError(
            f"stack {stack!r} is not an environment of this project; "
            f"select one of: {known} (pulumi stack select <name>)"
        ) from None
