"""The Automation API (local workspace on this repo) behind the admin commands.

Only this module talks to the Pulumi CLI; the logic it feeds (history, rollback, status) is pure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from gitops.admin.history import HistoryEntry, ledger
from gitops.core.errors import StateError
from gitops.core.settings import EVENT_KEYS, NAMESPACE

PAGE_SIZE = 2000  # 5,000 updates: three history calls
MAX_PAGES = 10_000
LOCK_POLL_SECONDS = 15


def _summary_json(summary: auto.UpdateSummary) -> dict[str, Any]:
    """Back to the field names of `pulumi stack history --json`, so one parser serves both."""
    return {
        "version": summary.version,
        "kind": summary.kind,
        "result": summary.result,
        "startTime": summary.start_time.strftime("%Y-%m-%dT%H:%M:%SZ") if summary.start_time else "",
        "endTime": summary.end_time.strftime("%Y-%m-%dT%H:%M:%SZ") if summary.end_time else "",
        "message": summary.message,
        "environment": dict(summary.environment or {}),
        "config": {k: {"value": v.value, "secret": v.secret} for k, v in (summary.config or {}).items()},
    }


class StackAdmin:
    """One environment's stack, selected in a local workspace rooted at this repo."""

    def __init__(
        self, stack: str, root: Path, command: auto.PulumiCommand | None = None, *, create: bool = False
    ) -> None:
        self.name = stack
        opts = auto.LocalWorkspaceOptions(pulumi_command=command)
        select = auto.create_or_select_stack if create else auto.select_stack
        self._stack = select(stack_name=stack, work_dir=str(root), opts=opts)

    def copy_config_from(self, source: str) -> None:
        """Give this stack the settings of ``source`` (secrets re-encrypted for this stack by the CLI)."""
        workspace = self._stack.workspace
        values = workspace.get_all_config(source)
        event = {f"{NAMESPACE}:{k}" for k in EVENT_KEYS}
        self._stack.set_all_config({k: v for k, v in values.items() if k not in event})

    def destroy_and_remove(self, message: str, on_output: Callable[[str], None]) -> None:
        """Delete everything the stack declared, then the stack itself (``pulumi destroy`` + ``stack rm``)."""
        self._stack.destroy(message=message, on_output=on_output)
        self._stack.workspace.remove_stack(self.name)

    def with_lock_wait(
        self,
        action: Callable[[], None],
        on_output: Callable[[str], None],
        *,
        wait_seconds: float,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Run ``action``, waiting (bounded, visibly) while another update holds this stack's lock."""
        sleep, clock = sleep or time.sleep, clock or time.monotonic
        deadline = clock() + wait_seconds
        while True:
            try:
                action()
                return
            except auto.ConcurrentUpdateError:
                left = deadline - clock()
                if left <= 0:
                    raise
                on_output(f"stack {self.name} is locked by another update; waiting ({int(left)}s left)\n")
                sleep(min(LOCK_POLL_SECONDS, left))

    def history(self, enough: Callable[[list[HistoryEntry]], bool] | None = None) -> list[HistoryEntry]:
        """The ledger, oldest first. Pages are large (the CLI and the Automation API return 10 entries unless
        paged) and newest first, so ``enough`` (given what was read so far, oldest first) stops it early."""
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            try:
                summaries = self._stack.history(page_size=PAGE_SIZE, page=page, show_secrets=False)
            except (ValueError, KeyError) as exc:
                raise StateError(
                    f"`pulumi stack history` of {self.name} answered something unreadable ({exc!r})"
                ) from None
            items.extend(_summary_json(s) for s in summaries)
            entries = ledger(items)
            if len(summaries) < PAGE_SIZE or (enough is not None and enough(entries)):
                return entries
        return ledger(items)

    def outputs(self) -> dict[str, Any]:
        try:
            return {k: v.value for k, v in self._stack.outputs().items()}
        except ValueError as exc:  # the CLI's answer was not the JSON it documents
            raise StateError(
                f"`pulumi stack output --json` of {self.name} did not answer JSON ({exc}); check the CLI and backend"
            ) from None

    def release(self, event: Mapping[str, str], message: str, on_output: Callable[[str], None]) -> None:
        """`pulumi up` with the event as config; the event keys are removed again afterwards, so a
        later update without them re-applies the state instead of repeating this event."""
        keys = [f"{NAMESPACE}:{k}" for k in event]
        self._stack.set_all_config({f"{NAMESPACE}:{k}": auto.ConfigValue(v) for k, v in event.items()})
        try:
            self._stack.up(message=message, on_output=on_output)
        finally:
            self._stack.remove_all_config(keys)

    def release_when_unlocked(
        self, event: Mapping[str, str], message: str, on_output: Callable[[str], None], *, wait_seconds: float
    ) -> None:
        """``release``, waiting while another update holds the stack's lock."""
        self.with_lock_wait(lambda: self.release(event, message, on_output), on_output, wait_seconds=wait_seconds)

    def preview(self) -> tuple[dict[str, int], str]:
        """What `pulumi up` with no release event would change (`pulumi preview --diff`): counts and the diff."""
        result = self._stack.preview(diff=True)
        return {str(getattr(op, "value", op)): n for op, n in (result.change_summary or {}).items()}, result.stdout

    def drift(self) -> dict[str, int]:
        """Resource changes a refresh would make (`pulumi refresh --preview-only`)."""
        result = self._stack.preview_refresh()
        return {op: n for op, n in (result.change_summary or {}).items() if op != "same" and n}


def live_stacks(root: Path, command: auto.PulumiCommand | None = None) -> list[auto.StackSummary]:
    """Every stack of this project in the current backend (``pulumi stack ls --json``: one CLI call)."""
    workspace = auto.LocalWorkspace(work_dir=str(root), pulumi_command=command)
    return workspace.list_stacks()
