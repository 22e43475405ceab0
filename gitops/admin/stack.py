"""The Automation API (local workspace on this repo) behind the admin commands.

Only this module talks to the Pulumi CLI; the logic it feeds (history, rollback, status) is pure.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from gitops.admin.backend_store import backend_store, checkpoint_key, checkpoint_prefix
from gitops.admin.history import HistoryEntry, ledger
from gitops.admin.locks import BackendLocks, holding_lease, pid_alive, process_identity
from gitops.core.environments import environment_for_stack
from gitops.core.errors import BackendError, StateError
from gitops.core.faults import Judgement, LeaseWatch, PendingOperation, Verdict, judge, pending_operations
from gitops.core.migrations import Rename, positional_renames
from gitops.core.naming import app_component_urns, preview_of_stack
from gitops.core.settings import EVENT_KEYS, KUBECONFIG_PREFIX, NAMESPACE, StackSettings, stack_settings

PAGE_SIZE = 2000  # 5,000 updates: three history calls
MAX_PAGES = 10_000
LOCK_POLL_SECONDS = 3  # a waiting release judges the lock this often (and, without a readable backend, retries)
LOCK_WATCH_SECONDS = 0.2  # where gitops reads the locks, it looks this often and tries once they are gone
NOT_INFRASTRUCTURE = frozenset({"pulumi:pulumi:StackReference"})
# the root stack, its reads and providers (their configuration only): a state of only these owns no object
OWNS_NOTHING = ("pulumi:pulumi:", "pulumi:providers:")


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


def cli_lines(on_output: Callable[[str], None]) -> Callable[[str], None]:
    """The Automation API hands on each line of the CLI's output without its newline; ``on_output`` takes
    text as written (our own messages end their lines), so the CLI's lines get theirs back: a job log shows
    the engine's output line by line, not as one line."""
    return lambda line: on_output(f"{line}\n")


@dataclass(frozen=True)
class Snapshot:
    """What the backend holds for a stack now (``pulumi stack export``, one CLI call): its outputs, and what an
    interrupted update left pending."""

    outputs: dict[str, Any]
    pending: list[PendingOperation]
    written: str  # when the checkpoint was last written

    @classmethod
    def of(cls, deployment: Mapping[str, Any]) -> Snapshot:
        resources = deployment.get("resources") or []
        roots = [r for r in resources if isinstance(r, dict) and r.get("type") == "pulumi:pulumi:Stack"]
        outputs = roots[0].get("outputs") if roots else None
        manifest = deployment.get("manifest") if isinstance(deployment.get("manifest"), dict) else {}
        return cls(
            dict(outputs) if isinstance(outputs, dict) else {},
            pending_operations(deployment),
            str((manifest or {}).get("time", "")),
        )


class NamingWorkspace(auto.LocalWorkspace):
    """A local workspace that never selects a stack. Every command the Automation API runs for a stack names
    it (``--stack``: ``Stack._run_pulumi_cmd_sync``, ``LocalWorkspace``'s stack commands), so `pulumi stack
    select` (a CLI call at the start of every command, ~0.1 s, and a write to the Pulumi home's workspace
    file) decides nothing. A stack that does not exist is named by the first command that needs it."""

    def select_stack(self, stack_name: str) -> None:
        return None


def actor_name() -> str:
    return os.environ.get("GITLAB_USER_LOGIN") or getpass.getuser()


class StackAdmin:
    """One environment's stack, selected in a local workspace rooted at this repo."""

    def __init__(
        self, stack: str, root: Path, command: auto.PulumiCommand | None = None, *, create: bool = False
    ) -> None:
        self.name = stack
        self.root = root
        self._kubeconfigs: dict[str, str] | None = None
        self.notes: list[str] = []  # what the next update's message records below its first line (the audit trail)
        self.lock_report = ""  # who held the stack's lock when this process last waited for it
        self.created = False  # this object created the stack (``create``): a failed first update may remove it
        workspace = NamingWorkspace(work_dir=str(root), pulumi_command=command)
        if create and not self._known(workspace):
            try:
                workspace.create_stack(stack)
                self.created = True
            except auto.StackAlreadyExistsError:
                pass
        self._stack = auto.Stack.select(stack, workspace)  # selects nothing: see NamingWorkspace

    def _known(self, workspace: auto.LocalWorkspace) -> bool:
        """Does the backend hold this stack's checkpoint (one read where gitops can address the backend)? A
        redeploy of a preview then makes no `stack init` that only fails; elsewhere the init decides."""
        store = backend_store({**os.environ, **(workspace.env_vars or {})})
        if store is None:
            return False
        try:
            return any(e.key.endswith(f"/{self.name}.json") for e in store.entries(checkpoint_prefix(self.project)))
        except OSError:
            return False

    def copy_config_from(self, source: str) -> None:
        """Give this stack the settings of ``source``: its stack file, copied with its secrets provider settings
        (``encryptionsalt``, or a KMS provider's key), so its secure values decrypt for this stack as they
        do for ``source``. A file copy, not ``config --show-secrets`` + ``config set-all`` (two CLI calls,
        ~0.6 s of every preview deploy); the engine reads a stack's older checkpoints with the secrets
        provider they record, whatever its config file says."""
        data = yaml.safe_load((self.root / f"Pulumi.{source}.yaml").read_text(encoding="utf-8")) or {}
        event = {f"{NAMESPACE}:{k}" for k in EVENT_KEYS}
        data["config"] = {k: v for k, v in (data.get("config") or {}).items() if k not in event}
        target = self.root / f"Pulumi.{self.name}.yaml"
        target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    def destroy_and_remove(self, message: str, on_output: Callable[[str], None]) -> None:
        """Delete everything the stack declared, then the stack itself (``pulumi destroy`` + ``stack rm``)."""
        with holding_lease(self.locks, message):
            self._stack.destroy(message=message, on_output=cli_lines(on_output))
        self._stack.workspace.remove_stack(self.name)

    def remove_if_empty(self, on_output: Callable[[str], None]) -> bool:
        """Remove the stack when its state holds nothing on a cluster or in GitLab (only the root stack and
        its reads): what a refused first update leaves behind. A stack that owns anything is kept."""
        resources = (self._stack.export_stack().deployment or {}).get("resources") or []
        owned = [str(r.get("urn", "?")) for r in resources if not str(r.get("type", "")).startswith(OWNS_NOTHING)]
        if owned:
            on_output(f"stack {self.name} is kept: its state holds {len(owned)} resource(s), {owned[0]} first\n")
            return False
        self._stack.workspace.remove_stack(self.name, force=True)  # force: the root stack resource itself
        on_output(f"stack {self.name} removed: its first update changed nothing\n")
        return True

    @functools.cached_property
    def locks(self) -> BackendLocks | None:
        """This stack's locks and leases, where the backend is one this process can address (a folder, PostgreSQL)."""
        return BackendLocks.of(os.environ, self.project, self.name)

    @functools.cached_property
    def project(self) -> str:
        return str(yaml.safe_load((self.root / "Pulumi.yaml").read_text(encoding="utf-8"))["name"])

    def with_lock_wait(
        self,
        action: Callable[[], None],
        on_output: Callable[[str], None],
        *,
        wait_seconds: float,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Run ``action``, waiting (bounded, visibly) while another update holds this stack's lock. A lock whose
        holder is proven gone (``gitops.core.faults``) is broken at once and the break recorded; on a file
        backend the wait ends as soon as the lock is released, not at the next poll."""
        sleep, clock = sleep or time.sleep, clock or time.monotonic
        deadline = clock() + wait_seconds
        watch = LeaseWatch()
        while True:
            try:
                action()
                return
            except auto.ConcurrentUpdateError as exc:
                locked = exc
            judgements = self.judge_locks(watch, clock())
            stale = [j for j in judgements if j.verdict is Verdict.STALE]
            for judgement in stale:
                self.break_lock(judgement, on_output)
            if stale:
                continue
            self.lock_report = "; ".join(j.why for j in judgements) or "held by another update"
            left = deadline - clock()
            if left <= 0:
                raise locked
            on_output(
                f"stack {self.name} is locked by another update; waiting ({int(left)}s left): {self.lock_report}\n"
            )
            step = min(LOCK_POLL_SECONDS, left)
            if self.locks is None:
                sleep(step)
                continue
            until = clock() + step
            sleep(LOCK_WATCH_SECONDS)  # at least one look's pause: a lock that reads as gone is not a busy loop
            while clock() < until and self.locks.locks():
                sleep(LOCK_WATCH_SECONDS)

    def judge_locks(self, watch: LeaseWatch, now: float) -> list[Judgement]:
        """Every lock of this stack with its verdict (none where the backend cannot be read)."""
        if self.locks is None:
            return []
        locks, leases = self.locks.locks(), self.locks.leases()
        watch.observe(leases, now)
        this = process_identity()
        return [judge(lock, leases, watch, now, this_process=this, pid_alive=pid_alive) for lock in locks]

    def break_lock(self, judgement: Judgement, on_output: Callable[[str], None]) -> None:
        """Delete exactly this lock (and its lease): never `pulumi cancel`, which deletes every lock of the
        stack, a live contender's included. The break goes into the next update's message."""
        assert self.locks is not None
        try:
            self.locks.remove(judgement.lock.key)
        except OSError as exc:
            raise BackendError(
                f"the state backend {self.locks.where} refuses writes: it cannot even remove a stale lock ({exc}). "
                "Nothing more can be recorded there: repair the backend (space, permissions, the volume), then run "
                "the job again; its last good checkpoint is untouched"
            ) from None
        if judgement.lease is not None:
            with contextlib.suppress(OSError):
                self.locks.remove(judgement.lease.key)
        note = (
            f"{actor_name()} broke a lock of {self.name} ({judgement.verdict.value}): {judgement.why} "
            f"(lock taken by {judgement.lock.holder()})"
        )
        on_output(f"warning: {note}\n")
        self.locks.add_note(note)  # whichever process updates the stack next records it in the history

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

    def snapshot(self) -> Snapshot:
        """What the backend holds for the stack: its checkpoint read straight from the backend where gitops can
        address it (one read, not a CLI process: a release's preflight), else `pulumi stack export`."""
        deployment = self._stored_deployment()
        if deployment is not None:
            return Snapshot.of(deployment)
        try:
            return Snapshot.of(self._stack.export_stack().deployment or {})
        except ValueError as exc:
            raise StateError(f"`pulumi stack export` of {self.name} did not answer JSON ({exc})") from None

    def _stored_deployment(self) -> dict[str, Any] | None:
        """The checkpoint's latest deployment (what `stack export` prints as ``deployment``), or None where it
        cannot be read that way (no store, compressed, missing, unreadable: the CLI then says what is wrong)."""
        if self.locks is None:
            return None
        try:
            checkpoint = json.loads(self.locks.store.read(checkpoint_key(self.project, self.name)))
            latest = checkpoint["checkpoint"].get("latest")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return latest if isinstance(latest, dict) else {}

    def clear_pending(self, message: str, on_output: Callable[[str], None]) -> None:
        """`pulumi refresh --clear-pending-creates`: read every object back from its cluster and drop what an
        interrupted update left pending. A pending create is dropped rather than imported: the next update
        that declares the object applies it again, and the Kubernetes provider's server-side apply is an
        upsert (pulumi-kubernetes ``pkg/await/await.go``, ``Creation``: "we always send a PATCH request during
        creates with SSA enabled"), so the object it may have made is adopted, not duplicated or refused."""
        with holding_lease(self.locks, message):
            self._stack.refresh(message=message, clear_pending_creates=True, on_output=cli_lines(on_output))

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
        audit = self.locks.notes() if self.locks is not None else []
        recorded = "\n".join([message, *self.notes, *(text for _, text in audit)])
        with self._event_config(event) as config_file, holding_lease(self.locks, message):
            if targets and refresh:
                # `up --refresh --target`, and a targeted `refresh` alone, fail here with "unknown provider" for
                # every targeted object: the refresh knows no provider the program did not register. A targeted
                # refresh that runs the program (with this update's event: it registers the app's components
                # and their clusters' providers) reads exactly the targets, and no dead cluster elsewhere
                self._stack.refresh(
                    message=f"{message} (refresh first)", on_output=cli_lines(on_output), target=targets,
                    target_dependents=True,
                    run_program=True, config_file=config_file,
                )  # fmt: skip
                refresh = False
            args = ["up", "--yes", "--skip-preview", "--message", recorded, "--config-file", config_file]
            args += [arg for urn in targets or [] for arg in ("--target", urn)]
            args += ["--target-dependents"] * bool(targets) + ["--refresh"] * refresh + ["--exec-kind", "auto"]
            try:
                # the CLI itself, not Stack.up: that reads the outputs twice and the history after every update
                # (three more CLI calls, ~0.8 s) for a result nothing here uses
                self._cli(*args, on_output=cli_lines(on_output))
            except auto.ConcurrentUpdateError:
                raise  # no update ran: the notes wait for the one that does
            except auto.CommandError:
                self._recorded(audit)  # a failed update is in the history too, with its message
                raise
        self._recorded(audit)

    def _recorded(self, audit: list[tuple[str, str]]) -> None:
        self.notes.clear()
        for key, _ in audit:
            if self.locks is not None:
                with contextlib.suppress(OSError):  # left: the next update records the note again, nothing lost
                    self.locks.remove(key)

    def cancel(self) -> None:
        """`pulumi cancel`: delete every lock of the stack (the only way on a backend gitops cannot read)."""
        self._stack.cancel()

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

    def _cli(self, *args: str, on_output: Callable[[str], None] | None = None) -> auto.CommandResult:
        """A CLI command run as the workspace runs its own (a held lock is a ``ConcurrentUpdateError``)."""
        workspace = self._stack.workspace
        env = {"PULUMI_HOME": workspace.pulumi_home} if workspace.pulumi_home else {}
        env |= dict(workspace.env_vars or {})
        return workspace.pulumi_command.run([*args, "--stack", self.name], workspace.work_dir, env, on_output)

    def settings(self) -> StackSettings:
        """The stack's settings, from its stack file in this repo."""
        return stack_settings(self.root, self.name)

    def app_targets(self, app: str, clusters: Sequence[str] | None = None) -> list[str]:
        """The URNs of ``app``'s components on ``clusters`` (every cluster of this stack by default)."""
        env = environment_for_stack(self.name)
        names = list(clusters) if clusters is not None else [c.name for c in self.settings().clusters]
        return app_component_urns(self.name, self.project, names, app, env.name)

    def seed_config(self, values: Mapping[str, str]) -> None:
        """The stack's config as already read with its secrets (``gitops.admin.cli.CliProbe``)."""
        prefix = f"{NAMESPACE}:{KUBECONFIG_PREFIX}"
        self._kubeconfigs = {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}

    def kubeconfigs(self) -> dict[str, str]:
        """Each cluster's kubeconfig from the stack's secret config (``gitops:kubeconfig-<cluster>``), read
        once per command (a CLI call that decrypts: the stack file does not change while gitops runs)."""
        if self._kubeconfigs is None:
            values = self._stack.get_all_config()
            prefix = f"{NAMESPACE}:{KUBECONFIG_PREFIX}"
            self._kubeconfigs = {k.removeprefix(prefix): v.value for k, v in values.items() if k.startswith(prefix)}
        return dict(self._kubeconfigs)

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

    def drift(self) -> tuple[dict[str, int], list[str]]:
        """Resource changes a refresh would make (`pulumi refresh --preview-only`), per operation, and the
        URNs of the resources it would change.

        The program's StackReferences are reads, not infrastructure: the one to this stack itself
        holds the outputs of the update before, so a refresh always "updates" it after a release.
        Counting them would report drift after every release, so they are left out."""
        changes: Counter[str] = Counter()
        urns: list[str] = []

        def seen(event: auto.EngineEvent) -> None:
            # a refresh announces every resource as "refresh"; what it found is the op of its outputs event
            done = event.res_outputs_event
            if done is None or done.metadata.type in NOT_INFRASTRUCTURE:
                return
            op = str(getattr(done.metadata.op, "value", done.metadata.op))
            if op not in ("same", "read"):
                changes[op] += 1
                urns.append(done.metadata.urn)

        self._stack.preview_refresh(on_event=seen)
        return dict(changes), sorted(urns)


def live_stacks(root: Path, command: auto.PulumiCommand | None = None) -> list[auto.StackSummary]:
    """Every stack of this project in the current backend (``pulumi stack ls --json``: one CLI call)."""
    workspace = auto.LocalWorkspace(work_dir=str(root), pulumi_command=command)
    return workspace.list_stacks()
