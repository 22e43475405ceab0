"""The release dashboard: one static, self-contained HTML page (inline CSS, no script, no external asset) of
what runs where. Every text that comes from git, a user or the backend is escaped (``html.escape`` with
quotes), and a link is made only of an http(s) URL; a status is always a word, its colour only repeats it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from urllib.parse import quote, urlparse

from gitops.admin.history import HistoryEntry
from gitops.core.faults import INTERRUPTION_NOTE
from gitops.core.naming import short_commit
from gitops.core.planner import parse_timestamp
from gitops.core.state import Preview, Release, StackState
from gitops.dashboard.read import EnvironmentView, StackView
from gitops.notify.notes import ReleaseNotes

COLLAPSE_AFTER = 50  # a longer list of previews starts collapsed

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;background:#fff}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}
table{border-collapse:collapse;margin:.3rem 0 1rem;min-width:40rem}caption{text-align:left}
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

    def merge_request(self, app: str, iid: int) -> str:
        project = self.projects.get(app)
        return f"{self.gitlab}/{quote(project)}/-/merge_requests/{int(iid)}" if project and self.gitlab else ""


def render(
    views: list[EnvironmentView],
    links: Links,
    now: datetime,
    *,
    ttl_hours: int | None = None,
    clusters: Mapping[str, Sequence[str]] | None = None,
    shipped: Mapping[tuple[str, str], ReleaseNotes] | None = None,
) -> str:
    """The page, for ``now`` (naive UTC); ``ttl_hours``: the previews' TTL, for the time each has left;
    ``clusters``: each environment's clusters (its settings), the matrix's columns; ``shipped``: (stack, app) ->
    the merge requests its release brought (``gitops.dashboard.shipped``)."""
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
        _matrix(views, links, clusters or {}),
    ]
    for view in views:
        parts.append(_environment(view, links, now, ttl_hours, shipped or {}))
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _environment(
    view: EnvironmentView,
    links: Links,
    now: datetime,
    ttl_hours: int | None,
    shipped: Mapping[tuple[str, str], ReleaseNotes],
) -> str:
    out = [f'<section aria-labelledby="env-{_id(view.environment)}">',
           f'<h2 id="env-{_id(view.environment)}">{_text(view.environment)}</h2>']  # fmt: skip
    if view.problem:
        out.append(f'<p class="problem" role="alert">Cannot show {_text(view.environment)}: {_text(view.problem)}</p>')
        return "\n".join([*out, "</section>"])
    out.append(_drift(view, now))
    if view.environment == "preview":
        out.append(_previews(view, links, now, ttl_hours))
    else:
        out.extend(_releases(stack, links, now, shipped) for stack in view.stacks)
        if not view.stacks:
            out.append(f'<p class="problem" role="alert">No stack {_text(view.environment)} in this backend.</p>')
    for stack in view.stacks:
        if stack.timeline and (view.environment != "preview" or stack.stack == "preview"):
            out.append(_timeline(stack, links))
    out.append("</section>")
    return "\n".join(out)


def _matrix(views: list[EnvironmentView], links: Links, clusters: Mapping[str, Sequence[str]]) -> str:
    """App x environment/cluster: the commit each cluster runs, its status in words, live previews per app."""
    columns: list[tuple[EnvironmentView, str, StackState]] = []
    live: Counter[str] = Counter()
    for view in views:
        for stack in view.stacks:
            if stack.state is None:
                continue
            if view.environment == "preview":
                live.update(p.app for p in stack.state.state.previews.values())
                continue
            releases = stack.state.state.releases
            named = list(clusters.get(view.environment) or sorted({c for r in releases.values() for c in r.behind}))
            columns.extend((view, cluster, stack.state.state) for cluster in named or [""])
    apps = sorted({app for _, _, state in columns for app in state.releases} | set(live))
    if not apps:
        return ""
    head = ['<th scope="col">App</th>']
    for view, cluster, _ in columns:
        drift = '<br><span class="badge">DRIFT</span>' if view.drift is not None and view.drift.drifted else ""
        head.append(f'<th scope="col">{_text(view.environment)}{_text(" / " + cluster if cluster else "")}{drift}</th>')
    previews = any(v.environment == "preview" for v in views)
    if previews:
        head.append('<th scope="col">preview</th>')
    rows = ['<section aria-labelledby="matrix-title"><h2 id="matrix-title">What runs where</h2>',
            '<table id="matrix"><caption class="muted">The commit each cluster runs, by app</caption>',
            f"<tr>{''.join(head)}</tr>"]  # fmt: skip
    for app in apps:
        cells = [f'<th scope="row">{_text(app)}</th>']
        for _, cluster, state in columns:
            cells.append(_cell(app, cluster, state, links))
        if previews:
            cells.append(f"<td>{live[app]} live</td>" if live[app] else '<td class="muted">-</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    rows.append("</table></section>")
    return "\n".join(rows)


def _cell(app: str, cluster: str, state: StackState, links: Links) -> str:
    release = state.releases.get(app)
    if release is None:
        return '<td class="muted">-</td>'
    status, css = _status(release, app in state.holds)
    commit, _ = release.runs_on(cluster) if cluster else (release.commit, None)
    if cluster in release.behind:  # a rollout that has not reached it, or an admin's rollback of it alone
        word = "ROLLED BACK" if release.behind[cluster].rolled_back else "BEHIND"
        status, css = f'<span class="badge">{word}</span>', "bad" if word == "ROLLED BACK" else "warn"
        if commit is None:
            return f'<td class="{css}">{status} runs nothing yet</td>'
    return f'<td class="{css}">{_commit(links, app, commit or release.commit)} {status}</td>'


def _drift(view: EnvironmentView, now: datetime) -> str:
    """What the last drift job found (``gitops drift`` records it in the backend)."""
    if view.drift_problem:
        return f'<p class="problem" role="alert">The last drift check cannot be read: {_text(view.drift_problem)}</p>'
    check = view.drift
    if check is None:
        return '<p class="muted">Drift: no drift check recorded yet.</p>'
    where = f" ({_link(check.pipeline, 'the drift job')})" if check.pipeline else ""
    when = _text(_age(check.checked_at, now))
    if not check.drifted:
        return f'<p class="ok drift"><span class="badge">NO DRIFT</span> last checked {when}{where}</p>'
    summary = ", ".join(f"{n} {op}" for op, n in sorted(check.changes.items()))
    names = "".join(f"<li><code>{_text(r)}</code></li>" for r in check.resources)
    return (f'<div class="bad drift"><p><span class="badge">DRIFT</span> a refresh would make {_text(summary)}, '
            f"found {when}{where}; an admin reviews it (<code>pulumi refresh</code>)</p>"
            f"<ul>{names}</ul></div>")  # fmt: skip


def _releases(stack: StackView, links: Links, now: datetime, shipped: Mapping[tuple[str, str], ReleaseNotes]) -> str:
    if stack.state is None:
        return f'<p class="problem" role="alert">Stack {_text(stack.stack)}: {_text(stack.problem)}</p>'
    faults = "".join(f"<li>{_text(fault)}</li>" for fault in _faults(stack, now))
    alert = f'<div class="problem" role="alert">Stack {_text(stack.stack)}:<ul>{faults}</ul></div>' if faults else ""
    state = stack.state.state
    if not state.releases:
        return alert + '<p class="muted">No app released here yet.</p>'
    rows = [f'<table id="releases-{_id(stack.stack)}">',
            "<caption class=\"muted\">Each app's release (the commit runs on every cluster unless a "
            "cluster is named behind it)</caption>",
            "<tr><th scope=\"col\">App</th><th scope=\"col\">Status</th><th scope=\"col\">Commit</th>"
            "<th scope=\"col\">Image digest</th><th scope=\"col\">Released</th><th scope=\"col\">By</th>"
            "<th scope=\"col\">Pipeline</th><th scope=\"col\">Merge requests shipped</th></tr>"]  # fmt: skip
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
            f"<td>{_link(release.pipeline, 'pipeline')}</td>"
            f"<td>{_merge_requests(links, app, shipped.get((stack.stack, app)))}</td></tr>"
        )
    rows.append("</table>")
    return alert + "\n".join(rows)


def _merge_requests(links: Links, app: str, notes: ReleaseNotes | None) -> str:
    if notes is None:
        return '<span class="muted">-</span>'
    if notes.unknown:
        return f'<span class="muted">unknown: {_text(notes.unknown)}</span>'
    if not notes.merge_requests:
        return '<span class="muted">none</span>'
    return " ".join(_link(links.merge_request(app, iid), f"!{iid}") for iid in notes.merge_requests)


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
    if any(runs.rolled_back for runs in release.behind.values()):  # as `gitops status` says it
        badges.append("ONE CLUSTER ROLLED BACK")
        css = "warn" if css == "ok" else css
    if any(not runs.rolled_back for runs in release.behind.values()):
        badges.append("MID-ROLLOUT")
        css = "warn" if css == "ok" else css
    if not badges:
        badges.append("RUNNING")
    return " ".join(f'<span class="badge">{_text(b)}</span>' for b in badges), css


def _previews(view: EnvironmentView, links: Links, now: datetime, ttl_hours: int | None) -> str:
    """The live previews, one group per app; with more than ``COLLAPSE_AFTER`` the groups start collapsed."""
    by_app: dict[str, list[Preview]] = {}
    problems = []
    for stack in view.stacks:
        if stack.stack == "preview":
            continue
        if stack.state is None:
            problems.append(f"<li>{_text(stack.stack)}: {_text(stack.problem)}</li>")
            continue
        for preview in stack.state.state.previews.values():
            by_app.setdefault(preview.app, []).append(preview)
        problems.extend(f"<li>{_text(stack.stack)}: {_text(fault)}</li>" for fault in _faults(stack, now))
    total = sum(len(group) for group in by_app.values())
    opened = " open" if total <= COLLAPSE_AFTER else ""
    out = [f"<p>{total} live preview(s) of {len(by_app)} app(s)</p>"]
    for app, group in sorted(by_app.items()):
        rows = [f"<details{opened}><summary>{_text(app)}: {len(group)} live preview(s)</summary>",
                f'<table id="previews-{_id(app)}"><tr><th scope="col">Branch</th><th scope="col">Link</th>'
                '<th scope="col">Commit</th><th scope="col">Idle</th><th scope="col">Left before the TTL</th>'
                '<th scope="col">Deployed by</th></tr>']  # fmt: skip
        for preview in sorted(group, key=lambda p: p.branch):
            rows.append(
                f'<tr><th scope="row">{_text(preview.branch)}</th>'
                f"<td>{_link(preview.url, preview.url)}</td><td>{_commit(links, preview.app, preview.commit)}</td>"
                f"<td>{_text(_age(preview.last_deployed, now))}</td>"
                f"<td>{_text(_left(preview.last_deployed, now, ttl_hours))}</td>"
                f"<td>{_text(preview.actor or '-')}</td></tr>"
            )
        rows.append("</table></details>")
        out.append("\n".join(rows))
    if problems:
        out.append(
            '<div class="problem" role="alert">Previews that cannot be shown or need an admin:'
            f"<ul>{''.join(problems)}</ul></div>"
        )
    return "\n".join(out)


def _faults(stack: StackView, now: datetime) -> list[str]:
    """A lock held and steps an update left in flight, as the backend holds them (the page cannot tell whether
    the lock's holder still runs: `gitops status` judges that with the leases)."""
    faults = []
    if stack.locked_since:
        faults.append(f"LOCKED: an update holds the lock since {_age(stack.locked_since, now)}")
    if stack.pending:
        state = "IN FLIGHT" if stack.locked_since else "INTERRUPTED"
        faults.append(f"{state}: steps an update left pending: {', '.join(stack.pending[:10])}")
    return faults


def _timeline(stack: StackView, links: Links) -> str:
    rows = [f"<details><summary>Last {len(stack.timeline)} update(s) of {_text(stack.stack)}</summary>",
            f'<table id="timeline-{_id(stack.stack)}"><tr><th scope="col">Started</th><th scope="col">Result</th>'
            '<th scope="col">Action</th>'
            '<th scope="col">App</th><th scope="col">Commit</th><th scope="col">By</th>'
            '<th scope="col">Message</th></tr>']  # fmt: skip
    for entry in reversed(stack.timeline):
        css = {"succeeded": "ok", "failed": "bad"}.get(entry.result, "warn")
        commit = _commit(links, entry.app, entry.commit) if len(entry.commit) == 40 else _text(entry.commit or "-")
        rows.append(
            f'<tr class="{css}"><td>{_text(entry.start_time)}</td><td>{_text(entry.result or "-")}</td>'
            f"<td>{_text(_action(entry))}</td><td>{_text(entry.app or '-')}</td><td>{commit}</td>"
            f"<td>{_text(entry.actor or '-')}</td><td>{_message(entry.message)}</td></tr>"
        )
    rows.append("</table></details>")
    return "\n".join(rows)


def _message(message: str) -> str:
    """The update's message: its first line, and the notes recorded under it (an interrupted update found
    and cleared, a stale lock broken), the interruption also as a word."""
    first, *notes = message.splitlines() or [""]
    shown = [_text(first[:200])]
    for note in [n for n in notes if n.strip()][:3]:
        word = '<span class="badge">INTERRUPTED</span> ' if note.startswith(INTERRUPTION_NOTE) else ""
        shown.append(f'{word}<span class="muted">{_text(note[:300])}</span>')
    return "<br>".join(shown)


def _action(entry: HistoryEntry) -> str:
    """The release's action; an update of another kind (the refresh before a restore) says its kind too."""
    if entry.kind and entry.kind != "update":
        return f"{entry.action} ({entry.kind})" if entry.action else entry.kind
    return entry.action or entry.kind


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
