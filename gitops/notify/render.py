"""The same report as chat markdown (DingTalk), Slack text and email (text + HTML)."""

from __future__ import annotations

import html

from gitops.notify.report import ReleaseReport


def summary_lines(report: ReleaseReport) -> list[str]:
    lines = [
        f"app: {report.app}",
        f"environment: {report.environment}",
        f"result: {report.result}",
        f"commit: {report.commit} ({report.branch})",
        f"tests: {report.tests.line()}",
    ]
    if report.url:
        lines.append(f"url: {report.url}" + (f" ({report.health})" if report.health else ""))
    if report.actor:
        lines.append(f"by: {report.actor}")
    if report.reason:
        lines.append(f"reason: {report.reason}")
    if report.pipeline_url:
        lines.append(f"pipeline: {report.pipeline_url}")
    lines += [f"failing: {t.name}" for t in report.tests.failing[:5]]
    return lines


def chat_markdown(report: ReleaseReport) -> str:
    """DingTalk markdown (a subset of markdown: headings, lists, links)."""
    return f"### {report.title}\n\n" + "\n".join(f"- {line}" for line in summary_lines(report))


def slack_text(report: ReleaseReport) -> str:
    icon = ":white_check_mark:" if report.ok else ":x:"
    return f"{icon} *{report.title}*\n" + "\n".join(f"• {line}" for line in summary_lines(report))


def email_subject(report: ReleaseReport) -> str:
    return f"[gitops] {report.title}"


def email_text(report: ReleaseReport) -> str:
    return report.title + "\n\n" + "\n".join(summary_lines(report)) + "\n"


def email_html(report: ReleaseReport) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(report))
    color = "#1a7f37" if report.ok else "#cf222e"
    return f'<html><body><h3 style="color:{color}">{html.escape(report.title)}</h3><ul>{items}</ul></body></html>'
