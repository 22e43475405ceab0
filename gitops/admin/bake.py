"""A wave's bake: the app's pods on the wave's clusters are watched for restarts for ``bakeSeconds``.

Pods are listed through each cluster's API server (``gitops.admin.kubeapi``). A cluster that cannot be
watched fails the bake: a bake that cannot see is not a passed bake.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

POLL_SECONDS = 2.0


class RestartSource(Protocol):
    def restarts(self, namespace: str, app: str) -> dict[str, int]: ...


class BakeError(Exception):
    """The bake failed: a restart was seen, or a cluster could not be watched. The message names it."""


def bake(
    readers: Mapping[str, RestartSource],
    app: str,
    seconds: float,
    *,
    on_output: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Watch the app's pods on each cluster for ``seconds``; raise BakeError at the first restart."""
    clusters: Sequence[str] = sorted(readers)
    start = {c: _read(readers[c], c, app) for c in clusters}
    on_output(f"baking {app} on {', '.join(clusters)} for {seconds:g}s (watching for restarts)\n")
    deadline = clock() + seconds
    while True:
        for cluster in clusters:
            for container, count in _read(readers[cluster], cluster, app).items():
                if count > start[cluster].get(container, 0):
                    raise BakeError(
                        f"{container} on {cluster} restarted during the bake ({count} restart(s)); "
                        "the release stops here"
                    )
        remaining = deadline - clock()
        if remaining <= 0:
            return
        sleep(min(POLL_SECONDS, remaining))


def _read(reader: RestartSource, cluster: str, app: str) -> dict[str, int]:
    try:
        return reader.restarts(app, app)  # staging/prod: the app's namespace is named after it
    except (OSError, ValueError) as exc:
        raise BakeError(f"cannot watch {app}'s pods on {cluster}: {exc}") from None
