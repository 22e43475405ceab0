"""Notifications against real servers on 127.0.0.1 (see tests/servers.py), through the real CLI process."""

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gitops.notify.card import card_state, render_card, updated_state
from gitops.notify.report import ReleaseReport, summarize_junit
from tests.harness import ROOT
from tests.servers import DingTalkRobot, GitLabStandIn, Note, SlackHook, SmtpSink, TrickleSite

TOKEN = "glpat-notify-token-1234"
DING_SECRET = "SECdingtalk-secret-5678"
DING_TOKEN = "ding-access-token-9abc"
SHA1, SHA2 = "1" * 40, "2" * 40
JUNIT_FAIL = """<testsuites><testsuite name="unit">
<testcase classname="shop.cart" name="test_total"/>
<testcase classname="shop.cart" name="test_discount"><failure message="assert 90 == 85">trace</failure></testcase>
<testcase classname="shop.cart" name="test_tax"><error message="KeyError: 'vat'"/></testcase>
<testcase classname="shop.cart" name="test_slow"><skipped/></testcase>
</testsuite></testsuites>"""


@pytest.fixture()
def servers() -> Iterator[dict[str, Any]]:
    with (
        GitLabStandIn(TOKEN, "shop/web") as gl,
        DingTalkRobot(DING_SECRET, DING_TOKEN) as ding,
        SlackHook() as slack,
        SmtpSink() as smtp,
    ):
        yield {"gitlab": gl, "dingtalk": ding, "slack": slack, "smtp": smtp}


def notify_config(servers: dict[str, Any], timeout: float = 3) -> str:
    return json.dumps(
        {
            "gitlab_card": True,
            "dingtalk": True,
            "slack": True,
            "timeout_seconds": timeout,
            "email": {
                "smtp_host": "127.0.0.1",
                "smtp_port": servers["smtp"].port,
                "starttls": False,
                "sender": "gitops@example.com",
                "recipients": ["dev@example.com"],
            },
        }
    )


def ci_env(
    servers: dict[str, Any],
    tmp_path: Path,
    *,
    branch: str = "feature/cart",
    commit: str = SHA1,
    mr: str = "5",
    result: str = "success",
    **extra: str,
) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "GITOPS_APP": "web",
        "CI_COMMIT_SHA": commit,
        "CI_COMMIT_REF_NAME": branch,
        "CI_PROJECT_PATH": "shop/web",
        "CI_PIPELINE_URL": "https://gitlab.example.com/shop/web/-/pipelines/77",
        "CI_JOB_URL": "https://gitlab.example.com/shop/web/-/jobs/9",
        "GITLAB_USER_LOGIN": "alice",
        "CI_API_V4_URL": servers["gitlab"].url + "/api/v4",
        "GITOPS_NOTIFY_TOKEN": TOKEN,
        "DINGTALK_WEBHOOK": servers["dingtalk"].webhook,
        "DINGTALK_SECRET": DING_SECRET,
        "SLACK_WEBHOOK_URL": servers["slack"].webhook,
        "SMTP_PASSWORD": "smtp-password-xyz",
        "DEPLOY_URL": "http://127.0.0.1:9/not-listening",
    }
    if branch in ("latest", "master"):
        env["CI_COMMIT_BRANCH"] = branch
    elif mr:
        env["CI_MERGE_REQUEST_IID"] = mr
    if result == "success":
        env["DEPLOY_RESULT"] = "success"
    return {**env, **extra}


def notify(env: dict[str, str], config: str, reports: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "gitops", "notify", "--from-ci", "--notify-config", config]
    if reports is not None:
        args += ["--reports", str(reports)]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_first_run_creates_the_card_and_the_second_edits_it(servers: dict[str, Any], tmp_path: Path) -> None:
    first = notify(ci_env(servers, tmp_path), notify_config(servers))
    assert first.returncode == 0, first.stdout + first.stderr
    notes = servers["gitlab"].state.notes[5]
    assert len(notes) == 1 and "Release card: web" in notes[0].body and "`11111111`" in notes[0].body
    second = notify(ci_env(servers, tmp_path, commit=SHA2), notify_config(servers))
    assert second.returncode == 0, second.stdout
    assert len(notes) == 1, "the same note is edited, not a new one"
    assert "`22222222`" in notes[0].body and notes[0].body.count("· preview · deploy `") == 2
    assert "unreachable" in notes[0].body, "preview health is shown"
    statuses = servers["gitlab"].state.statuses
    assert [(s["sha"], s["name"], s["state"]) for s in statuses] == [
        (SHA1, "gitops/preview", "success"),
        (SHA2, "gitops/preview", "success"),
    ]
    assert statuses[0]["target_url"] == "https://gitlab.example.com/shop/web/-/jobs/9"


def test_failed_release_card_lists_failing_tests(servers: dict[str, Any], tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "unit.xml").write_text(JUNIT_FAIL)
    done = notify(ci_env(servers, tmp_path, result="failed"), notify_config(servers), reports)
    assert done.returncode == 3, done.stdout
    body = servers["gitlab"].state.notes[5][0].body
    assert "1 passed, 2 failed, 1 skipped" in body
    assert "- `shop.cart.test_discount`: assert 90 == 85" in body and "KeyError: 'vat'" in body  # no stray escapes
    assert "❌ deploy" in body
    assert servers["gitlab"].state.statuses[0]["state"] == "failed"
    assert "FAILED" in servers["slack"].messages[0]["text"]


def test_staging_deploy_updates_the_card_of_the_mr_that_brought_the_commit(
    servers: dict[str, Any], tmp_path: Path
) -> None:
    assert notify(ci_env(servers, tmp_path), notify_config(servers)).returncode == 0
    servers["gitlab"].state.mrs_of_commit[SHA2] = [5]
    done = notify(ci_env(servers, tmp_path, branch="latest", commit=SHA2, mr=""), notify_config(servers))
    assert done.returncode == 0, done.stdout
    body = servers["gitlab"].state.notes[5][0].body
    assert "| staging | `22222222` | ✅ deploy" in body and "| preview | `11111111`" in body
    assert servers["gitlab"].state.statuses[-1]["name"] == "gitops/staging"


def test_chat_and_email_receive_the_release(servers: dict[str, Any], tmp_path: Path) -> None:
    done = notify(ci_env(servers, tmp_path), notify_config(servers))
    assert done.returncode == 0, done.stdout
    (ding,) = servers["dingtalk"].messages
    assert ding["msgtype"] == "actionCard" and "web deploy to preview released" in ding["actionCard"]["title"]
    buttons = [(b["title"], b["actionURL"]) for b in ding["actionCard"]["btns"]]
    assert buttons == [("Open preview", "http://127.0.0.1:9/not-listening"), ("Pipeline", env_pipeline())]
    assert servers["dingtalk"].rejected == []
    assert "web deploy to preview released" in servers["slack"].messages[0]["text"]
    (mail,) = servers["smtp"].messages
    assert mail["To"] == "dev@example.com" and mail["Subject"].startswith("[gitops] web deploy to preview")
    kinds = {part.get_content_type() for part in mail.walk()}
    assert {"text/plain", "text/html"} <= kinds


def test_a_wrong_dingtalk_secret_is_rejected_by_the_signature_check_and_others_still_deliver(
    servers: dict[str, Any], tmp_path: Path
) -> None:
    done = notify(ci_env(servers, tmp_path, DINGTALK_SECRET="SECwrong-secret-0000"), notify_config(servers))
    assert done.returncode == 4
    assert servers["dingtalk"].rejected == ["sign"] and not servers["dingtalk"].messages
    assert "notify: dingtalk FAILED: ChannelError: DingTalk answered errcode 310000" in done.stdout
    assert servers["slack"].messages and servers["smtp"].messages and servers["gitlab"].state.notes[5]


@pytest.mark.parametrize("slack", [SlackHook(mode="down"), SlackHook(delay=3)], ids=["down", "slow"])
def test_a_channel_down_or_slow_does_not_block_the_others(
    servers: dict[str, Any], tmp_path: Path, slack: SlackHook
) -> None:
    with slack:
        env = ci_env(servers, tmp_path, SLACK_WEBHOOK_URL=slack.webhook)
        done = notify(env, notify_config(servers, timeout=1))
    assert done.returncode == 4, done.stdout
    assert "notify: slack FAILED" in done.stdout
    assert servers["dingtalk"].messages and servers["smtp"].messages and servers["gitlab"].state.notes[5]


def test_no_secret_appears_in_any_output(servers: dict[str, Any], tmp_path: Path) -> None:
    env = ci_env(servers, tmp_path, CI_API_V4_URL="http://127.0.0.1:9/api/v4")  # GitLab down: error text
    with SlackHook(mode="down") as slack:
        env["SLACK_WEBHOOK_URL"] = slack.webhook
        done = notify(env, notify_config(servers, timeout=1))
    output = done.stdout + done.stderr
    assert done.returncode == 4 and "gitlab FAILED" in output
    for secret in (TOKEN, DING_SECRET, DING_TOKEN, "hook-secret-XYZ", "smtp-password-xyz"):
        assert secret not in output
    for message in servers["dingtalk"].messages:
        assert DING_SECRET not in json.dumps(message)


def test_cards_of_other_users_are_never_edited(servers: dict[str, Any], tmp_path: Path) -> None:
    spoof = render_card(card_state(""), report())
    servers["gitlab"].state.notes[5] = [Note(1, spoof, "mallory")]
    assert notify(ci_env(servers, tmp_path), notify_config(servers)).returncode == 0
    notes = servers["gitlab"].state.notes[5]
    assert len(notes) == 2 and notes[0].body == spoof and notes[1].author == "gitops-bot"


def report(**changes: Any) -> ReleaseReport:
    base: dict[str, Any] = {
        "app": "web",
        "environment": "preview",
        "action": "deploy",
        "commit": SHA1,
        "branch": "feature/x",
        "project": "shop/web",
        "result": "success",
        "tests": summarize_junit([]),
    }
    return ReleaseReport(**{**base, **changes})


def test_junit_summary_counts_errors_as_failures(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text(JUNIT_FAIL)
    summary = summarize_junit([path])
    assert (summary.passed, summary.failed, summary.skipped) == (1, 2, 1)
    assert [t.name for t in summary.failing] == ["shop.cart.test_discount", "shop.cart.test_tax"]


def test_card_state_survives_markdown_and_comment_breakers() -> None:
    nasty = report(reason="--> <b>x</b> | `y`", actor="eve")
    state = updated_state(card_state(""), nasty, datetime(2026, 3, 4, 12, 0))
    body = render_card(state, nasty)
    assert card_state(body) == state
    assert body.count("-->") == 1, "the hidden marker is closed exactly once"
    assert "<b>" not in body.split("<!--")[0], "text from users is escaped in the visible card"


def test_a_trickling_and_a_rate_limiting_endpoint_cannot_hold_the_job_past_its_deadline(tmp_path: Path) -> None:
    """Slack trickles one byte a second (no read times out); GitLab answers 429, Retry-After: 30."""
    with (
        GitLabStandIn(TOKEN, "shop/web") as gl,
        DingTalkRobot(DING_SECRET, DING_TOKEN) as ding,
        SlackHook("trickle") as slack,
        SmtpSink() as smtp,
    ):
        gl.state.rate_limited = True
        servers = {"gitlab": gl, "dingtalk": ding, "slack": slack, "smtp": smtp}
        config = json.loads(notify_config(servers, timeout=2))
        started = time.monotonic()
        done = notify(ci_env(servers, tmp_path), json.dumps({**config, "deadline_seconds": 4}))
        elapsed = time.monotonic() - started
    assert elapsed < 15, f"took {elapsed:.1f}s"
    assert done.returncode == 4, done.stdout + done.stderr
    assert "slack FAILED: no answer within the 4s deadline" in done.stdout
    assert "gitlab FAILED: no answer within the 4s deadline" in done.stdout
    assert "dingtalk delivered" in done.stdout and "email delivered" in done.stdout


INJECTIONS = [
    "feat/x<!channel>",
    "feat/<@U024BE7LH>-and-<!here>",
    "fix/@all-the-things",
    "x`y``z",
    "<script>alert(1)</script>",
    "a\n/merge\n/close",
    "[click](javascript:alert(1))",
    "**bold** _it_ <b>b</b> &amp;",
]


def test_untrusted_text_renders_inert_in_every_channel() -> None:
    from gitops.notify import render
    from gitops.notify.card import render_card, updated_state
    from gitops.notify.report import FailingTest, TestSummary

    for text in INJECTIONS:
        report = ReleaseReport(
            app="web", environment="preview", action="deploy", commit=SHA1, branch=text, project="shop/web",
            result="failed", actor=text, reason=text,
            tests=TestSummary(0, 1, 0, [FailingTest(f"test_{text}", text)]),
        )  # fmt: skip
        slack = render.slack_text(report)
        assert "<!" not in slack and "<@" not in slack and "<script" not in slack, slack
        ding = render.chat_markdown(report)
        assert "@all" not in ding and "<script" not in ding and "\n/merge" not in ding, ding
        card = render_card(updated_state({"environments": {}, "events": []}, report, datetime(2026, 3, 4)), report)
        for line in card.splitlines():
            assert not line.lstrip().startswith("/"), f"a quick action from data: {line!r}"
        markup = re.sub(r"<!-- gitops:release-card .*? -->", "", card, flags=re.S)  # the hidden state
        markup = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", markup)  # code spans render as code: inert
        assert "@all" not in markup and "<script" not in markup and "](javascript:" not in markup, markup
        html_body = render.email_html(report)
        assert "<script>" not in html_body and "<b>b</b>" not in html_body
    from gitops.notify.escape import gitlab_code

    assert gitlab_code("test `weird``name") == "```test `weird``name```", "a fence longer than any run inside"
    assert gitlab_code("`edge`") == "`` `edge` ``"


def test_a_rollback_notice_names_both_commits_the_reason_and_who(servers: dict[str, Any], tmp_path: Path) -> None:
    from gitops.notify import render
    from gitops.notify.report import TestSummary

    report = ReleaseReport(
        app="web", environment="prod", action="rollback", commit="b" * 40, branch="master", project="shop/web",
        result="success", tests=TestSummary(), actor="bob", reason="500s on checkout", related_commits=("c" * 40,),
    )  # fmt: skip
    for text in (render.slack_text(report), render.chat_markdown(report), render.email_text(report)):
        assert "rolled back in prod from cccccccc to bbbbbbbb" in text
        assert "by: bob" in text and "500s on checkout" in text


def test_a_staging_release_lists_the_mrs_it_brings_and_each_mr_hears_of_it(
    servers: dict[str, Any], tmp_path: Path
) -> None:
    from tests.gitutil import GitRepo

    repo = GitRepo(tmp_path / "app")
    repo.checkout("latest", create_from="master")
    previous = repo.head()
    for iid, branch in ((7, "feature/cart"), (8, "feature/login")):
        repo.branch_with_commit(branch, "latest", f"work on {branch}")
        repo.checkout("latest")
        repo.git(
            "merge",
            "-q",
            "--no-ff",
            "-m",
            f"Merge branch '{branch}' into 'latest'\n\nSee merge request shop/web!{iid}",
            branch,
        )
    repo.git("commit", "-q", "--allow-empty", "-m", "Merge branch 'x' into 'latest'\n\nSee merge request evil/other!99")
    released = repo.head()
    env = ci_env(
        servers, tmp_path, branch="latest", commit=released, PREVIOUS_COMMIT=previous, CI_PROJECT_DIR=str(repo.path)
    )
    done = notify(env, notify_config(servers))
    assert done.returncode == 0, done.stdout + done.stderr
    notes = servers["gitlab"].state.notes
    assert set(notes) == {7, 8}, "the card of every MR the release contains (not another project's !99)"
    assert all("| staging | `" + released[:8] + "` | ✅ deploy" in n[0].body for n in notes.values())
    slack = servers["slack"].messages[0]["text"]
    assert "includes: !7, !8" in slack and "work on feature/cart" in slack


def test_a_card_that_turns_red_tells_the_mr_author_once(servers: dict[str, Any], tmp_path: Path) -> None:
    gl = servers["gitlab"]
    gl.state.mr_authors[5] = "carol"
    for result in ("failed", "failed", "success", "failed"):
        done = notify(ci_env(servers, tmp_path, result=result), notify_config(servers))
        assert done.returncode in (0, 3), done.stdout
    bodies = [n.body for n in gl.state.notes[5]]
    replies = [b for b in bodies if b.startswith("@carol ")]
    assert len(replies) == 2, "red after green tells the author; red after red does not"
    assert replies[0].startswith("@carol the preview deploy of `11111111` failed")
    assert sum("gitops:release-card" in b for b in bodies) == 1, "one card, edited in place"


def test_statuses_carry_ref_and_pipeline_and_a_rolled_back_commit_turns_red(servers: dict[str, Any]) -> None:
    from gitops.notify.channels import GitLabCard
    from gitops.notify.report import TestSummary

    card = GitLabCard(servers["gitlab"].url + "/api/v4", TOKEN, 3)
    report = ReleaseReport(
        app="web", environment="prod", action="rollback", commit=SHA1, branch="master", project="shop/web",
        result="success", tests=TestSummary(), related_commits=(SHA2,), pipeline_id=77, actor="bob", reason="500s",
    )  # fmt: skip
    card.send(report, datetime(2026, 3, 4))
    statuses = {s["sha"]: s for s in servers["gitlab"].state.statuses}
    assert statuses[SHA1]["state"] == "success" and statuses[SHA1]["pipeline_id"] == 77
    assert statuses[SHA1]["ref"] == "master" and statuses[SHA1]["name"] == "gitops/prod"
    assert (statuses[SHA2]["state"], statuses[SHA2]["description"]) == ("failed", "rolled back in prod")


def test_a_merged_results_pipeline_reports_on_the_mr_head_commit(tmp_path: Path) -> None:
    from gitops.notify.report import report_from_ci

    env = {
        "GITOPS_APP": "web", "CI_COMMIT_SHA": "9" * 40, "CI_COMMIT_REF_NAME": "refs/merge-requests/5/merge",
        "CI_PROJECT_PATH": "shop/web", "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": SHA1,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/cart", "CI_MERGE_REQUEST_IID": "5",
    }  # fmt: skip
    report = report_from_ci(env, None)
    assert (report.commit, report.branch) == (SHA1, "feature/cart")


def env_pipeline() -> str:
    return "https://gitlab.example.com/shop/web/-/pipelines/77"


def test_the_21st_dingtalk_message_in_a_minute_waits_instead_of_being_lost() -> None:
    """The robot takes 20 messages per window (here 2 s instead of 60 s, to keep the test short)."""
    from gitops.notify.channels import DingTalk
    from gitops.notify.report import TestSummary

    report = ReleaseReport(
        app="web", environment="preview", action="deploy", commit=SHA1, branch="f", project="shop/web",
        result="success", tests=TestSummary(),
    )  # fmt: skip
    with DingTalkRobot(DING_SECRET, DING_TOKEN, per_window=20, window=2.0) as robot:
        channel = DingTalk(robot.webhook, DING_SECRET, timeout=3, deadline=20, backoff=0.5)
        for _ in range(21):
            channel.send(report, datetime(2026, 3, 4))
        assert len(robot.messages) == 21 and "too fast" in robot.rejected
        slow = DingTalk(robot.webhook, DING_SECRET, timeout=3, deadline=0.2, backoff=0.5)
        robot.accepted_at = [time.monotonic()] * 20
        with pytest.raises(Exception, match="errcode 130101"):
            slow.send(report, datetime(2026, 3, 4))  # no room left in the deadline: reported, not hidden


def test_a_red_release_mentions_its_author_in_chat_through_the_configured_map(
    servers: dict[str, Any], tmp_path: Path
) -> None:
    config = json.loads(notify_config(servers))
    config["chat_users"] = {"alice": {"dingtalk_mobile": "13800000000", "slack_user_id": "U024BE7LH"}}
    config["rollback_doc_url"] = "https://gitlab.example.com/platform/deploy#audit-and-rollback-admins"
    done = notify(ci_env(servers, tmp_path, result="failed", branch="feat/x@all<!channel>"), json.dumps(config))
    assert done.returncode == 3, done.stdout
    card, mention = servers["dingtalk"].messages
    assert card["msgtype"] == "actionCard" and "@all" not in card["actionCard"]["text"]
    assert mention["msgtype"] == "text" and mention["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert mention["text"]["content"].startswith("@13800000000 web deploy to preview FAILED")
    slack = servers["slack"].messages[0]
    assert slack["text"].startswith("<@U024BE7LH> ") and "<!channel>" not in slack["text"]
    assert slack["text"].count("<@") == 1, "only the mention the map asked for"
    actions = next(b for b in slack["blocks"] if b["type"] == "actions")["elements"]
    assert [a["text"]["text"] for a in actions] == ["Open preview", "Pipeline"], "no roll-back button for a preview"
    green = notify(ci_env(servers, tmp_path), json.dumps(config))
    assert green.returncode == 0 and not servers["slack"].messages[1]["text"].startswith("<@")


def test_failing_functional_tests_turn_the_status_and_the_card_red(servers: dict[str, Any], tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "functional.xml").write_text(JUNIT_FAIL)
    done = notify(ci_env(servers, tmp_path, result="success"), notify_config(servers), reports)
    assert done.returncode == 0, "the deploy itself succeeded; the verify job is the red one"
    status = servers["gitlab"].state.statuses[-1]
    assert status["state"] == "failed" and "tests: 1 passed, 2 failed" in status["description"]
    bodies = [n.body for n in servers["gitlab"].state.notes[5]]
    assert "| preview | `11111111` | ❌ deploy" in bodies[0]
    assert any(b.startswith("@dev1 the preview deploy") for b in bodies), "a red card tells the author"


def test_the_card_history_of_a_rollback_names_both_commits() -> None:
    from gitops.notify.report import TestSummary

    report = ReleaseReport(
        app="web", environment="prod", action="rollback", commit="b" * 40, branch="master", project="shop/web",
        result="success", tests=TestSummary(), related_commits=("c" * 40,), actor="bob", reason="500s",
    )  # fmt: skip
    card = render_card(updated_state({"environments": {}, "events": []}, report, datetime(2026, 3, 4)), report)
    assert "prod · rollback from `cccccccc` to `bbbbbbbb` · success · by bob · reason: 500s" in card


def test_green_deploy_with_red_tests_is_red_everywhere_and_mentions_the_author(
    servers: dict[str, Any], tmp_path: Path
) -> None:
    """One definition of red (deploy failed or a functional test failed) for the card, the status, the
    author reply and every chat message: DingTalk and Slack mention the mapped author here too."""
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "functional.xml").write_text(JUNIT_FAIL)
    config = json.loads(notify_config(servers))
    config["chat_users"] = {"alice": {"dingtalk_mobile": "13800000000", "slack_user_id": "U024BE7LH"}}

    done = notify(ci_env(servers, tmp_path, result="success"), json.dumps(config), reports)

    assert done.returncode == 0, done.stdout  # the deploy succeeded; the report is red
    card, mention = servers["dingtalk"].messages
    assert card["msgtype"] == "actionCard" and "tests FAILED" in card["actionCard"]["title"]
    assert mention["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert "tests FAILED" in mention["text"]["content"]
    slack = servers["slack"].messages[0]
    assert slack["text"].startswith("<@U024BE7LH> ") and "tests FAILED" in slack["text"]
    assert servers["gitlab"].state.statuses[-1]["state"] == "failed"
    bodies = [n.body for n in servers["gitlab"].state.notes[5]]
    assert any(b.startswith("@dev1 ") for b in bodies), "the MR author gets the reply"


def test_a_trickling_health_url_cannot_hold_the_report_past_its_deadline(
    servers: dict[str, Any], tmp_path: Path
) -> None:
    """The health probe is one of the report's network calls: it runs under the one deadline too (the app
    answers one byte a second for two minutes, so no read ever times out)."""
    config = json.loads(notify_config(servers))
    config["deadline_seconds"], config["timeout_seconds"] = 8, 1
    with TrickleSite() as site:
        env = ci_env(servers, tmp_path, DEPLOY_URL=site.url)
        done = subprocess.run(
            [sys.executable, "-m", "gitops", "notify", "--from-ci", "--notify-config", json.dumps(config)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode in (0, 4), done.stdout + done.stderr
    assert "notify: done" in done.stdout or "notification failed" in done.stdout
    assert "no answer" in servers["gitlab"].state.notes[5][0].body, "the card says the probe got no answer"
