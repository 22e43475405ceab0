"""Delivery adapters. Each sends one report to one channel, with a bounded timeout, or raises."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import smtplib
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

import gitlab
from slack_sdk.webhook import WebhookClient

from gitops.notify import escape, render
from gitops.notify.card import card_state, has_marker, render_card, updated_state
from gitops.notify.report import ReleaseReport

USERNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")  # a GitLab username, and nothing else


class ChannelError(Exception):
    """A channel answered, but not with success."""


def dingtalk_signature(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signing rule: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


@dataclass(frozen=True)
class Mention:
    """Whom a red release names in chat: from the configured GitLab-user map, never from report data."""

    dingtalk_mobile: str | None = None
    slack_user_id: str | None = None


DINGTALK_TOO_FAST = 130101  # "send too fast": more than 20 messages a minute for this robot


@dataclass(frozen=True)
class DingTalk:
    """DingTalk custom robot (no maintained client library; this adapter takes any webhook URL).

    An actionCard with buttons (preview, pipeline, how to roll back); for a red release whose author is in
    the chat map, a second text message @-mentions them. A robot takes 20 messages a minute: a "send too
    fast" answer is retried with back-off while the report's deadline allows, so a burst is delayed, not lost.
    """

    webhook: str
    secret: str | None
    timeout: float
    deadline: float = 60
    mention: Mention = Mention()
    rollback_doc_url: str | None = None
    backoff: float = 2.0

    def send(self, report: ReleaseReport, now: datetime) -> None:
        until = time.monotonic() + self.deadline
        buttons = render.buttons(report, self.rollback_doc_url)
        text = render.chat_markdown(report)
        if buttons:
            card = {"title": render.dingtalk_title(report), "text": text, "btnOrientation": "1"}
            body: dict[str, object] = {
                "msgtype": "actionCard",
                "actionCard": {**card, "btns": [{"title": t, "actionURL": u} for t, u in buttons]},
            }
        else:
            body = {"msgtype": "markdown", "markdown": {"title": render.dingtalk_title(report), "text": text}}
        self._post(body, until)
        if report.red and self.mention.dingtalk_mobile:
            mobile = self.mention.dingtalk_mobile
            content = f"@{mobile} {render.dingtalk_title(report)}"
            self._post(
                {"msgtype": "text", "text": {"content": content}, "at": {"atMobiles": [mobile], "isAtAll": False}},
                until,
            )

    def _post(self, body: dict[str, object], until: float) -> None:
        wait = self.backoff
        while True:
            answer = self._post_once(body)
            if answer.get("errcode") == 0:
                return
            if answer.get("errcode") == DINGTALK_TOO_FAST and time.monotonic() + wait < until:
                time.sleep(wait)
                wait = min(wait * 2, 15)
                continue
            raise ChannelError(f"DingTalk answered errcode {answer.get('errcode')}: {answer.get('errmsg')}")

    def _post_once(self, body: dict[str, object]) -> dict[str, object]:
        url = self.webhook
        if self.secret:
            stamp = int(time.time() * 1000)
            url += ("&" if "?" in url else "?") + f"timestamp={stamp}&sign={dingtalk_signature(self.secret, stamp)}"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            answer: dict[str, object] = json.loads(response.read() or b"{}")
        return answer


@dataclass(frozen=True)
class Slack:
    """Slack incoming webhook, through slack_sdk's WebhookClient: Block Kit with link buttons, and a
    ``<@U…>`` mention of the author (from the chat map) when the release is red. Incoming webhooks cannot
    post into a thread (they return no message ts), so each report is its own message."""

    webhook: str
    timeout: float
    mention: Mention = Mention()
    rollback_doc_url: str | None = None

    def send(self, report: ReleaseReport, now: datetime) -> None:
        text = render.slack_text(report)
        if report.red and self.mention.slack_user_id:
            text = f"<@{self.mention.slack_user_id}> {text}"
        blocks: list[dict[str, object]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]
        buttons = render.buttons(report, self.rollback_doc_url)
        if buttons:
            elements = [{"type": "button", "text": {"type": "plain_text", "text": t}, "url": u} for t, u in buttons]
            blocks.append({"type": "actions", "elements": elements})
        client = WebhookClient(self.webhook, timeout=int(max(self.timeout, 1)))
        response = client.send(text=text, blocks=blocks)
        if response.status_code != 200:
            raise ChannelError(f"Slack answered HTTP {response.status_code}: {response.body}")


@dataclass(frozen=True)
class Email:
    """Plain SMTP (optionally STARTTLS + login), text with an HTML alternative."""

    host: str
    port: int
    sender: str
    recipients: list[str]
    starttls: bool
    username: str | None
    password: str | None
    timeout: float

    def send(self, report: ReleaseReport, now: datetime) -> None:
        message = EmailMessage()
        message["Subject"] = render.email_subject(report)
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(render.email_text(report))
        message.add_alternative(render.email_html(report), subtype="html")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(message)


@dataclass(frozen=True)
class GitLabCard:
    """The MR release card (one note per MR, found again by its hidden marker) and the commit status."""

    api_url: str
    token: str
    timeout: float

    def _client(self) -> gitlab.Gitlab:
        # python-gitlab obeys a 429's Retry-After (up to 10 times); the report's deadline cuts any wait past it
        client = gitlab.Gitlab(
            self.api_url.removesuffix("/api/v4"),
            private_token=self.token,
            timeout=self.timeout,
            retry_transient_errors=False,
        )
        client.auth()
        return client

    def send(self, report: ReleaseReport, now: datetime) -> None:
        client = self._client()
        project = client.projects.get(report.project, lazy=True)
        commit = project.commits.get(report.commit, lazy=True)
        description = render.plain_title(report) + (
            "" if not report.red or not report.ok else f"; tests: {report.tests.line()}"
        )
        commit.statuses.create(self._status(report, "failed" if report.red else "success", description))
        if report.action == "rollback":  # the commit rolled back from no longer runs there: say so on it
            for gone in report.related_commits:
                project.commits.get(gone, lazy=True).statuses.create(
                    {**self._status(report, "failed", f"rolled back in {report.environment}"), "ref": report.branch}
                )
        if report.mr_iid is not None:
            iids = [report.mr_iid]
        else:  # a staging/prod release or a rollback: the MRs whose commits it ships or removes
            commits = [commit] + [project.commits.get(c, lazy=True) for c in report.related_commits]
            iids = sorted({int(mr["iid"]) for c in commits for mr in c.merge_requests()} | set(report.included_mrs))
        me = client.user.username if client.user else None
        for iid in iids:
            if self._upsert_card(project.mergerequests.get(iid, lazy=True), report, now, me):
                self._tell_author(project.mergerequests.get(iid), report)

    def _status(self, report: ReleaseReport, state: str, description: str) -> dict[str, object]:
        """`gitops/<env>` on the commit, linked to the job, with its ref and pipeline."""
        status: dict[str, object] = {
            "state": state,
            "name": f"gitops/{report.environment}",
            "target_url": report.job_url or report.pipeline_url,
            "description": escape.one_line(description, 255),
            "ref": report.branch,
        }
        if report.pipeline_id is not None:
            status["pipeline_id"] = report.pipeline_id
        return status

    def _upsert_card(
        self, mr: gitlab.v4.objects.ProjectMergeRequest, report: ReleaseReport, now: datetime, me: str | None
    ) -> bool:
        """Create or edit the card; True when this report turned the environment's row red."""
        turned_red: list[bool] = []

        def body(old: str) -> str:
            before = card_state(old)["environments"].get(report.environment, {})
            turned_red.append(report.red and before.get("result") != "failed")
            return render_card(updated_state(card_state(old), report, now), report)

        upsert_marked_note(mr, me, has_marker, body)
        return bool(turned_red and turned_red[0])

    def _tell_author(self, mr: gitlab.v4.objects.ProjectMergeRequest, report: ReleaseReport) -> None:
        """Editing the card notifies nobody: a red card gets a reply that mentions the MR's author."""
        author = str((getattr(mr, "author", None) or {}).get("username", ""))
        if not USERNAME.match(author):
            return
        what = f"the {report.environment} {report.action} of `{report.commit[:8]}` failed"
        link = f" ([pipeline]({report.pipeline_url}))" if report.pipeline_url.startswith("https://") else ""
        mr.notes.create({"body": f"@{author} {what}{link}. The release card above has the details."})


def upsert_marked_note(
    mr: gitlab.v4.objects.ProjectMergeRequest,
    me: str | None,
    is_ours: Callable[[str], bool],
    body_from: Callable[[str], str],
) -> None:
    """One note per MR, edited in place: found again by its marker, and only among notes this bot wrote."""
    for note in mr.notes.list(iterator=True):
        if is_ours(note.body) and (me is None or note.author.get("username") == me):
            note.body = body_from(note.body)
            note.save()
            return
    mr.notes.create({"body": body_from("")})
