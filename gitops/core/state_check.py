"""Check the carried state against this environment, the catalog and the naming rules.

Shape errors are caught by ``gitops.core.state.parse_outputs``; here the values must also make sense for
*this* stack: a preview's namespace must be exactly the one the naming rules give its app and branch
(never ``kube-system``), a release must be of the stack's own branch, a live app must still be in
the catalog (removal is an explicit ``retire``). The only thing dropped is harmless and logged:
holds and previews of apps the catalog no longer has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitops.core.catalog import Catalog
from gitops.core.environments import PROTECTED_BRANCHES, Environment
from gitops.core.errors import StateError, bounded
from gitops.core.naming import preview_host, preview_id
from gitops.core.state import REPAIR, StackState


@dataclass(frozen=True)
class CheckedState:
    state: StackState
    notes: list[str] = field(default_factory=list)


def check_state(
    state: StackState, env: Environment, catalog: Catalog, domain: str, own_preview: str | None = None
) -> CheckedState:
    """Raise StateError for anything a corrupted or foreign state could use to hurt this stack.

    ``own_preview`` is the id of a ``preview-<id>`` stack: it may hold that preview and no other.
    """
    if env.is_preview:
        _refuse_section(state.releases, "releases", env)
        _refuse_section(state.holds, "holds", env)
        foreign = sorted(k for k in state.previews if own_preview is not None and k != own_preview)
        if foreign:
            raise StateError(
                f"stack output previews holds {bounded(foreign[0], 70)}, but this stack holds only preview "
                f"{own_preview}; it looks like another stack's state; {REPAIR}"
            )
        return _checked_previews(state, catalog, domain)
    _refuse_section(state.previews, "previews", env)
    for app, release in state.releases.items():
        if app not in catalog.apps:
            raise StateError(
                f"stack output releases.{bounded(app, 63)}: app {bounded(repr(app), 63)} runs in {env.name} but is "
                "not in the catalog; removing an app is an explicit act: put it back into apps.yaml, run "
                f"`python -m gitops retire --stack {env.name} --app {bounded(app, 63)} --reason ...`, "
                "then remove it from apps.yaml"
            )
        if release.branch != env.deploy_branch:
            raise StateError(
                f"stack output releases.{app}.branch is {release.branch!r}, but {env.name} deploys only "
                f"{env.deploy_branch!r}; this is not {env.name}'s state (wrong stack or backend?), or {REPAIR}"
            )
    notes = []
    holds = dict(state.holds)
    for app in sorted(holds):
        if app not in catalog.apps:
            del holds[app]
            notes.append(f"dropped the hold on {bounded(app, 63)}: the app is no longer in the catalog")
    return CheckedState(StackState(state.releases, {}, holds), notes)


def _refuse_section(section: Mapping[str, object], key: str, env: Environment) -> None:
    if section:
        names = ", ".join(bounded(k, 63) for k in sorted(section)[:5])
        raise StateError(
            f"stack output {key} ({names}) cannot exist in the {env.name} stack; "
            f"this looks like another environment's state (wrong stack or backend?), or {REPAIR}"
        )


def _checked_previews(state: StackState, catalog: Catalog, domain: str) -> CheckedState:
    previews, notes = {}, []
    for key, preview in sorted(state.previews.items()):
        where = f"stack output previews.{bounded(key, 70)}"
        if preview.app not in catalog.apps:
            notes.append(
                f"dropped preview {bounded(key, 70)}: app {bounded(preview.app, 63)} is no longer in the catalog"
            )
            continue
        if preview.branch in PROTECTED_BRANCHES:
            raise StateError(f"{where}.branch is {preview.branch!r}, which never deploys to preview; {REPAIR}")
        expected = preview_id(preview.app, preview.branch)
        if key != expected or preview.namespace != expected:
            raise StateError(
                f"{where}: namespace {bounded(repr(preview.namespace), 70)} is not the one the naming rules give "
                f"{preview.app} on branch {bounded(repr(preview.branch), 70)} ({expected}); the engine never touches "
                f"another namespace; {REPAIR}"
            )
        url = f"https://{preview_host(expected, domain)}"
        previews[key] = preview if preview.url == url else preview.model_copy(update={"url": url})
    return CheckedState(StackState({}, previews, {}), notes)
