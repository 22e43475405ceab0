"""The small baseline: an environment deploys only commits of the branch it owns."""

from __future__ import annotations

from gitops.core.environments import Environment
from gitops.core.errors import BaselineError, CannotTellError
from gitops.core.event import Action, ReleaseEvent
from gitops.core.gitrepo import DEEPEN, SourceRepo


def check_event(env: Environment, event: ReleaseEvent, repo: SourceRepo) -> None:
    """Raise BaselineError unless the event's commit exists and is on the branch it claims.

    ``stop`` is not checked: tearing down a preview must work after its branch is deleted.
    """
    if event.action is Action.STOP:
        return
    assert event.commit is not None
    where = f"environment {env.name}, branch {event.branch!r}, commit {event.commit}"
    if not repo.has_commit(event.commit):
        if repo.is_shallow:
            raise CannotTellError(f"refused: {where}: the shallow clone {repo.path} does not hold the commit; {DEEPEN}")
        raise BaselineError(f"refused: {where}: the commit does not exist in {repo.path} (push it first)")
    if not repo.tips_of(event.branch):
        raise BaselineError(
            f"refused: {where}: branch {event.branch!r} does not exist in {repo.path} "
            "(fetch all branches: git fetch origin '+refs/heads/*:refs/remotes/origin/*')"
        )
    if not repo.is_on_branch(event.commit, event.branch):
        if repo.is_shallow:
            raise CannotTellError(
                f"refused: {where}: cannot tell whether the commit is on {event.branch!r}: the clone {repo.path} "
                f"is shallow; {DEEPEN}"
            )
        raise BaselineError(
            f"refused: {where}: the commit is not reachable from {event.branch!r}; "
            f"{env.name} deploys only commits merged into {event.branch!r}"
        )
