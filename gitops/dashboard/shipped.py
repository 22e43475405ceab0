"""The merge requests each staging/prod release shipped: those merged between the release before it (its
``previous`` commit) and its commit, read from the app's clone as the release notes read them
(``gitops.notify.notes``). The pages job clones every app (``ci/dashboard.sh``, as the sweep does); an app
without a clone shows no merge request, and says why."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gitops.dashboard.read import EnvironmentView
from gitops.notify.notes import ReleaseNotes, release_notes


def shipped_merge_requests(
    views: list[EnvironmentView], clones: Mapping[str, str], projects: Mapping[str, str]
) -> dict[tuple[str, str], ReleaseNotes]:
    """(stack, app) -> what that app's current release brought."""
    found = {}
    for view in views:
        if view.environment == "preview":
            continue
        for stack in view.stacks:
            for app, release in (stack.state.state.releases if stack.state else {}).items():
                clone, project = clones.get(app), projects.get(app)
                if clone is None or project is None:
                    found[stack.stack, app] = ReleaseNotes(unknown="no clone of the app was given")
                elif release.previous is None:
                    found[stack.stack, app] = ReleaseNotes(unknown="its first release here")
                else:
                    found[stack.stack, app] = release_notes(Path(clone), release.commit, release.previous, project)
    return found
