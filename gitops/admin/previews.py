"""The fleet of preview stacks (``preview-<preview id>``): deploy, stop, sweep and list them.

Each live preview is its own stack, so a deploy registers only that preview's resources and deploys of
different branches never wait on one another. This module drives the stacks through the Automation API
(``gitops.admin.stack``); which previews go is decided by the pure rule in ``gitops.core.preview_policy``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from gitops.admin.backend_store import Entry, Store, backend_store, checkpoint_prefix
from gitops.admin.stack import Snapshot, StackAdmin, live_stacks
from gitops.admin.sweep_memo import load_memos, save_memos
from gitops.core.environments import INTEGRATION_BRANCH
from gitops.core.errors import BackendError, GitOpsError
from gitops.core.gitrepo import BranchFacts, MergeMemo, SourceRepo
from gitops.core.naming import preview_of_stack, preview_stack, short_commit
from gitops.core.planner import parse_timestamp
from gitops.core.preview_policy import LivePreview, Removal, prune
from gitops.core.settings import PreviewPolicy, stack_settings
from gitops.core.state import Preview, parse_outputs

SHARED_STACK = "preview"
META = ".pulumi/meta.yaml"  # version 1: stacks laid out per project
Output = Callable[[str], None]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def preview_policy(root: Path) -> PreviewPolicy:
    """TTL and cap, from ``Pulumi.preview.yaml`` (the settings every preview stack is given)."""
    return stack_settings(root, SHARED_STACK).preview


@dataclass(frozen=True)
class LiveStack:
    """One preview stack as the fleet sees it; ``preview`` is None when its outputs could not be read."""

    stack: str
    key: str
    last_update: datetime | None
    preview: Preview | None = None
    problem: str = ""  # why ``preview`` is None, with what to do

    def as_live(self, now: datetime) -> LivePreview:
        when = parse_timestamp(self.preview.last_deployed) if self.preview else self.last_update or now
        return LivePreview(
            self.key, when, self.preview.app if self.preview else None, self.preview.branch if self.preview else None
        )


class PreviewFleet:
    def __init__(self, root: Path, command: auto.PulumiCommand | None, *, wait_seconds: float) -> None:
        self.root, self.command, self.wait = root, command, wait_seconds

    def stack(self, name: str, *, create: bool = False) -> StackAdmin:
        return StackAdmin(name, self.root, self.command, create=create)

    def live(self, *, with_outputs: bool, on_output: Output) -> list[LiveStack]:
        """The live preview stacks (``stack_index``); with outputs, each preview's outputs from its checkpoint
        (``checkpoint_outputs``: one read of them all), else one ``stack output`` per preview."""
        found = []
        stacks = [(name, preview_of_stack(name), last) for name, last in self.stack_index()]
        carried = self.checkpoint_outputs() if with_outputs else {}
        for name, key, last_update in stacks:
            if key is None:
                continue
            preview, problem = (
                self._read_preview(name, key, carried.get(name), on_output) if with_outputs else (None, "")
            )
            found.append(LiveStack(name, key, last_update, preview, problem))
        return sorted(found, key=lambda s: s.stack)

    def checkpoint_outputs(self) -> dict[str, dict[str, Any]]:
        """Every preview stack's outputs, read from the checkpoints in one backend read where gitops can address
        them (a sweep over 1,000 previews made 2,000 CLI calls through `stack output`). Secret outputs show as
        ``[secret]``, as `pulumi stack output` shows them; a checkpoint stored compressed is left to the CLI."""
        store = self._project_store()
        if store is None:
            return {}
        prefix = f"{checkpoint_prefix(self.project)}preview-"
        try:
            texts = store.read_all(prefix, ".json")
        except OSError as exc:
            raise BackendError(f"the preview checkpoints of {self.project} cannot be read: {exc}") from None
        found = {}
        for key, text in texts.items():
            name = key.removeprefix(checkpoint_prefix(self.project)).removesuffix(".json")
            try:
                checkpoint = json.loads(text)
                latest = (checkpoint.get("checkpoint") or {}).get("latest") or {}
            except (ValueError, AttributeError):
                continue  # unreadable here: the CLI is asked, and says what is wrong
            found[name] = shown_outputs(Snapshot.of(latest).outputs)
        return found

    def stack_index(self) -> list[tuple[str, datetime | None]]:
        """Every stack of the project with its last update. Where gitops can address the backend's objects
        (``gitops.admin.backend_store``) this is one listing of the stacks' checkpoints with their write times:
        `pulumi stack ls` on a DIY backend reads every checkpoint whole (pkg/backend/diy/backend.go,
        ``ListStacks``), a cost that grows with every live preview on a networked backend. Elsewhere it is
        that one `stack ls`."""
        store = self._project_store()
        if store is None:
            return [(s.name, _naive(s.last_update)) for s in live_stacks(self.root, self.command)]
        try:
            entries = store.entries(checkpoint_prefix(self.project))
        except OSError as exc:
            raise BackendError(f"the stacks of {self.project} cannot be listed: {exc}") from None
        return sorted(checkpoint_stacks(entries, checkpoint_prefix(self.project)).items())

    def _project_store(self) -> Store | None:
        """The backend's store, where it lays stacks out per project (``.pulumi/meta.yaml``, written by every
        CLI since 3.61); a legacy layout is left to the CLI."""
        store = backend_store(os.environ)
        if store is None:
            return None
        try:
            meta = yaml.safe_load(store.read(META)) or {}
        except FileNotFoundError:
            return None
        except (OSError, yaml.YAMLError) as exc:
            raise BackendError(f"the backend's {META} cannot be read: {exc}") from None
        return store if isinstance(meta, dict) and int(meta.get("version") or 0) >= 1 else None

    @functools.cached_property
    def project(self) -> str:
        return str(yaml.safe_load((self.root / "Pulumi.yaml").read_text(encoding="utf-8"))["name"])

    def _read_preview(
        self, stack: str, key: str, outputs: dict[str, Any] | None, on_output: Output
    ) -> tuple[Preview | None, str]:
        try:
            carried = parse_outputs(outputs if outputs is not None else self.stack(stack).outputs())
        except (GitOpsError, auto.CommandError) as exc:
            on_output(f"warning: the outputs of {stack} cannot be read ({str(exc)[:200]}); only TTL and cap apply\n")
            return None, "outputs unreadable"
        preview = carried.state.previews.get(key)
        if preview is not None:
            return preview, ""
        if not carried.recorded:  # no deploy of it ever finished
            return None, f"never deployed: deploy its branch again, or remove it (pulumi stack rm {stack})"
        return (
            None,
            f"its outputs hold no preview {key}: deploy its branch again, or remove it (pulumi stack rm {stack})",
        )

    def deploy(self, event: Mapping[str, str], message: str, on_output: Output) -> str:
        """Create (or select) the preview's own stack, give it the preview settings, and update it."""
        name = preview_stack(event["app"], event["branch"])
        admin = self.stack(name, create=True)
        try:
            admin.copy_config_from(SHARED_STACK)
            admin.release_when_unlocked(event, message, on_output, wait_seconds=self.wait)
        except auto.CommandError:
            if admin.created:  # a refused first deploy leaves no stack behind (one that owns objects stays)
                admin.remove_if_empty(on_output)
            raise
        return name

    def stop(self, app: str, branch: str, message: str, on_output: Output) -> bool:
        """Tear down one preview (works after its branch is deleted); False when there was none."""
        name = preview_stack(app, branch)
        if name not in {s.stack for s in self.live(with_outputs=False, on_output=on_output)}:
            on_output(f"no preview of {app} for branch {branch!r} ({name}): nothing to stop\n")
            return False
        self.remove(Removal(name.removeprefix("preview-"), "stopped"), message, on_output)
        return True

    def remove(self, removal: Removal, message: str, on_output: Output) -> bool:
        """Destroy and delete one preview stack; a stack busy with its own update is left for next time."""
        admin = self.stack(f"preview-{removal.preview}")
        try:
            admin.with_lock_wait(
                lambda: admin.destroy_and_remove(f"{message}: {removal.reason}", on_output),
                on_output,
                wait_seconds=0,
            )
        except auto.ConcurrentUpdateError:
            on_output(f"preview {removal.preview} is being updated right now; left for the next sweep\n")
            return False
        on_output(f"preview {removal.preview} removed: {removal.reason}\n")
        return True

    def enforce_limits(self, keep: str, policy: PreviewPolicy, message: str, on_output: Output) -> list[Removal]:
        """At deploy time: TTL and cap from ``stack ls`` alone (one call), never the preview just deployed."""
        now = utc_now()
        live = [s.as_live(now) for s in self.live(with_outputs=False, on_output=on_output)]
        chosen = prune(live, now=now, ttl_hours=policy.ttl_hours, max_previews=policy.max_previews, keep=keep)
        return [r for r in chosen if self.remove(r, message, on_output)]

    def sweep(
        self,
        repos: Mapping[str, str],
        policy: PreviewPolicy,
        message: str,
        on_output: Output,
        *,
        dry_run: bool,
        memo: Path | None = None,
    ) -> list[Removal]:
        """The scheduled sweep: every live preview's branch checked against its app's clone, TTL, cap.
        ``memo``: the file that carries what a sweep learnt to the next (``gitops.admin.sweep_memo``)."""
        now = utc_now()
        stacks = self.live(with_outputs=True, on_output=on_output)
        facts = sweep_facts(stacks, repos, load_memos(memo, on_output))
        if not dry_run:
            save_memos(memo, facts)
        for app, found in sorted(facts.items()):
            note = found.note(app)
            if note:
                on_output(note + "\n")
        live = [s.as_live(now) for s in stacks]
        chosen = prune(live, now=now, ttl_hours=policy.ttl_hours, max_previews=policy.max_previews, facts=facts)
        if dry_run:
            for removal in chosen:
                on_output(f"would remove preview {removal.preview}: {removal.reason}\n")
            return chosen
        return [r for r in chosen if self.remove(r, message, on_output)]


def sweep_facts(
    stacks: list[LiveStack], repos: Mapping[str, str], memos: Mapping[str, MergeMemo] | None = None
) -> dict[str, BranchFacts]:
    """Branch facts per app, asking each clone only about its live previews' branches."""
    branches: dict[str, set[str]] = {}
    for live in stacks:
        if live.preview is not None:
            branches.setdefault(live.preview.app, set()).add(live.preview.branch)
    return {
        app: SourceRepo(repos[app]).branch_facts(wanted, INTEGRATION_BRANCH, (memos or {}).get(app))
        for app, wanted in sorted(branches.items())
        if app in repos
    }


def status_lines(stacks: list[LiveStack], now: datetime) -> list[str]:
    lines = []
    for live in stacks:
        p = live.preview
        if p is None:
            lines.append(f"  preview {live.key}: {live.problem or 'outputs unreadable'} (stack {live.stack})")
            continue
        idle = now - parse_timestamp(p.last_deployed)
        hours = int(idle.total_seconds() // 3600)
        lines.append(
            f"  preview {live.key}: {p.app} {p.branch}@{short_commit(p.commit)} {p.url} idle {hours}h "
            f"(since {p.last_deployed})"
        )
    return lines


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # a secret value in a checkpoint (pulumi's sig.Secret)


def shown_outputs(value: Any) -> Any:
    """``value`` with every secret replaced by ``[secret]``, as `pulumi stack output --json` shows it."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "[secret]"
        return {k: shown_outputs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_outputs(v) for v in value]
    return value


def checkpoint_stacks(entries: list[Entry], prefix: str) -> dict[str, datetime | None]:
    """Stack name -> last write of its checkpoint, from the keys the DIY backend writes for a project:
    ``<prefix><stack>.json``, optionally ``.gz``/``.zst`` (pkg/backend/diy/store.go); ``.bak`` copies and
    anything deeper are not stacks."""
    found: dict[str, datetime | None] = {}
    for entry in entries:
        name = entry.key.removeprefix(prefix)
        for suffix in (".json", ".json.gz", ".json.zst"):
            if name.endswith(suffix) and "/" not in name:
                stack = name.removesuffix(suffix)
                found[stack] = max(filter(None, [found.get(stack), entry.modified]))
    return found


def _naive(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC).replace(tzinfo=None) if value and value.tzinfo else value
