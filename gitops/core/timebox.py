"""Work given a bounded time, whatever the peer does."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def within(seconds: float, work: Callable[[], T], late: T) -> T:
    """``work()`` in a daemon thread, given at most ``seconds``: a peer that answers one byte a second (no read
    ever times out) cannot hold the process past the caller's deadline."""
    box: list[T] = []
    thread = threading.Thread(target=lambda: box.append(work()), daemon=True, name="within")
    thread.start()
    thread.join(max(0.0, seconds))
    return box[0] if box else late
