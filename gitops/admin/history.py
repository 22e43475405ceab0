"""The release ledger: stack history entries (as `pulumi stack history --json` prints them) as rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from gitops.admin.messages import parse_message

SECRET = "[secret]"


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    kind: str
    result: str
    start_time: str
    end_time: str
    app: str
    commit: str
    branch: str
    action: str
    actor: str
    pipeline: str
    reason: str
    message: str
    digest: str = ""  # the image digest the update pinned (gitops:digest), when it had one
    cluster: str = ""  # a rollback of this one cluster only (gitops:cluster)

    @property
    def is_release(self) -> bool:
        """A successful update that changed what an app runs."""
        return (
            self.kind == "update"
            and self.result == "succeeded"
            and self.action in ("deploy", "rollback", "restore")
            and bool(self.app)
            and bool(self.commit)
            and self.commit != SECRET
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _config_value(config: dict[str, Any], key: str) -> str:
    """Config as printed by the CLI ({value, secret}) or as parsed by the Automation API."""
    raw = config.get(key)
    if raw is None:
        return ""
    if isinstance(raw, dict):
        value = raw.get("value")
        if raw.get("secret") and value is None:
            return SECRET
    else:
        value = getattr(raw, "value", raw)
    return "" if value is None else str(value)


def entry_from_json(item: dict[str, Any]) -> HistoryEntry:
    """One element of `pulumi stack history --json` (field names of stack_history.go's updateInfoJSON)."""
    config = item.get("config") or {}
    environment = item.get("environment") or {}
    facts = parse_message(item.get("message", ""))
    action = _config_value(config, "gitops:action") or ("deploy" if _config_value(config, "gitops:app") else "")
    return HistoryEntry(
        version=int(item.get("version") or 0),
        kind=item.get("kind", ""),
        result=item.get("result", ""),
        start_time=item.get("startTime", ""),
        end_time=item.get("endTime") or "",
        app=_config_value(config, "gitops:app"),
        commit=_config_value(config, "gitops:commit"),
        branch=_config_value(config, "gitops:branch"),
        action=action,
        actor=facts.actor or environment.get("git.author", "") or environment.get("git.committer", ""),
        pipeline=facts.pipeline or environment.get("ci.build.url", ""),
        reason=facts.reason or _config_value(config, "gitops:reason"),
        message=item.get("message", ""),
        digest=_config_value(config, "gitops:digest"),
        cluster=_config_value(config, "gitops:cluster"),
    )


def ledger(items: Iterable[dict[str, Any]]) -> list[HistoryEntry]:
    """All entries, oldest first. The CLI prints newest first; the DIY backends (file, S3, ...) number no
    update (every ``version`` is 0), so there the CLI's order is the order and the number is the position
    (the oldest read is 1)."""
    newest_first = [entry_from_json(i) for i in items]
    versions = [e.version for e in newest_first]
    if all(v > 0 for v in versions) and len(set(versions)) == len(versions):
        return sorted(newest_first, key=lambda e: e.version)
    count = len(newest_first)
    return [replace(e, version=count - i) for i, e in enumerate(newest_first)][::-1]


def table(entries: list[HistoryEntry]) -> str:
    """Newest first, for people; commits short, everything else as recorded."""
    header = ("VER", "KIND", "RESULT", "STARTED", "APP", "ACTION", "COMMIT", "BRANCH", "BY", "MESSAGE")
    rows = [header]
    for e in reversed(entries):
        rows.append(
            (
                str(e.version),
                e.kind,
                e.result,
                e.start_time[:19],
                e.app or "-",
                (e.action or "-") + (f"@{e.cluster}" if e.cluster else ""),
                (e.commit[:8] if e.commit != SECRET else SECRET) or "-",
                e.branch or "-",
                e.actor or "-",
                e.message.splitlines()[0] if e.message else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows
    )
