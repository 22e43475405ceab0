"""Deploy freezes: cron-delimited windows in which prod refuses ordinary deploys.

Checked by the program at deploy time (a pipeline created before a freeze and run during it is
still refused), with the same start/end crons GitLab's freeze periods use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class FreezeWindow:
    start: str
    end: str
    timezone: str = "UTC"


def active_freeze(windows: list[FreezeWindow], now_utc: datetime) -> tuple[FreezeWindow, datetime] | None:
    """The window in force at ``now_utc`` (naive UTC) and when it ends, or None.

    A window is in force when its latest start is more recent than its latest end.
    """
    from croniter import croniter  # here: only prod deploys pay its import

    for window in windows:
        local = now_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(window.timezone))
        last_start = croniter(window.start, local).get_prev(datetime)
        last_end = croniter(window.end, local).get_prev(datetime)
        if last_start > last_end:
            ends = croniter(window.end, local).get_next(datetime)
            return window, ends.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    return None


def check_freeze(windows: list[FreezeWindow], now_utc: datetime, what: str) -> None:
    """Refuse ``what`` while a freeze is in force."""
    from gitops.core.errors import FreezeError

    found = active_freeze(windows, now_utc)
    if found is not None:
        window, ends = found
        raise FreezeError(
            f"refused: {what} during a deploy freeze ({window.start} .. {window.end} {window.timezone}); "
            f"it ends at {ends:%Y-%m-%d %H:%M} UTC. Roll back instead if this is an emergency "
            "(rollbacks are allowed), or ask an admin to change gitops:gitlab.freezes"
        )
