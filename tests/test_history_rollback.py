"""The release ledger and rollback target selection over hand-built histories (pure)."""

import pytest

from gitops.admin.history import SECRET, entry_from_json, ledger, table
from gitops.admin.messages import parse_message, update_message
from gitops.admin.rollback import plan_rollback
from gitops.core.errors import ConfigError
from tests.fake_pulumi import history_item

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)


def releases(*steps: tuple[str, str, str] | tuple[str, str, str, str]) -> list[dict[str, object]]:
    """(app, commit, action[, result]) per update, versions 1..n."""
    items = []
    for version, step in enumerate(steps, start=1):
        app, commit, action, *rest = step
        items.append(
            history_item(version, app=app, commit=commit, action=action, result=rest[0] if rest else "succeeded")
        )
    return items


def test_message_format_round_trips() -> None:
    message = update_message(
        "deploy", "web", actor="alice", pipeline="https://gitlab.example.com/p/1", commit=A, branch="master"
    )
    assert message == "deploy web@aaaaaaaa from master by alice (pipeline https://gitlab.example.com/p/1)"
    rollback = update_message("rollback", "web", actor="bob", commit=A, from_commit=C, reason="500s: bad cache")
    assert rollback == "rollback web from cccccccc to aaaaaaaa by bob (pipeline -): 500s: bad cache"
    facts = parse_message(rollback)
    assert (facts.actor, facts.pipeline, facts.reason) == ("bob", "", "500s: bad cache")


def test_history_entry_reads_cli_json_fields_secrets_and_non_update_kinds() -> None:
    secret = {"gitops:kubeconfig-prod-eu": {"secret": True}}
    item = history_item(
        3,
        app="web",
        commit=A,
        message=update_message("deploy", "web", actor="alice", commit=A, branch="master"),
        extra_config=secret,
    )
    entry = entry_from_json(item)
    assert (entry.version, entry.kind, entry.result, entry.app, entry.commit) == (3, "update", "succeeded", "web", A)
    assert entry.actor == "alice" and entry.action == "deploy" and entry.start_time == "2026-03-04T15:00:00.000Z"
    secret_commit = entry_from_json(history_item(4, app="web", extra_config={"gitops:commit": {"secret": True}}))
    assert secret_commit.commit == SECRET and not secret_commit.is_release
    refresh = entry_from_json(history_item(5, kind="refresh"))
    destroy = entry_from_json(history_item(6, kind="destroy", app="web", commit=A))
    failed = entry_from_json(history_item(7, app="web", commit=A, result="failed"))
    assert not any(e.is_release for e in (refresh, destroy, failed))


def test_table_shows_short_commits_newest_first() -> None:
    text = table(ledger(releases(("web", A, "deploy"), ("web", B, "deploy"))))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["VER", "KIND", "RESULT"]
    assert lines[1].split()[0] == "2" and "bbbbbbbb" in lines[1] and B not in text


def test_default_target_is_the_release_before_the_current_one() -> None:
    plan = plan_rollback(ledger(releases(("web", A, "deploy"), ("web", B, "deploy"), ("web", C, "deploy"))), "web")
    assert (plan.current.commit, plan.target.commit) == (C, B)
    assert [e.commit for e in plan.between] == [C]


def test_after_rolling_back_from_c_to_b_the_next_rollback_goes_to_a() -> None:
    history = ledger(releases(("web", A, "deploy"), ("web", B, "deploy"), ("web", C, "deploy"), ("web", B, "rollback")))
    plan = plan_rollback(history, "web")
    assert (plan.current.commit, plan.target.commit) == (B, A)
    assert C not in plan.candidates


def test_repeated_rollbacks_walk_back_and_skip_failed_and_other_apps() -> None:
    history = ledger(
        releases(
            ("web", A, "deploy"),
            ("api", D, "deploy"),
            ("web", B, "deploy"),
            ("web", D, "deploy", "failed"),
            ("web", C, "deploy"),
            ("web", B, "rollback"),
            ("api", A, "deploy"),
        )
    )
    assert plan_rollback(history, "web").target.commit == A
    assert plan_rollback(history, None).app == "api", "without --app: the most recent release of the stack"
    with pytest.raises(ConfigError, match="nothing to roll back to: api runs aaaaaaaa"):
        plan_rollback(ledger(releases(("api", A, "deploy"))), "api")


def test_to_accepts_a_released_commit_and_refuses_others_with_the_valid_list() -> None:
    history = ledger(releases(("web", A, "deploy"), ("web", B, "deploy"), ("web", C, "deploy")))
    assert plan_rollback(history, "web", to=A[:10]).target.commit == A
    with pytest.raises(
        ConfigError,
        match=r"--to dddddddd is not a valid rollback target for web; valid targets: "
        r"bbbbbbbb \(v2\), aaaaaaaa \(v1\)",
    ):
        plan_rollback(history, "web", to="dddddddd")
    with pytest.raises(ConfigError, match="valid targets"):
        plan_rollback(history, "web", to=C)
    assert plan_rollback(history, "web", steps=2).target.commit == A
    with pytest.raises(ConfigError, match="--steps 3 is out of range"):
        plan_rollback(history, "web", steps=3)


def test_nothing_to_roll_back() -> None:
    with pytest.raises(ConfigError, match="no successful release yet"):
        plan_rollback(ledger([history_item(1, kind="refresh")]), None)
    with pytest.raises(ConfigError, match="web has no successful release"):
        plan_rollback(ledger(releases(("api", A, "deploy"))), "web")


def test_a_diy_backend_history_without_version_numbers_keeps_the_cli_order() -> None:
    """The file (DIY) backend prints every update with version 0, newest first (seen with the real CLI in
    tests/e2e): the ledger's order is then the CLI's, and the rollback target the release before."""
    items = releases(("web", A, "deploy"), ("web", B, "deploy"), ("web", C, "deploy"))
    for item in items:
        item["version"] = 0
    newest_first = list(reversed(items))

    entries = ledger(newest_first)

    assert [e.commit for e in entries] == [A, B, C]
    assert [e.version for e in entries] == [1, 2, 3]
    plan = plan_rollback(entries, "web", to=None, steps=1)
    assert (plan.current.commit, plan.target.commit) == (C, B)


def test_a_rollback_of_one_cluster_is_no_release_of_the_app_but_holds_its_commit() -> None:
    """C rolled back on prod-us alone: the app's release is still C; the next rollback of every cluster goes
    to B, and C is never a target again."""
    on_us = {"gitops:cluster": {"value": "prod-us", "secret": False}}
    items = [
        *releases(("web", A, "deploy"), ("web", B, "deploy"), ("web", C, "deploy")),
        history_item(4, app="web", commit=B, action="rollback", extra_config=on_us),
        history_item(5, app="web", commit=D, action="deploy"),
    ]
    entries = ledger(items)
    assert entries[3].cluster == "prod-us" and "rollback@prod-us" in table(entries)
    partial = plan_rollback(entries[:4], "web")
    assert (partial.current.commit, partial.target.commit) == (C, B), "prod-us's rollback left the release at C"
    after_fix = plan_rollback(entries, "web")
    assert after_fix.current.commit == D and after_fix.candidates == [B, A], "C was rolled back (on prod-us)"
    message = update_message("rollback", "web", actor="bob", commit=B, from_commit=C, reason="r", cluster="prod-us")
    assert message.startswith("rollback web from cccccccc to bbbbbbbb on prod-us only by bob")
    assert parse_message(message).actor == "bob"
