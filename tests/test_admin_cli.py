"""Admin commands through the Automation API, with a fake PulumiCommand at the CLI boundary.

The fake (tests/fake_pulumi.py) stands in for the Pulumi CLI, which cannot be installed here; `up`
runs the real program under the offline engine, so holds and refusals come from the program.
"""

import json
from pathlib import Path

import pytest
from pulumi import automation as auto

from gitops.admin.audit import _record_drift
from gitops.admin.backend_store import FileStore
from gitops.admin.drift_record import DriftCheck, last_drift_check
from gitops.admin.locks import BackendLocks
from gitops.admin.messages import update_message
from gitops.admin.stack import LOCK_POLL_SECONDS, PAGE_SIZE, StackAdmin
from gitops.cli import main
from gitops.core.settings import EVENT_KEYS
from tests.fake_pulumi import FakeBackend, FakePulumiCommand, history_item
from tests.gitutil import GitRepo
from tests.harness import INITIALIZED, ROOT, digest_of
from tests.servers import GitLabStandIn, SlackHook


@pytest.fixture()
def master_repo(tmp_path: Path) -> tuple[GitRepo, list[str]]:
    """master: A - B - C - FIX (FIX descends from C)."""
    repo = GitRepo(tmp_path / "web")
    return repo, [repo.head(), repo.commit("B"), repo.commit("C"), repo.commit("fix for C")]


def backend_with_releases(repo: GitRepo, commits: list[str]) -> FakeBackend:
    backend = FakeBackend("prod", ROOT, environ={"CI_PROJECT_DIR": str(repo.path), "GITLAB_USER_LOGIN": "ci"})
    admin = StackAdmin("prod", ROOT, FakePulumiCommand(backend))
    admin.release({"action": "init"}, "init prod by admin (pipeline -)", on_output=lambda _: None)
    for commit in commits:
        message = update_message("deploy", "web", actor="alice", commit=commit, branch="master")
        event = {"app": "web", "commit": commit, "branch": "master", "digest": digest_of(commit)}
        admin.release(event, message, on_output=lambda _: None)
    return backend


def cli(backend: FakeBackend, *argv: str) -> int:
    return main(list(argv), pulumi_command=FakePulumiCommand(backend))


def test_history_of_5000_updates_takes_at_most_five_cli_calls(capsys: pytest.CaptureFixture[str]) -> None:
    items = [history_item(v, app="web", commit=f"{v:040x}") for v in range(1, 5001)]
    backend = FakeBackend("prod", ROOT, history=items, outputs=INITIALIZED)
    assert cli(backend, "history", "--stack", "prod", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["version"] for r in rows] == list(range(5000, 0, -1))
    assert rows[0]["commit"] == f"{5000:040x}"
    assert len(backend.calls) <= 5, [c[:2] for c in backend.calls]
    pages = [c[c.index("--page") + 1] for c in backend.calls if c[:2] == ["stack", "history"]]
    assert pages == ["1", "2", "3"] and PAGE_SIZE == 2000


def test_history_limit_and_rollback_stop_reading_early(
    master_repo: tuple[GitRepo, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (a, b, c, _) = master_repo
    backend = backend_with_releases(repo, [a, b, c])
    backend.history[:0] = [history_item(v, app="api", commit=f"{v:040x}") for v in range(1, 4001)]
    for number, item in enumerate(backend.history, start=1):
        item["version"] = number
    calls = len(backend.calls)
    assert cli(backend, "history", "--stack", "prod", "--limit", "3", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert sum(c[:2] == ["stack", "history"] for c in backend.calls[calls:]) == 1
    calls = len(backend.calls)
    assert cli(backend, "rollback", "--stack", "prod", "--app", "web", "--reason", "x", "--dry-run") == 0
    assert f"to   {b}" in capsys.readouterr().out
    assert sum(c[:2] == ["stack", "history"] for c in backend.calls[calls:]) == 1


def test_history_table_filters_app_and_limit(capsys: pytest.CaptureFixture[str]) -> None:
    items = [
        history_item(1, app="web", commit="a" * 40),
        history_item(2, app="api", commit="b" * 40),
        history_item(3, kind="refresh"),
        history_item(4, app="web", commit="c" * 40, result="failed"),
    ]
    assert (
        cli(FakeBackend("prod", ROOT, history=items), "history", "--stack", "prod", "--app", "web", "--limit", "5") == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "cccccccc" in out[1] and "failed" in out[1] and "aaaaaaaa" in out[2]


def test_rollback_dry_run_shows_plan_and_changes_nothing(
    master_repo: tuple[GitRepo, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (a, b, c, _) = master_repo
    backend = backend_with_releases(repo, [a, b, c])
    calls_before = len(backend.calls)
    assert cli(backend, "rollback", "--stack", "prod", "--app", "web", "--reason", "errors", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"from {c}" in out and f"to   {b}" in out and "dry run: nothing changed" in out
    assert not any(call[0] == "up" for call in backend.calls[calls_before:])


def test_rollback_that_sticks_until_a_fix_or_an_explicit_clear(
    master_repo: tuple[GitRepo, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (a, b, c, fix) = master_repo
    backend = backend_with_releases(repo, [a, b, c])
    backend.environ.pop("CI_PROJECT_DIR")  # an admin's machine: the clone is named on the command line
    argv = ["rollback", "--stack", "prod", "--app", "web", "--reason", "500s on checkout", "--yes"]
    assert cli(backend, *argv, "--repo", str(repo.path)) == 0
    assert backend.outputs["releases"]["web"]["commit"] == b
    assert backend.outputs["holds"]["web"]["commits"] == [c]
    assert f"from {c[:8]} to {b[:8]} by " in backend.history[-1]["message"]
    assert backend.history[-1]["message"].endswith(": 500s on checkout")
    assert not set(backend.config) & {f"gitops:{k}" for k in EVENT_KEYS}, "event keys are removed after the update"
    backend.environ["CI_PROJECT_DIR"] = str(repo.path)

    admin = StackAdmin("prod", ROOT, FakePulumiCommand(backend))
    for retried, why in ((c, f"was rolled back from {c[:8]}"), (a, "outdated pipeline")):
        with pytest.raises(auto.CommandError, match=why):  # the rolled-back commit, or an old pipeline retried
            event = {"app": "web", "commit": retried, "branch": "master", "digest": digest_of(retried)}
            admin.release(event, "retry", on_output=print)
    assert backend.history[-1]["result"] == "failed"

    assert cli(backend, "status", "--stack", "prod") == 0
    assert f"HOLD web: refuses {c[:8]} until a fix descends from it" in capsys.readouterr().out
    assert cli(backend, "history", "--stack", "prod", "--app", "web") == 0
    listed = capsys.readouterr().out
    assert f"HOLD web: refuses {c[:8]} since" in listed and "rollback" in listed and "failed" in listed

    admin.release(
        {"app": "web", "commit": fix, "branch": "master", "digest": digest_of(fix)}, "deploy fix", on_output=print
    )
    assert backend.outputs["holds"] == {}
    assert backend.outputs["releases"]["web"]["commit"] == fix

    assert cli(backend, "rollback", "--stack", "prod", "--app", "web", "--reason", "fix broke", "--yes") == 0
    assert backend.outputs["releases"]["web"]["commit"] == b, "C was rolled back from: skipped"
    assert cli(backend, "hold", "clear", "--stack", "prod", "--app", "web", "--reason", "verified") == 0
    assert backend.outputs["holds"] == {}
    admin.release({"app": "web", "commit": c, "branch": "master", "digest": digest_of(c)}, "redeploy", on_output=print)


def test_rollback_with_nothing_to_go_back_to_is_a_clear_error(
    master_repo: tuple[GitRepo, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (a, *_) = master_repo
    backend = backend_with_releases(repo, [a])
    assert cli(backend, "rollback", "--stack", "prod", "--reason", "x", "--yes") == 2
    assert "nothing to roll back to: web runs" in capsys.readouterr().err
    assert sum(call[0] == "up" for call in backend.calls) == 2  # init and the one release


def test_rollback_invalid_to_lists_valid_targets(
    master_repo: tuple[GitRepo, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (a, b, c, fix) = master_repo
    backend = backend_with_releases(repo, [a, b, c])
    assert cli(backend, "rollback", "--stack", "prod", "--app", "web", "--to", fix, "--reason", "x", "--yes") == 2
    err = capsys.readouterr().err
    assert f"valid targets: {b[:8]} (v3), {a[:8]} (v2)" in err  # v1 is the init


def test_rollback_is_refused_on_preview_and_unknown_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    backend = FakeBackend("preview", ROOT)
    assert cli(backend, "rollback", "--stack", "preview", "--reason", "x") == 2
    assert "rollback is for staging and prod" in capsys.readouterr().err
    assert cli(FakeBackend("qa", ROOT), "status", "--stack", "qa") == 2
    assert "stack 'qa' is not an environment" in capsys.readouterr().err


def test_drift_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(FakeBackend("prod", ROOT), "drift", "--stack", "prod") == 0
    assert "no drift" in capsys.readouterr().out
    assert cli(FakeBackend("prod", ROOT, drift={"update": 2}), "drift", "--stack", "prod") == 3
    assert "DRIFT - a refresh would make: 2 update" in capsys.readouterr().out


def test_drift_waits_for_a_locked_stack(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("gitops.admin.stack.time.sleep", slept.append)
    backend = FakeBackend("prod", ROOT, drift={"update": 1}, locked_updates=2)
    assert cli(backend, "drift", "--stack", "prod", "--lock-wait", "1200") == 3
    out = capsys.readouterr().out
    assert out.count("stack prod is locked by another update; waiting") == 2 and "DRIFT" in out
    assert slept == [LOCK_POLL_SECONDS, LOCK_POLL_SECONDS]


def test_message_command_prints_the_agreed_format(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "message",
        "--app",
        "web",
        "--commit",
        "a" * 40,
        "--branch",
        "master",
        "--actor",
        "alice",
        "--pipeline",
        "https://gitlab.example.com/shop/web/-/pipelines/9",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip()
    assert (
        out == "deploy web@aaaaaaaa from master by alice (pipeline https://gitlab.example.com/shop/web/-/pipelines/9)"
    )


def test_rollback_asks_before_it_changes_anything(
    master_repo: tuple[GitRepo, list[str]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, (a, b, c, _) = master_repo
    backend = backend_with_releases(repo, [a, b, c])
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert cli(backend, "rollback", "--stack", "prod", "--app", "web", "--reason", "errors") == 1
    assert "aborted: nothing changed" in capsys.readouterr().out
    assert backend.outputs["releases"]["web"]["commit"] == c and sum(call[0] == "up" for call in backend.calls) == 4


def test_rollback_is_announced_on_the_mr_of_the_rolled_back_commit(
    master_repo: tuple[GitRepo, list[str]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitLab and Slack are the loopback stand-ins of tests/servers.py."""
    repo, (a, b, c, _) = master_repo
    backend = backend_with_releases(repo, [a, b, c])
    with GitLabStandIn("glpat-admin", "shop/web") as gl, SlackHook() as slack:
        gl.state.mrs_of_commit[c] = [12]
        monkeypatch.setenv("GITOPS_NOTIFY_CONFIG", '{"gitlab_card": true, "slack": true, "timeout_seconds": 3}')
        monkeypatch.setenv("GITOPS_NOTIFY_TOKEN", "glpat-admin")
        monkeypatch.setenv("CI_API_V4_URL", gl.url + "/api/v4")
        monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.webhook)
        monkeypatch.setenv("GITLAB_USER_LOGIN", "bob")
        assert cli(backend, "rollback", "--stack", "prod", "--app", "web", "--reason", "checkout 500s", "--yes") == 0
    out = capsys.readouterr().out
    assert "notify: gitlab delivered" in out and "notify: slack delivered" in out and "glpat-admin" not in out
    (note,) = gl.state.notes[12]
    assert f"| prod | `{b[:8]}` | ✅ rollback" in note.body and "reason: checkout 500s" in note.body
    assert {(s["sha"], s["state"]) for s in gl.state.statuses if s["name"] == "gitops/prod"} == {
        (b, "success"),
        (c, "failed"),
    }
    assert "web rolled back in prod from " + c[:8] + " to " + b[:8] in slack.messages[0]["text"]


@pytest.mark.parametrize("command", [["history", "--stack", "prod"], ["status", "--stack", "preview"], ["sweep"]])
def test_admin_commands_without_a_pulumi_cli_are_one_line_errors(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi here
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the Pulumi CLI is not installed or not on PATH") and err.count("\n") == 1


def test_a_broken_pulumi_cli_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "pulumi"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert main(["rollback", "--stack", "prod", "--reason", "x", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the Pulumi CLI does not run") and "Traceback" not in err


def test_help_names_the_admin_commands_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "(later)" not in text and "the admin commands" in text
    for command in ("history", "rollback", "release", "retire", "sweep", "notify"):
        assert command in text


def test_unlock_shows_the_holder_asks_and_the_next_update_records_the_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lock nobody of ours wrote (a hand-run ``pulumi up`` that died) in a file backend: ``gitops unlock``
    shows it and its holder, changes nothing without a yes, deletes exactly that lock with one, and the next
    update of the stack carries the break in its message (the history is the audit trail)."""
    lock_dir = tmp_path / ".pulumi" / "locks" / "organization" / "gitops" / "prod"
    lock_dir.mkdir(parents=True)
    lock = lock_dir / "5a48.json"
    lock.write_text(json.dumps({"pid": 4242, "username": "bob", "hostname": "laptop", "timestamp": "2026-12-01"}))
    other = tmp_path / ".pulumi" / "locks" / "organization" / "gitops" / "staging" / "1.json"
    other.parent.mkdir(parents=True)
    other.write_text(lock.read_text())
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    backend = FakeBackend("prod", ROOT, outputs=INITIALIZED)

    monkeypatch.setattr("builtins.input", lambda _: "n")
    assert cli(backend, "unlock", "--stack", "prod") == 1
    out = capsys.readouterr().out
    assert "foreign: held by bob@laptop (pid 4242) since 2026-12-01, which wrote no gitops lease" in out
    assert lock.exists() and "aborted: nothing changed" in out

    assert cli(backend, "unlock", "--stack", "prod", "--yes") == 0
    assert not lock.exists() and other.exists(), "exactly this stack's lock"
    StackAdmin("prod", ROOT, FakePulumiCommand(backend)).release({}, "apply settings", on_output=lambda _: None)
    message = backend.history[-1]["message"]
    assert message.startswith("apply settings\n") and "broke a lock of prod (foreign): held by bob@laptop" in message
    assert not list((tmp_path / ".gitops" / "audit").rglob("*.txt")), "recorded once, then gone"
    assert cli(backend, "unlock", "--stack", "prod") == 0 and "stack prod is not locked" in capsys.readouterr().out


def test_a_drift_check_the_backend_refuses_to_record_keeps_its_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dashboard's record is written beside the state; a backend that refuses it only warns."""

    class Admin:
        project, name = "gitops", "prod"
        locks = BackendLocks(FileStore(tmp_path / "state"), "gitops", "prod")

    check = DriftCheck("2026-12-06T10:00:00Z", {"update": 1}, ("Deployment web",))
    _record_drift(Admin(), check)  # type: ignore[arg-type]
    assert last_drift_check(FileStore(tmp_path / "state"), "gitops", "prod") == check
    (tmp_path / "refusing").write_text("a file where the backend's folder should be")
    Admin.locks = BackendLocks(FileStore(tmp_path / "refusing"), "gitops", "prod")
    _record_drift(Admin(), check)  # type: ignore[arg-type]
    assert "the drift check could not be recorded for the dashboard" in capsys.readouterr().err
