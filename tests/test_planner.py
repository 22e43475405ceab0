"""Desired state as a pure function: releases, previews lifecycle, holds."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from gitops.core.environments import ENVIRONMENTS
from gitops.core.errors import ConfigError, HoldError, OutdatedError
from gitops.core.event import Action, ReleaseEvent
from gitops.core.gitrepo import BranchFacts
from gitops.core.naming import preview_id
from gitops.core.planner import Origin, plan, timestamp
from gitops.core.settings import PreviewPolicy, StackSettings
from gitops.core.state import Preview, StackState

NOW = datetime(2026, 3, 1, 12, 0)
A, B, C, FIX = "a" * 40, "b" * 40, "c" * 40, "f" * 40
HISTORY = [A, B, C, FIX]  # one line of history: each commit contains the ones before it


def linear(commit: str, ancestor: str) -> bool:
    return HISTORY.index(commit) >= HISTORY.index(ancestor)


PROD = ENVIRONMENTS["prod"]
PREVIEW = ENVIRONMENTS["preview"]


def settings(**preview: Any) -> StackSettings:
    return StackSettings(environment="preview", domain="preview.example.com", preview=PreviewPolicy(**preview))


def release(app: str, commit: str, action: Action = Action.DEPLOY, reason: str | None = None) -> ReleaseEvent:
    return ReleaseEvent(app, "master", commit, action, reason)


def deployed(*events: ReleaseEvent) -> StackState:
    state = StackState()
    for i, event in enumerate(events):
        state = plan(PROD, settings(), event, state, now=NOW + timedelta(minutes=i), descends=linear).state
    return state


def test_release_of_one_app_leaves_the_other_unchanged() -> None:
    first = deployed(release("web", A))
    second = plan(PROD, settings(), release("api", B), first, now=NOW + timedelta(hours=1)).state
    assert second.releases["web"] == first.releases["web"]
    assert second.releases["api"].commit == B


def test_redeploying_the_same_commit_keeps_its_timestamp() -> None:
    first = deployed(release("web", A))
    again = plan(PROD, settings(), release("web", A), first, now=NOW + timedelta(days=1)).state
    assert again == first


def test_no_event_keeps_state_and_records_origin() -> None:
    state = plan(PROD, settings(), release("web", A), StackState(), now=NOW, origin=Origin("alice", "https://ci/1"))
    assert state.state.releases["web"].actor == "alice"
    assert plan(PROD, settings(), None, state.state, now=NOW + timedelta(days=9)).state == state.state


def test_rollback_sets_a_hold_that_refuses_the_bad_commit_and_unrelated_commits() -> None:
    state = deployed(release("web", A), release("web", C), release("web", B, Action.ROLLBACK, "500s"))
    assert state.releases["web"].commit == B and state.holds["web"].commits == [C]
    with pytest.raises(HoldError, match="rolled back from cccccccc"):
        plan(PROD, settings(), release("web", C), state, now=NOW, descends=linear)
    with pytest.raises(OutdatedError, match="outdated pipeline: web runs bbbbbbbb"):
        plan(PROD, settings(), release("web", A), state, now=NOW, descends=linear)


def test_fix_descending_from_held_commit_releases_the_hold() -> None:
    state = deployed(release("web", A), release("web", C), release("web", B, Action.ROLLBACK, "500s"))
    result = plan(PROD, settings(), release("web", FIX), state, now=NOW, descends=linear)
    assert "web" not in result.state.holds and result.state.releases["web"].commit == FIX


def test_second_rollback_holds_both_commits_and_clear_hold_removes_it() -> None:
    state = deployed(
        release("web", A),
        release("web", B),
        release("web", C),
        release("web", B, Action.ROLLBACK, "bad C"),
        release("web", A, Action.ROLLBACK, "bad B too"),
    )
    assert state.holds["web"].commits == [C, B]
    with pytest.raises(HoldError, match="cannot be a rollback target"):
        plan(PROD, settings(), release("web", C, Action.ROLLBACK, "x"), state, now=NOW)
    cleared = plan(PROD, settings(), ReleaseEvent("web", "master", None, Action.CLEAR_HOLD, "ok"), state, now=NOW)
    assert cleared.state.holds == {} and cleared.state.releases == state.releases


def test_rollback_needs_a_release_and_a_different_commit() -> None:
    with pytest.raises(ConfigError, match="no release"):
        plan(PROD, settings(), release("web", A, Action.ROLLBACK, "x"), StackState(), now=NOW)
    with pytest.raises(ConfigError, match="already runs"):
        plan(PROD, settings(), release("web", A, Action.ROLLBACK, "x"), deployed(release("web", A)), now=NOW)


def preview_state(*entries: tuple[str, str, datetime]) -> StackState:
    previews = {}
    for app, branch, when in entries:
        key = preview_id(app, branch)
        previews[key] = Preview(
            app=app, branch=branch, commit=A, namespace=key, url=f"https://{key}.x", last_deployed=timestamp(when)
        )
    return StackState(previews=previews)


def preview_event(branch: str, action: Action = Action.DEPLOY, app: str = "web") -> ReleaseEvent:
    return ReleaseEvent(app, branch, None if action is Action.STOP else A, action)


def test_preview_deploy_resets_ttl_and_stop_removes() -> None:
    old = preview_state(("web", "feature/a", NOW - timedelta(days=10)))
    redeployed = plan(PREVIEW, settings(), preview_event("feature/a"), old, now=NOW).state
    assert redeployed.previews[preview_id("web", "feature/a")].last_deployed == timestamp(NOW)
    stopped = plan(PREVIEW, settings(), preview_event("feature/a", Action.STOP), redeployed, now=NOW)
    assert stopped.state.previews == {} and stopped.removed[0].reason == "stopped"
    again = plan(PREVIEW, settings(), preview_event("feature/a", Action.STOP), stopped.state, now=NOW)
    assert again.state == stopped.state and again.notes == ["no preview of web for branch 'feature/a': nothing to stop"]


def test_previews_of_deleted_or_merged_branches_are_pruned_only_for_known_repos() -> None:
    state = preview_state(
        ("web", "feature/deleted", NOW),
        ("web", "feature/merged", NOW),
        ("web", "feature/live", NOW),
        ("api", "feature/deleted", NOW),
    )
    facts = {"web": BranchFacts(frozenset({"feature/merged", "feature/live"}), frozenset({"feature/merged"}))}
    result = plan(PREVIEW, settings(), None, state, now=NOW, facts=facts)
    reasons = {r.preview: r.reason for r in result.removed}
    assert reasons == {
        preview_id("web", "feature/deleted"): "branch deleted",
        preview_id("web", "feature/merged"): "merged into latest",
    }
    assert set(result.state.previews) == {preview_id("web", "feature/live"), preview_id("api", "feature/deleted")}


def test_idle_previews_expire_after_ttl() -> None:
    state = preview_state(("web", "feature/old", NOW - timedelta(hours=73)), ("web", "feature/new", NOW))
    result = plan(PREVIEW, settings(ttl_hours=72), None, state, now=NOW)
    assert list(result.state.previews) == [preview_id("web", "feature/new")]
    assert result.removed[0].reason == "idle longer than 72h"


def test_cap_evicts_longest_idle_but_never_the_one_being_deployed() -> None:
    state = preview_state(
        ("web", "feature/oldest", NOW - timedelta(hours=5)),
        ("web", "feature/older", NOW - timedelta(hours=4)),
        ("web", "feature/recent", NOW - timedelta(hours=1)),
    )
    result = plan(PREVIEW, settings(max_previews=2), preview_event("feature/oldest"), state, now=NOW)
    assert set(result.state.previews) == {preview_id("web", "feature/oldest"), preview_id("web", "feature/recent")}
    assert [r.preview for r in result.removed] == [preview_id("web", "feature/older")]
