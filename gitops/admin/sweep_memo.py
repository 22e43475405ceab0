"""The sweep's memo between runs (a file in the sweep job's CI cache): per app, what the last sweep learnt
about its clone (``gitops.core.gitrepo.MergeMemo``), so the next one walks only what ``latest`` gained.

The file is a hint from a cache anyone with the job's cache may have written: it is read strictly and any
doubt (unreadable, too big, a value that is not a full commit id) drops it whole, and the sweep asks afresh.
Even a well-formed forged memo can only keep a preview (until its TTL), never remove one (see MergeMemo).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from gitops.core.gitrepo import BranchFacts, MergeMemo

MAX_BYTES = 4_000_000
MAX_TIPS = 20_000  # per app
MAX_FRONTIER = 64  # per tip; a tip with more is remembered without (its next walk goes further, same answer)
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
VERSION = 1


def load_memos(path: Path | None, on_output: Callable[[str], None]) -> dict[str, MergeMemo]:
    if path is None or not path.exists():
        return {}
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        return _parse(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        on_output(f"sweep memo {path} ignored ({str(exc)[:120]}); every branch is checked afresh\n")
        return {}


def _parse(data: object) -> dict[str, MergeMemo]:
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("apps"), dict):
        raise ValueError(f"not a version {VERSION} memo")
    memos = {}
    for app, entry in data["apps"].items():
        targets, unmerged = entry["targets"], entry["unmerged"]
        if not isinstance(targets, list) or not isinstance(unmerged, dict) or len(unmerged) > MAX_TIPS:
            raise ValueError(f"{app}: targets must be a list, unmerged a map of at most {MAX_TIPS} tips")
        frontiers = list(unmerged.values())
        if not all(isinstance(f, list) and len(f) <= MAX_FRONTIER for f in frontiers):
            raise ValueError(f"{app}: each tip's frontier must be a list of at most {MAX_FRONTIER} commits")
        shas = [*targets, *unmerged, *(sha for f in frontiers for sha in f)]
        if len(targets) > 2 or not all(isinstance(s, str) and FULL_SHA.match(s) for s in shas):
            raise ValueError(f"{app}: every entry must be a full 40-hex commit id")
        memos[str(app)] = MergeMemo(frozenset(targets), {tip: frozenset(f) for tip, f in unmerged.items()})
    return memos


def save_memos(path: Path | None, facts: Mapping[str, BranchFacts]) -> None:
    """Write what this sweep learnt (atomically: a cancelled job leaves the old memo or the new one)."""
    if path is None:
        return
    apps = {
        app: {
            "targets": sorted(found.memo.targets),
            "unmerged": {
                tip: sorted(frontier) if len(frontier) <= MAX_FRONTIER else []
                for tip, frontier in sorted(found.memo.unmerged.items())
            },
        }
        for app, found in sorted(facts.items())
        if found.memo is not None
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"version": VERSION, "apps": apps}, sort_keys=True), encoding="utf-8")
    os.replace(partial, path)
