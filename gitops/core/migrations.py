"""State migrations, derived from what a stack's state holds, never from today's configuration.

Until 2026-12 the GitLab CI/CD variables of a stack were named by position (``staging-var-0-<key>``: apps
sorted by name, the deploy project last), and so were prod's freeze periods (``prod-web-freeze-0``). An
alias computed from the configuration of the day would, after an app or a freeze was added, point a
resource at another one's old state. Each old resource's state records what it is (project and key; start,
end and time zone); the new name is derived from those, once, by renaming it in the state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops.core.errors import StateError, bounded
from gitops.core.naming import short_hash

VARIABLE_TYPE = "gitlab:index/projectVariable:ProjectVariable"
FREEZE_TYPE = "gitlab:index/projectFreezePeriod:ProjectFreezePeriod"
POSITIONAL = re.compile(r"^(?P<env>preview|staging|prod)-var-(?P<index>[0-9]+)-(?P<key>[a-z0-9_]+)$")
POSITIONAL_FREEZE = re.compile(r"^prod-(?P<app>[a-z0-9-]+)-freeze-(?P<index>[0-9]{1,4})$")


@dataclass(frozen=True)
class Rename:
    urn: str
    new_name: str

    @property
    def old_name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def variable_name(env: str, project_path: str, key: str) -> str:
    """The name of a CI/CD variable resource: environment, project path and key (components/gitlab.py)."""
    return f"{env}-var-{project_path}-{key.lower()}"


def freeze_name(app: str, start: str, end: str, timezone: str) -> str:
    """The name of a prod freeze period resource: the app and what the freeze is (components/gitlab.py)."""
    return f"prod-{app}-freeze-{short_hash(start, end, timezone)}"


def positional_renames(deployment: Mapping[str, Any]) -> list[Rename]:
    """Every rename this migration makes: CI/CD variables and freeze periods still named by position."""
    return [*positional_variable_renames(deployment), *positional_freeze_renames(deployment)]


def positional_freeze_renames(deployment: Mapping[str, Any]) -> list[Rename]:
    """One rename per prod freeze period still named by position, to the name its recorded window gives."""
    resources, taken = _resources(deployment)
    renames = []
    for resource in resources:
        if resource.get("type") != FREEZE_TYPE:
            continue
        urn = str(resource.get("urn", ""))
        found = POSITIONAL_FREEZE.match(urn.rsplit("::", 1)[-1])
        if found is None:
            continue
        inputs = _inputs(resource)
        recorded = [inputs.get(k) for k in ("freezeStart", "freezeEnd", "cronTimezone")]
        window = [v for v in recorded if isinstance(v, str) and v]
        if len(window) != len(recorded):
            raise StateError(
                f"freeze period {bounded(urn)} records no start, end and time zone; repair it by hand "
                "(pulumi state rename)"
            )
        new_name = freeze_name(found["app"], *window)
        if new_name != urn.rsplit("::", 1)[-1]:
            renames.append(_checked(Rename(urn, new_name), taken))
    return renames


def _resources(deployment: Mapping[str, Any]) -> tuple[list[dict[str, Any]], set[str]]:
    resources = deployment.get("resources") or []
    if not isinstance(resources, list):
        raise StateError("the stack's state has no resource list; it cannot be migrated")
    found = [r for r in resources if isinstance(r, dict)]
    return found, {str(r.get("urn", "")).rsplit("::", 1)[-1] for r in found}


def _inputs(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    inputs = resource.get("inputs")
    return inputs if isinstance(inputs, dict) else {}


def _checked(rename: Rename, taken: set[str]) -> Rename:
    if rename.new_name in taken:
        raise StateError(
            f"{bounded(rename.urn)} would be renamed to {bounded(rename.new_name)}, which the state already "
            "holds; remove the duplicate by hand (pulumi state delete) and run the migration again"
        )
    taken.add(rename.new_name)
    return rename


def positional_variable_renames(deployment: Mapping[str, Any]) -> list[Rename]:
    """One rename per CI/CD variable still named by position, to the name its recorded project and key give.

    Raises StateError when a recorded variable does not say which project and key it is, or when its new
    name is already taken: the state is then not what this migration knows, and nothing is renamed."""
    resources, taken = _resources(deployment)
    renames = []
    for resource in resources:
        if resource.get("type") != VARIABLE_TYPE:
            continue
        urn = str(resource.get("urn", ""))
        found = POSITIONAL.match(urn.rsplit("::", 1)[-1])
        if found is None:
            continue
        inputs = _inputs(resource)
        project, key = inputs.get("project"), inputs.get("key")
        if not isinstance(project, str) or not project or not isinstance(key, str) or key.lower() != found["key"]:
            raise StateError(
                f"variable {bounded(urn)} records project {bounded(repr(project), 60)} and key "
                f"{bounded(repr(key), 60)}, which do not match its name; repair it by hand (pulumi state rename)"
            )
        renames.append(_checked(Rename(urn, variable_name(found["env"], project, key)), taken))
    return renames
