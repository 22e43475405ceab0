"""The Automation API (local workspace on this repo) behind the admin commands.

Only this module talks to the Pulumi CLI; the logic it feeds (history, rollback, status) is pure.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from gitops.admin.history import HistoryEntry, ledger
from gitops.core.environments import environment_for_stack
from gitops.core.errors import StateError
from gitops.core.migrations import Rename, positional_renames
from gitops.core.naming import app_component_urns, preview_of_stack
from gitops.core.settings import EVENT_KEYS, KUBECONFIG_PREFIX, NAMESPACE, StackSettings, settings_from_config
from gitops.core.stackfile import load_stack_config

PAGE_SIZE = 2000  # 5,000 updates: three history calls
MAX_PAGES = 10_000
LOCK_POLL_SECONDS = 3  # a waiting release retries this often: a failed try costs one CLI start, no update
NOT_INFRASTRUCTURE = frozenset({"pulumi:pulumi:StackReference"})


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
        self.root = root
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

    def release(
        self,
        event: Mapping[str, str],
        message: str,
        on_output: Callable[[str], None],
        *,
        target_app: str | None = None,
        refresh: bool = False,
        clusters: Sequence[str] | None = None,
    ) -> None:
        """`pulumi up` with the event as config, given in a config file of its own (`--config-file`): the
        stack file is never changed, so a later update without the event re-applies the state, and two
        releases started from one folder at once never read each other's event.

        ``target_app``: the update changes that app only. It runs with ``--target`` on the app's components
        (``--target-dependents`` reaches everything below them) and the program, told by
        ``gitops:targeted``, registers only them: every other app's resources are neither registered, nor
        checked, nor diffed, nor deleted (the engine keeps untargeted resources as they are), so its cost
        follows that app, not the number of apps in the stack.

        ``refresh``: read every object from the clusters first (`--refresh`), so what someone changed by hand
        is put back too (a plain apply reconciles everything).

        ``clusters``: a release in waves targets the app's components on that wave's clusters only."""
        targets = self.app_targets(target_app, clusters) if target_app else None
        if target_app:
            event = {**event, "targeted": "true"}
        elif preview_of_stack(self.name) is None:  # an update of every resource: old names first
            self.migrate_state(on_output)
        with self._event_config(event) as config_file:
            self._stack.up(
                message=message,
                on_output=on_output,
                config_file=config_file,
                target=targets,
                target_dependents=True if targets else None,
                refresh=refresh or None,
            )

    def migrate_state(self, on_output: Callable[[str], None], *, dry_run: bool = False) -> list[Rename]:
        """Rename in the state what it still names by position, to the names derived from what each resource
        recorded (``gitops.core.migrations``); `pulumi state rename`, one per resource, before any update
        would otherwise delete and re-create them. A targeted release leaves them alone (untargeted)."""
        deployment = self._stack.export_stack().deployment or {}
        renames = positional_renames(deployment)
        for rename in renames:
            if not dry_run:
                self._cli("state", "rename", rename.urn, rename.new_name, "--yes")
            on_output(f"{'would rename' if dry_run else 'renamed'} {rename.old_name} -> {rename.new_name}\n")
        return renames

    def _cli(self, *args: str) -> auto.CommandResult:
        """A CLI command the Automation API has no method for, run as the workspace runs its own."""
        workspace = self._stack.workspace
        env = {"PULUMI_HOME": workspace.pulumi_home} if workspace.pulumi_home else {}
        env |= dict(workspace.env_vars or {})
        return workspace.pulumi_command.run([*args, "--stack", self.name], workspace.work_dir, env)

    def settings(self) -> StackSettings:
        """The stack's settings, from its stack file in this repo."""
        env = environment_for_stack(self.name)
        config = load_stack_config(self.root, self.name)
        raw = {k.removeprefix(f"{NAMESPACE}:"): v for k, v in config.values.items() if k.startswith(f"{NAMESPACE}:")}
        return settings_from_config(env, raw, source=f"Pulumi.{self.name}.yaml")

    def app_targets(self, app: str, clusters: Sequence[str] | None = None) -> list[str]:
        """The URNs of ``app``'s components on ``clusters`` (every cluster of this stack by default)."""
        env = environment_for_stack(self.name)
        names = list(clusters) if clusters is not None else [c.name for c in self.settings().clusters]
        project = yaml.safe_load((self.root / "Pulumi.yaml").read_text(encoding="utf-8"))["name"]
        return app_component_urns(self.name, str(project), names, app, env.name)

    def kubeconfigs(self) -> dict[str, str]:
        """Each cluster's kubeconfig from the stack's secret config (``gitops:kubeconfig-<cluster>``)."""
        values = self._stack.get_all_config()
        prefix = f"{NAMESPACE}:{KUBECONFIG_PREFIX}"
        return {k.removeprefix(prefix): v.value for k, v in values.items() if k.startswith(prefix)}

    @contextlib.contextmanager
    def _event_config(self, event: Mapping[str, str]) -> Iterator[str]:
        source = self.root / f"Pulumi.{self.name}.yaml"
        data = yaml.safe_load(source.read_text(encoding="utf-8")) if source.exists() else None
        data = data if isinstance(data, dict) else {}
        data["config"] = {**(data.get("config") or {}), **{f"{NAMESPACE}:{k}": str(v) for k, v in event.items()}}
        with tempfile.TemporaryDirectory(prefix="gitops-event-") as folder:
            path = Path(folder) / source.name
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            yield str(path)

    def release_when_unlocked(
        self,
        event: Mapping[str, str],
        message: str,
        on_output: Callable[[str], None],
        *,
        wait_seconds: float,
        target_app: str | None = None,
        refresh: bool = False,
        clusters: Sequence[str] | None = None,
    ) -> None:
        """``release``, waiting while another update holds the stack's lock."""
        self.with_lock_wait(
            lambda: self.release(event, message, on_output, target_app=target_app, refresh=refresh, clusters=clusters),
            on_output,
            wait_seconds=wait_seconds,
        )

    def preview(self) -> tuple[dict[str, int], str]:
        """What `pulumi up` with no release event would change (`pulumi preview --diff`): counts and the diff."""
        result = self._stack.preview(diff=True)
        return {str(getattr(op, "value", op)): n for op, n in (result.change_summary or {}).items()}, result.stdout

    def drift(self) -> dict[str, int]:
        """Resource changes a refresh would make (`pulumi refresh --preview-only`), per operation.

        The program's StackReferences are reads, not infrastructure: the one to this stack itself
        holds the outputs of the update before, so a refresh always "updates" it after a release.
        Counting them would report drift after every release, so they are left out."""
        changes: Counter[str] = Counter()

        def seen(event: auto.EngineEvent) -> None:
            # a refresh announces every resource as "refresh"; what it found is the op of its outputs event
            done = event.res_outputs_event
            if done is None or done.metadata.type in NOT_INFRASTRUCTURE:
                return
            op = str(getattr(done.metadata.op, "value", done.metadata.op))
            if op not in ("same", "read"):
                changes[op] += 1

        self._stack.preview_refresh(on_event=seen)
        return dict(changes)


def live_stacks(root: Path, command: auto.PulumiCommand | None = None) -> list[auto.StackSummary]:
    """Every stack of this project in the current backend (``pulumi stack ls --json``: one CLI call)."""
    workspace = auto.LocalWorkspace(work_dir=str(root), pulumi_command=command)
    return workspace.list_stacks()
