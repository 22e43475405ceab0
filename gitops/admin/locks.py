"""The backend's stack locks and gitops' leases beside them: read them, keep a lease while an update runs,
break a stale lock (the decisions are ``gitops.core.faults``).

Only a backend whose objects this process can address is served: the file backend (``file://``), where a
lock is ``.pulumi/locks/<org>/<project>/<stack>/<uuid>.json`` and a lease ``.gitops/leases/<org>/<project>/
<stack>/<host>-<pid>-<id>.json``. On any other backend no lease is written and nothing is broken automatically;
``gitops unlock`` then uses ``pulumi cancel`` (which deletes every lock of the stack).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from gitops.core.errors import StateError
from gitops.core.faults import LEASE_RENEW_SECONDS, Lease, LockFile, parse_lease, parse_lock

LOCKS = Path(".pulumi") / "locks"
LEASES = Path(".gitops") / "leases"
FIRST_LOOK_SECONDS = 0.5
NOTES = Path(".gitops") / "audit"


def backend_url(environ: Mapping[str, str]) -> str | None:
    """The backend the CLI uses: ``PULUMI_BACKEND_URL``, else the one ``pulumi login`` recorded."""
    if environ.get("PULUMI_BACKEND_URL"):
        return environ["PULUMI_BACKEND_URL"]
    home = Path(environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
    try:
        current = json.loads((home / "credentials.json").read_text(encoding="utf-8")).get("current")
    except (OSError, ValueError, AttributeError):
        return None
    return current if isinstance(current, str) and current else None


def file_backend_root(url: str | None) -> Path | None:
    """The folder of a ``file://`` backend (``file://~`` is the home folder), else None."""
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.netloc + parsed.path)
    return Path(path).expanduser() if path else None


@dataclass(frozen=True)
class BackendLocks:
    """One stack's locks and leases in a file backend."""

    root: Path
    project: str
    stack: str

    @classmethod
    def of(cls, environ: Mapping[str, str], project: str, stack: str) -> BackendLocks | None:
        root = file_backend_root(backend_url(environ))
        return cls(root, project, stack) if root is not None else None

    @property
    def where(self) -> str:
        return f"file://{self.root}"

    def locks(self) -> list[LockFile]:
        found = []
        for path in sorted(self.root.glob(f"{LOCKS}/*/{self.project}/{self.stack}/*.json")):
            try:
                found.append(parse_lock(str(path), path.read_text(encoding="utf-8")))
            except FileNotFoundError:  # released while we looked
                continue
            except StateError:  # not a lock pulumi wrote: shown as held by nobody known, never broken alone
                found.append(LockFile(str(path), "", "", -1, ""))
        return found

    def leases(self) -> list[Lease]:
        found = []
        for path in sorted(self._lease_dir().glob("*.json")):
            try:
                found.append(parse_lease(str(path), path.read_text(encoding="utf-8")))
            except (FileNotFoundError, StateError):
                continue
        return found

    def write_lease(self, lease: Lease) -> None:
        """Atomically (a rename), so a reader never sees half a lease."""
        path = Path(lease.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(lease.to_json(), encoding="utf-8")
        partial.replace(path)

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            Path(key).unlink()

    def add_note(self, text: str) -> None:
        """An audit note (a broken lock) the next update of this stack records in its message."""
        folder = self.root / NOTES / "organization" / self.project / self.stack
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{socket.gethostname()}-{os.getpid()}.txt"
        (folder / name).write_text(text, encoding="utf-8")

    def notes(self) -> list[tuple[str, str]]:
        """(key, text) of the audit notes no update has recorded yet, oldest first."""
        folder = self.root / NOTES / "organization" / self.project / self.stack
        found = []
        for path in sorted(folder.glob("*.txt")):
            with contextlib.suppress(FileNotFoundError):
                found.append((str(path), path.read_text(encoding="utf-8").splitlines()[0][:500]))
        return found

    def lease_key(self, host: str, pid: int) -> str:
        """One key per update, not per process: a process that left an ended lease behind (its lock could not
        be removed) and updates again must not overwrite it."""
        return str(self._lease_dir() / f"{host}-{pid}-{uuid.uuid4().hex[:12]}.json")

    def _lease_dir(self) -> Path:
        return self.root / LEASES / "organization" / self.project / self.stack


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
    except OSError:
        return []
