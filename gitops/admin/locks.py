"""The backend's stack locks and gitops' leases beside them: read them, keep a lease while an update runs,
break a stale lock (the decisions are ``gitops.core.faults``).

Served on every backend whose objects this process can address (``gitops.admin.backend_store``: a folder or
a PostgreSQL table). A lock is ``.pulumi/locks/<org>/<project>/<stack>/<uuid>.json`` as the CLI writes it, a
lease ``.gitops/leases/<org>/<project>/<stack>/<host>-<pid>-<id>.json`` and an audit note
``.gitops/audit/<org>/<project>/<stack>/<time>-<host>-<pid>.txt``. On any other backend no lease is written and
nothing is broken automatically; ``gitops unlock`` then uses ``pulumi cancel`` (which deletes every lock of the
stack).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from gitops.admin.backend_store import Entry, Store, backend_store
from gitops.core.errors import BackendError, StateError
from gitops.core.faults import LEASE_RENEW_SECONDS, Lease, LockFile, parse_lease, parse_lock

LOCKS = ".pulumi/locks/"
LEASES = ".gitops/leases/organization"
FIRST_LOOK_SECONDS = 0.5
NOTES = ".gitops/audit/organization"


@dataclass(frozen=True)
class BackendLocks:
    """One stack's locks, leases and audit notes in a backend gitops can address."""

    store: Store
    project: str
    stack: str

    @classmethod
    def of(cls, environ: Mapping[str, str], project: str, stack: str) -> BackendLocks | None:
        store = backend_store(environ)
        return cls(store, project, stack) if store is not None else None

    @property
    def where(self) -> str:
        return self.store.where

    def _entries(self, prefix: str) -> list[Entry]:
        """The objects under ``prefix``; a backend that cannot be read is a ``BackendError`` (the job says the
        backend fails and changes nothing more), whichever backend it is."""
        try:
            return self.store.entries(prefix)
        except OSError as exc:
            raise BackendError(f"the state backend {self.where} cannot be read: {exc}") from None

    def _read(self, key: str) -> str:
        try:
            return self.store.read(key)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise BackendError(f"the state backend {self.where} cannot be read: {exc}") from None

    def locks(self) -> list[LockFile]:
        found = []
        for entry in self._entries(LOCKS):
            if lock_stack(entry.key) != (self.project, self.stack):
                continue
            try:
                found.append(parse_lock(entry.key, self._read(entry.key)))
            except FileNotFoundError:  # released while we looked
                continue
            except StateError:  # not a lock pulumi wrote: shown as held by nobody known, never broken alone
                found.append(LockFile(entry.key, "", "", -1, ""))
        return found

    def leases(self) -> list[Lease]:
        found = []
        for entry in self._entries(f"{self._lease_dir()}/"):
            if not entry.key.endswith(".json"):
                continue
            try:
                found.append(parse_lease(entry.key, self._read(entry.key)))
            except (FileNotFoundError, StateError):
                continue
        return found

    def write_lease(self, lease: Lease) -> None:
        self.store.write(lease.key, lease.to_json())

    def remove(self, key: str) -> None:
        self.store.remove(key)

    def add_note(self, text: str) -> None:
        """An audit note (a broken lock) the next update of this stack records in its message."""
        name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{socket.gethostname()}-{os.getpid()}.txt"
        self.store.write(f"{NOTES}/{self.project}/{self.stack}/{name}", text)

    def notes(self) -> list[tuple[str, str]]:
        """(key, text) of the audit notes no update has recorded yet, oldest first."""
        found = []
        for entry in self._entries(f"{NOTES}/{self.project}/{self.stack}/"):
            with contextlib.suppress(FileNotFoundError):
                found.append((entry.key, (self._read(entry.key).splitlines() or [""])[0][:500]))
        return found

    def lease_key(self, host: str, pid: int) -> str:
        """One key per update, not per process: a process that left an ended lease behind (its lock could not
        be removed) and updates again must not overwrite it."""
        return f"{self._lease_dir()}/{host}-{pid}-{uuid.uuid4().hex[:12]}.json"

    def _lease_dir(self) -> str:
        return f"{LEASES}/{self.project}/{self.stack}"


def lock_stack(key: str) -> tuple[str, str] | None:
    """(project, stack) of a lock the CLI wrote (``.pulumi/locks/<org>/<project>/<stack>/<id>.json``)."""
    parts = key.split("/")
    if len(parts) != 6 or not parts[5].endswith(".json"):
        return None
    return parts[3], parts[4]


def process_identity() -> str:
    """Where this process's pids mean something: this boot and this pid namespace."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="utf-8").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot}:{namespace}"


def pid_alive(pid: int) -> bool:
    """Does ``pid`` run in this pid namespace (a zombie, killed but not reaped, does not)?"""
    if pid <= 0:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def child_pids(parent: int) -> tuple[int, ...]:
    """The processes whose parent is ``parent`` (the Pulumi CLI runs as our child)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == str(parent):
            found.append(int(entry.name))
    return tuple(sorted(found))


def utc_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def holding_lease(locks: BackendLocks | None, doing: str) -> Iterator[None]:
    """Keep a lease beside the stack's lock while the body runs: written before the CLI starts, renewed every
    few seconds with the CLI's pids, removed when the body ends. A lease that cannot be written costs only the
    stale-lock detection (the update itself decides whether the backend works), so it warns and goes on."""
    if locks is None:
        yield
        return
    host, pid = socket.gethostname(), os.getpid()
    lease = Lease(
        key=locks.lease_key(host, pid),
        host=host,
        pid=pid,
        process=process_identity(),
        user=os.environ.get("GITLAB_USER_LOGIN") or getpass.getuser(),
        job=os.environ.get("CI_JOB_URL", ""),
        doing=doing.splitlines()[0][:200] if doing else "",
        started=utc_text(),
        renewals=0,
    )
    stop = threading.Event()
    warned: list[str] = []

    def write(current: Lease) -> None:
        try:
            locks.write_lease(current)
        except OSError as exc:
            if not warned:
                warned.append(str(exc))
                print(f"warning: the lease beside the stack lock cannot be written ({exc}); a lock this job leaves "
                      "behind if it is killed can then only be broken by an admin (gitops unlock)")  # fmt: skip

    seen: set[int] = set()  # every CLI pid this lease named: a lock its CLI could not remove is found by it
    current = [lease]

    def renew() -> None:
        wait = FIRST_LOOK_SECONDS  # a first look soon, so even a short CLI run is named
        while not stop.wait(wait):
            wait = LEASE_RENEW_SECONDS
            pids = child_pids(pid)
            seen.update(pids)
            current[0] = replace(current[0], renewals=current[0].renewals + 1, cli_pids=pids or current[0].cli_pids)
            write(current[0])

    write(lease)
    keeper = threading.Thread(target=renew, name="gitops-lease", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join(timeout=LEASE_RENEW_SECONDS)
        left = [lock for lock in _readable_locks(locks) if lock.host == host and lock.pid in seen]
        if left:  # the CLI ended but its lock stayed (a failing backend): say so, so a waiter may break it
            write(replace(current[0], cli_pids=tuple(sorted(seen)), ended=True))
        else:
            with contextlib.suppress(OSError):
                locks.remove(lease.key)


def _readable_locks(locks: BackendLocks) -> list[LockFile]:
    try:
        return locks.locks()
    except (OSError, BackendError):
        return []
