"""The same report as chat markdown (DingTalk), Slack text and email (text + HTML), each escaped for its channel.

Untrusted text (branch, actor, reason, test names and messages) goes through ``gitops.notify.escape``; the
rest (app, environment, commit hex, counts, URLs the pipeline made) is the engine's own.
"""

from __future__ import annotations

from collections.abc import Callable

from gitops.notify import escape
from gitops.notify.report import ReleaseReport

Escape = Callable[[str], str]


def headline(report: ReleaseReport, esc: Escape) -> str:
    """Deploys: app, environment, verdict, commit and branch. Rollbacks: both commits, from and to."""
    if report.action == "rollback":
        gone = report.related_commits[0][:8] if report.related_commits else "?"
        verdict = "" if report.ok else " FAILED"
        return f"{report.app} rolled back in {report.environment} from {gone} to {report.commit[:8]}{verdict}"
    verdict = "FAILED" if not report.ok else "released, tests FAILED" if report.red else "released"
    where = f"({report.commit[:8]} from {esc(report.branch)})"
    return f"{report.app} {report.action} to {report.environment} {verdict} {where}"


def plain_title(report: ReleaseReport) -> str:
    """The headline as plain text, for logs and the commit status; each channel renders its own escaped one."""
    return headline(report, escape.one_line)


def summary_lines(report: ReleaseReport, esc: Escape, code: Escape) -> list[str]:
    lines = [
        f"app: {report.app}",
        f"environment: {report.environment}",
        f"result: {report.result}",
        f"commit: {report.commit} ({esc(report.branch)})",
    ]
    if report.action == "rollback" and report.related_commits:
        lines.append(f"rolled back from: {report.related_commits[0]}")
    lines.append(f"tests: {report.tests.line()}")
    if report.url:
        lines.append(f"url: {report.url}" + (f" ({report.health})" if report.health else ""))
    if report.actor:
        lines.append(f"by: {esc(report.actor)}")
    if report.reason:
        lines.append(f"reason: {esc(report.reason)}")
    if report.pipeline_url:
        lines.append(f"pipeline: {report.pipeline_url}")
    if report.included_unknown:
        lines.append(f"changes since the previous release: cannot tell ({esc(report.included_unknown)})")
    if report.included:
        lines.append("includes: " + ", ".join(f"!{iid}" for iid in report.included_mrs) or "")
        lines += [f"• {c[:8]} {esc(title)}" for c, title in report.included[:10]]
    lines += [
        f"failing: {code(t.name)}" + (f": {esc(t.message)}" if t.message else "") for t in report.tests.failing[:5]
    ]
    return lines


def buttons(report: ReleaseReport, rollback_doc_url: str | None) -> list[tuple[str, str]]:
    """Link buttons for chat: the preview (or release) URL, the pipeline, and how to roll back."""
    found = []
    if report.url.startswith(("https://", "http://")):
        found.append(("Open preview" if report.environment == "preview" else f"Open {report.environment}", report.url))
    if report.pipeline_url.startswith("https://"):
        found.append(("Pipeline", report.pipeline_url))
    if rollback_doc_url and report.environment != "preview":
        found.append(("How to roll back", rollback_doc_url))
    return found


def _plain_code(text: str) -> str:
    return escape.one_line(text)


def chat_markdown(report: ReleaseReport) -> str:
    """DingTalk markdown (a subset of markdown: headings, lists, links)."""
    lines = summary_lines(report, escape.dingtalk, escape.dingtalk)
    return f"### {headline(report, escape.dingtalk)}\n\n" + "\n".join(f"- {line}" for line in lines)


def dingtalk_title(report: ReleaseReport) -> str:
    return escape.one_line(headline(report, escape.one_line), 100)


def slack_text(report: ReleaseReport) -> str:
    icon = ":x:" if report.red else ":white_check_mark:"
    lines = summary_lines(report, escape.slack, lambda t: f"`{escape.slack(t).replace('`', '')}`")
    return f"{icon} *{headline(report, escape.slack)}*\n" + "\n".join(f"• {line}" for line in lines)


def email_subject(report: ReleaseReport) -> str:
    return "[gitops] " + escape.one_line(headline(report, escape.one_line), 200)


def email_text(report: ReleaseReport) -> str:
    lines = summary_lines(report, escape.one_line, _plain_code)
    return headline(report, escape.one_line) + "\n\n" + "\n".join(lines) + "\n"


def email_html(report: ReleaseReport) -> str:
    lines = summary_lines(report, escape.email_html, lambda t: f"<code>{escape.email_html(t)}</code>")
    items = "".join(f"<li>{line}</li>" for line in lines)
    color = "#cf222e" if report.red else "#1a7f37"
    title = headline(report, escape.email_html)
    return f'<html><body><h3 style="color:{color}">{title}</h3><ul>{items}</ul></body></html>'
