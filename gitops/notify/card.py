"""The MR release card: one note per MR, edited in place; its state rides in a hidden marker."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from gitops.core.environments import ENVIRONMENTS
from gitops.notify import escape
from gitops.notify.report import ReleaseReport

MARKER = "gitops:release-card"
_STATE = re.compile(r"<!-- " + re.escape(MARKER) + r" (?P<state>\{.*?\}) -->", re.DOTALL)
MAX_EVENTS = 10


def has_marker(body: str) -> bool:
    return _STATE.search(body or "") is not None


def card_state(body: str) -> dict[str, Any]:
    """The state a previous card carried (empty for a new card or an unreadable one)."""
    match = _STATE.search(body or "")
    if not match:
        return {"environments": {}, "events": []}
    try:
        state = json.loads(match["state"])
    except json.JSONDecodeError:
        return {"environments": {}, "events": []}
    return {"environments": dict(state.get("environments", {})), "events": list(state.get("events", []))}


def updated_state(state: dict[str, Any], report: ReleaseReport, now: datetime) -> dict[str, Any]:
    when = now.strftime("%Y-%m-%d %H:%M UTC")
    environments = dict(state["environments"])
    environments[report.environment] = {
        "commit": report.commit,
        "result": "failed" if report.red else "success",
        "url": report.url,
        "health": report.health,
        "when": when,
        "action": report.action,
    }
    event = {
        "when": when,
        "environment": report.environment,
        "action": report.action,
        "commit": report.commit,
        "result": "failed" if report.red else "success",
        "actor": report.actor,
        "reason": report.reason,
        "from": report.related_commits[0] if report.action == "rollback" and report.related_commits else "",
    }
    events = [*state["events"], event][-MAX_EVENTS:]
    return {"environments": environments, "events": events}


def _md(text: str) -> str:
    """Untrusted text (actor, reason, test messages) in a note: no markdown, HTML, mention or quick action."""
    return escape.gitlab(text)


def _event_line(event: dict[str, str]) -> str:
    gone = f" from `{str(event['from'])[:8]}` to" if event.get("from") else ""
    what = f"{event['action']}{gone} `{event['commit'][:8]}`"
    line = f"- {event['when']} · {event['environment']} · {what} · {event['result']}"
    line += f" · by {_md(event['actor'])}" if event.get("actor") else ""
    return line + (f" · reason: {_md(event['reason'])}" if event.get("reason") else "")


def render_card(state: dict[str, Any], report: ReleaseReport) -> str:
    lines = [
        f"### Release card: {report.app}",
        "",
        "| environment | commit | status | link | updated |",
        "|---|---|---|---|---|",
    ]
    for name in ENVIRONMENTS:
        env = state["environments"].get(name)
        if env is None:
            lines.append(f"| {name} | - | not deployed from this MR | | |")
            continue
        status = (
            ("✅ " if env["result"] == "success" else "❌ ")
            + env["action"]
            + (f", {env['health']}" if env.get("health") else "")
        )
        link = f"[{env['url']}]({env['url']})" if env.get("url") else ""
        lines.append(f"| {name} | `{env['commit'][:8]}` | {status} | {link} | {env['when']} |")
    lines += ["", f"**Tests** ({report.commit[:8]}): {report.tests.line()}"]
    if report.tests.failing:
        lines.append("")
        lines.append("Failing tests:")
        lines += [
            f"- {escape.gitlab_code(t.name)}" + (f": {_md(t.message)}" if t.message else "")
            for t in report.tests.failing
        ]
    lines += ["", "History:"]
    lines += [_event_line(e) for e in reversed(state["events"]) if isinstance(e, dict)]
    if report.pipeline_url:
        lines += ["", f"[pipeline]({report.pipeline_url})"]
    # no "-->" to close the comment, and no "@" or "<" from data even in a comment
    payload = (
        json.dumps(state, sort_keys=True).replace("-->", "--\\u003e").replace("@", "\\u0040").replace("<", "\\u003c")
    )
    lines += ["", f"<!-- {MARKER} {payload} -->"]
    return "\n".join(lines)
