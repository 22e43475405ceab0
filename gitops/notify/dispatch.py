"""Send one report to every configured channel, concurrently; a failing channel never blocks the others."""

from __future__ import annotations

import concurrent.futures
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gitops.core.settings import NotifySettings
from gitops.notify.channels import DingTalk, Email, GitLabCard, Slack
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


def channels_from(settings: NotifySettings, environ: Mapping[str, str]) -> dict[str, Channel]:
    """Channels named in config; their endpoints' secrets come from masked CI variables."""
    timeout = settings.timeout_seconds
    found: dict[str, Channel] = {}
    if settings.gitlab_card and environ.get("GITOPS_NOTIFY_TOKEN") and environ.get("CI_API_V4_URL"):
        found["gitlab"] = GitLabCard(environ["CI_API_V4_URL"], environ["GITOPS_NOTIFY_TOKEN"], timeout)
    if settings.dingtalk and environ.get("DINGTALK_WEBHOOK"):
        found["dingtalk"] = DingTalk(environ["DINGTALK_WEBHOOK"], environ.get("DINGTALK_SECRET"), timeout)
    if settings.slack and environ.get("SLACK_WEBHOOK_URL"):
        found["slack"] = Slack(environ["SLACK_WEBHOOK_URL"], timeout)
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
    timeout: float,
    redact: Callable[[str], str],
) -> list[Outcome]:
    """Every channel in parallel; each has its own client timeout, and the wait is bounded too."""
    outcomes: list[Outcome] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(len(channels), 1))
    futures = {name: pool.submit(channel.send, report, now) for name, channel in channels.items()}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout + 5)
            outcomes.append(Outcome(name, True))
        except concurrent.futures.TimeoutError:
            outcomes.append(Outcome(name, False, f"no answer within {timeout:g}s"))
        except Exception as exc:
            outcomes.append(Outcome(name, False, redact(f"{type(exc).__name__}: {exc}")))
    pool.shutdown(wait=False, cancel_futures=True)
    return outcomes


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
