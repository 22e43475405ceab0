"""The update message every CI run and admin command uses, readable in `pulumi stack history`.

deploy web@1a2b3c4d from master by alice (pipeline https://gitlab/.../pipelines/7)
deploy web@1a2b3c4d from master, wave 1/2 (prod-eu) by alice (pipeline https://gitlab/.../pipelines/7)
rollback web from 1a2b3c4d to 0f0f0f0f by bob (pipeline -): 500s after release
rollback web from 1a2b3c4d to 0f0f0f0f on prod-us only by bob (pipeline -): 500s in us-east
restore web from 1a2b3c4d to 0f0f0f0f by ci (pipeline https://...): automatic restore after the failed ...
stop web preview of feature/login by alice (pipeline https://...)
clear-hold web by bob (pipeline -): fix verified by hand
retire web by bob (pipeline -): replaced by shop
init prod by bob (pipeline -)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitops.core.naming import short_commit

PATTERN = re.compile(r" by (?P<actor>\S+) \(pipeline (?P<pipeline>\S+)\)(?:: (?P<reason>.*))?$")


def update_message(
    action: str,
    app: str,
    *,
    actor: str,
    pipeline: str = "",
    commit: str | None = None,
    branch: str | None = None,
    from_commit: str | None = None,
    reason: str | None = None,
    wave: str | None = None,
    cluster: str | None = None,
) -> str:
    if action == "deploy":
        head = f"deploy {app}@{short_commit(commit or '')} from {branch}"
    elif action in ("rollback", "restore"):
        head = f"{action} {app} from {short_commit(from_commit or '')} to {short_commit(commit or '')}"
    elif action == "stop":
        head = f"stop {app} preview of {branch}"
    else:
        head = f"{action} {app}".rstrip()
    if wave:
        head += f", wave {wave}"
    if cluster:
        head += f" on {cluster} only"
    tail = f" by {actor or 'unknown'} (pipeline {pipeline or '-'})"
    return head + tail + (f": {reason}" if reason else "")


@dataclass(frozen=True)
class MessageFacts:
    actor: str = ""
    pipeline: str = ""
    reason: str = ""


def parse_message(message: str) -> MessageFacts:
    match = PATTERN.search(message.splitlines()[0] if message else "")
    if not match:
        return MessageFacts()
    pipeline = match["pipeline"]
    return MessageFacts(match["actor"], "" if pipeline == "-" else pipeline, match["reason"] or "")
