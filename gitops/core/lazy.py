"""Sub-commands whose module is imported only when they run.

A CI job runs one command per process, and each starts a fresh interpreter: ``gitops release`` should not
pay for importing the notification channels (Slack's SDK, python-gitlab, requests), the offline engine or
the audit commands it never calls (~0.4 s of every release; ``python -X importtime -m gitops``)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

Command = Callable[[argparse.Namespace], int]


def command(module: str, name: str) -> Command:
    """``module.name``, imported at its first call."""

    def run(args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(module), name)(args))

    run.__qualname__ = run.__name__ = name
    return run
