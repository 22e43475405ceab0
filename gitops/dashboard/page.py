"""The release dashboard: one static, self-contained HTML page (inline CSS, no script, no external asset) of
what runs where. Every text that comes from git, a user or the backend is escaped (``html.escape`` with
quotes), and a link is made only of an http(s) URL; a status is always a word, its colour only repeats it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from urllib.parse import quote, urlparse

from gitops.core.naming import short_commit
from gitops.core.planner import parse_timestamp
from gitops.core.state import Preview, Release
from gitops.dashboard.read import EnvironmentView, StackView

COLLAPSE_AFTER = 50  # a longer list of previews starts collapsed

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;background:#fff}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}
table{border-collapse:collapse;margin:.3rem 0 1rem;min-width:40rem}
th,td{border:1px solid #c8c8c8;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}code{font:13px ui-monospace,monospace}
.ok{background:#e3f4e6}.warn{background:#fff1cc}.bad{background:#fde2e2}.muted{color:#555}
.badge{display:inline-block;border:1px solid #777;border-radius:3px;padding:0 .3rem;margin-right:.3rem;
font-size:12px;font-weight:600}
.problem{border:2px solid #b00020;padding:.4rem .6rem;background:#fde2e2}
summary{cursor:pointer;font-weight:600}a{color:#0645ad}
"""


@dataclass(frozen=True)
class Links:
    """Where a commit and a pipeline live: the GitLab web URL and each app's project path (the catalog)."""

    gitlab: str  # https://gitlab.example.com
    projects: Mapping[str, str]

    def commit(self, app: str, sha: str) -> str:
        project = self.projects.get(app)
        return f"{self.gitlab}/{quote(project)}/-/commit/{quote(sha)}" if project and self.gitlab else ""


def render(views: list[EnvironmentView], links: Links, now: datetime, *, ttl_hours: int | None = None) -> str:
    """The page, for ``now`` (naive UTC); ``ttl_hours``: the previews' TTL, for the time each has left."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Releases: what runs where</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>Releases: what runs where</h1>",
        f'<p class="muted">Generated {_text(now.strftime("%Y-%m-%d %H:%M UTC"))} from '
        + ", ".join(f"{_text(v.environment)}: <code>{_text(v.where)}</code>" for v in views)
        + "</p></header><main>",
    ]
    for view in views:
        parts.append(_environment(view, links, now, ttl_hours))
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _environment(view: EnvironmentView, links: Links, now: datetime, ttl_hours: int | None) -> str:
    out = [f'<section aria-labelledby="env-{_id(view.environment)}">',
           f'<h2 id="env-{_id(view.environment)}">{_text(view.environment)}</h2>']  # fmt: skip
    if view.problem:
        out.append(f'<p class="problem" role="alert">Cannot show {_text(view.environment)}: {_text(view.problem)}</p>')
    elif view.environment == "preview":
        out.append(_previews(view, links, now, ttl_hours))
    else:
        for stack in view.stacks:
            out.append(_releases(stack, links, now))
        if not view.stacks:
            out.append(f'<p class="problem" role="alert">No stack {_text(view.environment)} in this backend.</p>')
    for stack in view.stacks:
        if stack.timeline and (view.environment != "preview" or stack.stack == "preview"):
            out.append(_timeline(stack, links))
    out.append("</section>")
    return "\n".join(out)


def _releases(stack: StackView, links: Links, now: datetime) -> str:
    if stack.state is None:
        return f'<p class="problem" role="alert">Stack {_text(stack.stack)}: {_text(stack.problem)}</p>'
    state = stack.state.state
    if not state.releases:
        return '<p class="muted">No app released here yet.</p>'
    rows = ["<table><caption class=\"muted\">Each app's release (the commit runs on every cluster unless a "
            "cluster is named behind it)</caption>",
            "<tr><th scope=\"col\">App</th><th scope=\"col\">Status</th><th scope=\"col\">Commit</th>"
            "<th scope=\"col\">Image digest</th><th scope=\"col\">Released</th><th scope=\"col\">By</th>"
            "<th scope=\"col\">Pipeline</th></tr>"]  # fmt: skip
    for app, release in sorted(state.releases.items()):
        hold = state.holds.get(app)
        status, css = _status(release, hold is not None)
        detail = ""
        if hold is not None:
            held = ", ".join(short_commit(c) for c in hold.commits)
            detail = f'<br><span class="muted">held: {_text(held)}; {_text(hold.reason)}</span>'
        if release.behind:
            behind = ", ".join(f"{c} at {short_commit(b.commit or '') or 'nothing'}" for c, b in release.behind.items())
            detail += f'<br><span class="muted">behind: {_text(behind)}</span>'
        rows.append(
            f'<tr class="{css}"><th scope="row">{_text(app)}</th><td>{status}{detail}</td>'
            f'<td>{_commit(links, app, release.commit)} <span class="muted">{_text(release.branch)}</span></td>'
            f"<td><code>{_text((release.digest or '-')[:19])}</code></td>"
            f"<td>{_text(_age(release.released_at, now))}</td><td>{_text(release.actor or '-')}</td>"
            f"<td>{_link(release.pipeline, 'pipeline')}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _status(release: Release, held: bool) -> tuple[str, str]:
    badges, css = [], "ok"
    if release.action == "rollback":
        badges.append("ROLLED BACK")
        css = "bad"
    elif release.action == "restore":
        badges.append("RESTORED")
        css = "warn"
    if held:
        badges.append("HELD")
        css = "bad"
    if release.retiring:
        badges.append("RETIRING")
        css = "warn" if css == "ok" else css
    if release.behind:
        badges.append("MID-ROLLOUT")
        css = "warn" if css == "ok" else css
    if not badges:
        badges.append("RUNNING")
    return "".join(f'<span class="badge">{_text(b)}</span>' for b in badges), css


def _previews(view: EnvironmentView, links: Links, now: datetime, ttl_hours: int | None) -> str:
    live: list[Preview] = []
    problems = []
    for stack in view.stacks:
        if stack.stack == "preview":
            continue
        if stack.state is None:
            problems.append(f"<li>{_text(stack.stack)}: {_text(stack.problem)}</li>")
            continue
        live.extend(stack.state.state.previews.values())
    live.sort(key=lambda p: (p.app, p.branch))
    rows = ['<table><tr><th scope="col">App</th><th scope="col">Branch</th><th scope="col">Link</th>'
            '<th scope="col">Commit</th><th scope="col">Idle</th><th scope="col">Left before the TTL</th>'
            '<th scope="col">Deployed by</th></tr>']  # fmt: skip
    for preview in live:
        rows.append(
            f"<tr><td>{_text(preview.app)}</td><td>{_text(preview.branch)}</td>"
            f"<td>{_link(preview.url, preview.url)}</td><td>{_commit(links, preview.app, preview.commit)}</td>"
            f"<td>{_text(_age(preview.last_deployed, now))}</td>"
            f"<td>{_text(_left(preview.last_deployed, now, ttl_hours))}</td>"
            f"<td>{_text(preview.actor or '-')}</td></tr>"
        )
    rows.append("</table>")
    opened = " open" if len(live) <= COLLAPSE_AFTER else ""
    out = [f"<details{opened}><summary>{len(live)} live preview(s)</summary>", "\n".join(rows), "</details>"]
    if problems:
        out.append(
            f'<div class="problem" role="alert">Previews that cannot be shown:<ul>{"".join(problems)}</ul></div>'
        )
    return "\n".join(out)


def _timeline(stack: StackView, links: Links) -> str:
    rows = [f"<details><summary>Last {len(stack.timeline)} update(s) of {_text(stack.stack)}</summary>",
            '<table><tr><th scope="col">Started</th><th scope="col">Result</th><th scope="col">Action</th>'
            '<th scope="col">App</th><th scope="col">Commit</th><th scope="col">By</th>'
            '<th scope="col">Message</th></tr>']  # fmt: skip
    for entry in reversed(stack.timeline):
        css = {"succeeded": "ok", "failed": "bad"}.get(entry.result, "warn")
        commit = _commit(links, entry.app, entry.commit) if len(entry.commit) == 40 else _text(entry.commit or "-")
        rows.append(
            f'<tr class="{css}"><td>{_text(entry.start_time)}</td><td>{_text(entry.result or "-")}</td>'
            f"<td>{_text(entry.action or entry.kind)}</td><td>{_text(entry.app or '-')}</td><td>{commit}</td>"
            f"<td>{_text(entry.actor or '-')}</td><td>{_text((entry.message.splitlines() or [''])[0][:200])}</td></tr>"
        )
    rows.append("</table></details>")
    return "\n".join(rows)


def _commit(links: Links, app: str, sha: str) -> str:
    url = links.commit(app, sha)
    label = f"<code>{_text(short_commit(sha))}</code>"
    return f'<a href="{_text(url)}">{label}</a>' if url else label


def _link(url: str, label: str) -> str:
    """A link only to an http(s) URL; anything else is shown as text (a ``javascript:`` URL never links)."""
    if not url:
        return "-"
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return _text(url)
    return f'<a href="{_text(url)}">{_text(label)}</a>'


def _age(timestamp: str, now: datetime) -> str:
    try:
        delta = now - parse_timestamp(timestamp)
    except ValueError:
        return timestamp
    if delta < timedelta(hours=1):
        return f"{max(0, int(delta.total_seconds() // 60))} min ago"
    if delta < timedelta(days=2):
        return f"{int(delta.total_seconds() // 3600)} h ago"
    return f"{delta.days} days ago"


def _left(timestamp: str, now: datetime, ttl_hours: int | None) -> str:
    if ttl_hours is None:
        return "-"
    try:
        left = parse_timestamp(timestamp) + timedelta(hours=ttl_hours) - now
    except ValueError:
        return "-"
    return "due now" if left <= timedelta(0) else f"{int(left.total_seconds() // 3600)} h"


def _text(value: str) -> str:
    return escape(str(value), quote=True)


def _id(value: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in value)[:40]
