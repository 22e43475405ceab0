"""Send one report to every configured channel, concurrently; a failing channel never blocks the others."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gitops.core.settings import NotifySettings
from gitops.notify.channels import DingTalk, Email, GitLabCard, Mention, Slack
from gitops.notify.report import ReleaseReport

EXIT_OK = 0
EXIT_RELEASE_FAILED = 3
EXIT_NOTIFY_FAILED = 4
SECRET_ENV = ("GITOPS_NOTIFY_TOKEN", "DINGTALK_WEBHOOK", "DINGTALK_SECRET", "SLACK_WEBHOOK_URL", "SMTP_PASSWORD")


class Channel(Protocol):
    def send(self, report: ReleaseReport, now: datetime) -> None: ...


@dataclass(frozen=True)
class Outcome:
    channel: str
    ok: bool
    detail: str = ""


def channels_from(
    settings: NotifySettings, environ: Mapping[str, str], report: ReleaseReport | None = None
) -> dict[str, Channel]:
    """Channels named in config; their endpoints' secrets come from masked CI variables. Whom a red
    release mentions comes from ``chat_users`` keyed by the GitLab user who made it."""
    timeout = settings.timeout_seconds
    user = settings.chat_users.get(report.actor) if report is not None else None
    mention = Mention(user.dingtalk_mobile, user.slack_user_id) if user else Mention()
    found: dict[str, Channel] = {}
    if settings.gitlab_card and environ.get("GITOPS_NOTIFY_TOKEN") and environ.get("CI_API_V4_URL"):
        found["gitlab"] = GitLabCard(environ["CI_API_V4_URL"], environ["GITOPS_NOTIFY_TOKEN"], timeout)
    if settings.dingtalk and environ.get("DINGTALK_WEBHOOK"):
        found["dingtalk"] = DingTalk(
            environ["DINGTALK_WEBHOOK"],
            environ.get("DINGTALK_SECRET"),
            timeout,
            deadline=settings.deadline_seconds,
            mention=mention,
            rollback_doc_url=settings.rollback_doc_url,
        )
    if settings.slack and environ.get("SLACK_WEBHOOK_URL"):
        found["slack"] = Slack(
            environ["SLACK_WEBHOOK_URL"], timeout, mention=mention, rollback_doc_url=settings.rollback_doc_url
        )
    if settings.email is not None:
        e = settings.email
        found["email"] = Email(
            e.smtp_host,
            e.smtp_port,
            e.sender,
            list(e.recipients),
            e.starttls,
            e.username,
            environ.get("SMTP_PASSWORD"),
            timeout,
        )
    return found


def redactor(environ: Mapping[str, str]) -> Callable[[str], str]:
    secrets = sorted((environ[k] for k in SECRET_ENV if environ.get(k)), key=len, reverse=True)

    def redact(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "[redacted]")
        return text

    return redact


def deliver(
    report: ReleaseReport,
    channels: Mapping[str, Channel],
    now: datetime,
    *,
    deadline: float,
    redact: Callable[[str], str],
) -> list[Outcome]:
    """Every channel in parallel, all within one deadline. Each runs in a daemon thread: a channel that
    trickles one byte a second or asks to retry after 30 s is reported as late, and the process still
    exits on time (a thread pool's workers would be joined at exit)."""
    results: dict[str, Outcome] = {}
    lock = threading.Lock()

    def attempt(name: str, channel: Channel) -> None:
        try:
            channel.send(report, now)
            outcome = Outcome(name, True)
        except Exception as exc:  # any failure of one channel is that channel's outcome
            outcome = Outcome(name, False, redact(f"{type(exc).__name__}: {exc}")[:500])
        with lock:
            results[name] = outcome

    threads = [
        threading.Thread(target=attempt, args=item, daemon=True, name=f"notify-{item[0]}") for item in channels.items()
    ]
    ends = time.monotonic() + deadline
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, ends - time.monotonic()))
    with lock:
        late = Outcome("", False, f"no answer within the {deadline:.0f}s deadline")
        return [results.get(name) or Outcome(name, False, late.detail) for name in channels]


def exit_code(report: ReleaseReport, outcomes: list[Outcome]) -> int:
    if any(not o.ok for o in outcomes):
        return EXIT_NOTIFY_FAILED
    return EXIT_OK if report.ok else EXIT_RELEASE_FAILED


def health_of(url: str, path: str, timeout: float) -> str:
    """What a person would see opening the preview: healthy, unhealthy (HTTP n) or unreachable."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + path, timeout=timeout) as response:
            return "healthy" if 200 <= response.status < 300 else f"unhealthy (HTTP {response.status})"
    except urllib.error.HTTPError as exc:
        return f"unhealthy (HTTP {exc.code})"
    except (OSError, ValueError):
        return "unreachable"
