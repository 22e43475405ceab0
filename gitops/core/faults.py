"""Faults as pure decisions: whose stack lock is stale, and what an interrupted update left behind.

A DIY backend's lock (pulumi/pulumi ``pkg/backend/diy/lock.go``) is a file ``<uuid>.json`` holding the pid,
user and host of the CLI and the time it was taken: no lease and no heartbeat, so a job killed with SIGKILL
leaves it behind forever. Every update run through ``gitops`` writes a *lease* of its own beside the backend's
locks and renews it while the update runs (``gitops.admin.locks``). A waiting release breaks a lock only when
its holder is proven gone:

- the lock's holder wrote a lease, and the lease's renewal counter stood still for ``LEASE_TTL_SECONDS``
  as seen by the waiter's own monotonic clock: no clock of another host is compared with this one, so a
  skewed clock can neither keep a dead lease alive nor make a live one look dead;
- or the lease says the holder runs in this very process namespace (same boot, same pid namespace) and its
  process is gone.

A lock with no lease of ours (a hand-run ``pulumi up``, another tool) is never broken automatically: it is
shown with its holder and ``gitops unlock`` breaks it after an admin's confirmation.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops.core.errors import StateError, bounded
from gitops.core.naming import component_name, release_key

LEASE_RENEW_SECONDS = 5.0  # how often a running update renews its lease
LEASE_TTL_SECONDS = 30.0  # a lease not renewed for this long (as the waiter saw it) belongs to a dead holder


@dataclass(frozen=True)
class LockFile:
    """One lock of the backend, as ``lock.go``'s ``lockContent`` records it."""

    key: str
    user: str
    host: str
    pid: int
    created: str

    def holder(self) -> str:
        return f"{self.user or '?'}@{self.host or '?'} (pid {self.pid}) since {self.created or '?'}"


@dataclass(frozen=True)
class Lease:
    """What a ``gitops`` process holding (or about to take) a stack's lock says of itself, renewed while it runs.

    ``process``: where its pids mean something (boot id and pid namespace); ``cli_pids``: the Pulumi CLI
    processes it started, whose pid the backend's lock records."""

    key: str
    host: str
    pid: int
    process: str
    user: str
    job: str
    doing: str
    started: str
    renewals: int
    cli_pids: tuple[int, ...] = ()
    ended: bool = False  # its update ended, but the backend still held its CLI's lock (it refused the removal)

    def describe(self) -> str:
        job = f", job {self.job}" if self.job else ""
        return f"{self.user or '?'}@{self.host} (gitops pid {self.pid}{job}) since {self.started}: {self.doing}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "host": self.host,
                "pid": self.pid,
                "process": self.process,
                "user": self.user,
                "job": self.job,
                "doing": self.doing,
                "started": self.started,
                "renewals": self.renewals,
                "cli_pids": list(self.cli_pids),
                "ended": self.ended,
            },
            sort_keys=True,
        )


def parse_lock(key: str, text: str) -> LockFile:
    """A lock file's content (untrusted: any writer of the backend can put anything there)."""
    data = _object(key, text, "lock")
    pid = data.get("pid")
    return LockFile(
        key=key,
        user=_text(data.get("username")),
        host=_text(data.get("hostname")),
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else -1,
        created=_text(data.get("timestamp")),
    )


def parse_lease(key: str, text: str) -> Lease:
    data = _object(key, text, "lease")
    pid, renewals, cli_pids = data.get("pid"), data.get("renewals"), data.get("cli_pids")
    if not isinstance(pid, int) or not isinstance(renewals, int) or not isinstance(cli_pids, list):
        raise StateError(f"the lease {bounded(key)} is not one gitops wrote (pid, renewals or cli_pids missing)")
    return Lease(
        key=key,
        host=_text(data.get("host")),
        pid=pid,
        process=_text(data.get("process")),
        user=_text(data.get("user")),
        job=_text(data.get("job")),
        doing=_text(data.get("doing")),
        started=_text(data.get("started")),
        renewals=renewals,
        cli_pids=tuple(p for p in cli_pids if isinstance(p, int)),
        ended=data.get("ended") is True,
    )


def _object(key: str, text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise StateError(f"the {what} {bounded(key)} is not JSON") from None
    if not isinstance(data, dict):
        raise StateError(f"the {what} {bounded(key)} is not a JSON object")
    return data


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    """One bounded line of text from an untrusted record."""
    if not isinstance(value, str):
        return ""
    return bounded("".join(c for c in value if ord(c) >= 32 and ord(c) != 127), 200)


class Verdict(enum.Enum):
    LIVE = "live"  # its holder runs: wait
    STALE = "stale"  # its holder is proven gone: break it
    FOREIGN = "foreign"  # not written by gitops: only an admin may break it (gitops unlock)


@dataclass(frozen=True)
class Judgement:
    lock: LockFile
    verdict: Verdict
    why: str
    lease: Lease | None = None


@dataclass
class LeaseWatch:
    """What a waiter has seen of each lease: its renewal counter and when (waiter's monotonic clock) it first
    saw that value. A lease whose counter stands still for the TTL belongs to a dead holder."""

    seen: dict[str, tuple[int, float]] = field(default_factory=dict)

    def observe(self, leases: Iterable[Lease], now: float) -> None:
        for lease in leases:
            before = self.seen.get(lease.key)
            if before is None or before[0] != lease.renewals:
                self.seen[lease.key] = (lease.renewals, now)

    def standing_still(self, lease: Lease, now: float) -> float:
        """Seconds this lease's counter has not moved, as far as this waiter has seen (0 when never seen)."""
        renewals, since = self.seen.get(lease.key, (lease.renewals, now))
        return now - since if renewals == lease.renewals else 0.0


def lease_of(lock: LockFile, leases: Iterable[Lease]) -> Lease | None:
    """The lease of the gitops process that holds ``lock``: same host, and the lock's pid is one of the CLI
    processes the lease names (or, while its first renewal has not named one yet, any lease of that host)."""
    same_host = [lease for lease in leases if lease.host == lock.host]
    for lease in same_host:
        if lock.pid in lease.cli_pids:
            return lease
    starting = [lease for lease in same_host if not lease.cli_pids]
    return starting[0] if starting else None


def judge(
    lock: LockFile,
    leases: Iterable[Lease],
    watch: LeaseWatch,
    now: float,
    *,
    this_process: str,
    pid_alive: Callable[[int], bool],
    ttl: float = LEASE_TTL_SECONDS,
) -> Judgement:
    """Is the holder of ``lock`` alive? See the module docstring for the rules."""
    lease = lease_of(lock, leases)
    if lease is None:
        return Judgement(lock, Verdict.FOREIGN, f"held by {lock.holder()}, which wrote no gitops lease")
    if lease.ended:  # written once its CLI had exited: nobody holds this lock any more
        return Judgement(
            lock, Verdict.STALE, f"the update of {lease.describe()} ended but the backend kept its lock", lease
        )
    if lease.process and lease.process == this_process:  # the same boot and pid namespace: pids can be asked
        gone = [pid for pid in (lease.pid, *lease.cli_pids) if not pid_alive(pid)]
        if lease.pid in gone and (not lease.cli_pids or all(p in gone for p in lease.cli_pids)):
            return Judgement(lock, Verdict.STALE, f"its holder {lease.describe()} no longer runs on this host", lease)
        return Judgement(lock, Verdict.LIVE, f"held by {lease.describe()}, running on this host", lease)
    still = watch.standing_still(lease, now)
    if still >= ttl:
        return Judgement(
            lock, Verdict.STALE, f"its holder {lease.describe()} stopped renewing its lease {still:.0f}s ago", lease
        )
    return Judgement(lock, Verdict.LIVE, f"held by {lease.describe()}, lease renewed within {ttl:.0f}s", lease)


# --- interrupted updates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingOperation:
    """One step a killed update left unfinished in the checkpoint (``pending_operations``)."""

    kind: str  # creating, updating, deleting, reading, importing
    urn: str
    type: str
    name: str  # the object's name (metadata.name) or the resource's name

    @property
    def is_create(self) -> bool:
        return self.kind == "creating"

    def describe(self) -> str:
        return f"{self.kind} {self.type.rsplit(':', 1)[-1]} {self.name}"


def pending_operations(deployment: Mapping[str, Any]) -> list[PendingOperation]:
    """The pending operations of a ``pulumi stack export`` deployment, typed (untrusted input)."""
    found = deployment.get("pending_operations") or []
    if not isinstance(found, list):
        raise StateError("the stack's checkpoint has pending_operations that are not a list")
    operations = []
    for item in found:
        resource = item.get("resource") if isinstance(item, dict) else None
        if not isinstance(resource, dict):
            raise StateError("the stack's checkpoint has a pending operation without its resource")
        urn = _text(resource.get("urn"))
        inputs = _mapping(resource.get("inputs"))
        name = _text(_mapping(inputs.get("metadata")).get("name")) or urn.rsplit("::", 1)[-1]
        operations.append(PendingOperation(_text(item.get("type")), urn, _text(resource.get("type")), name))
    return operations


INTERRUPTION_NOTE = "an earlier update was interrupted"  # how the note starts (the dashboard marks it)


def interruption_note(operations: list[PendingOperation], running: Mapping[str, str]) -> str:
    """One line for the history and the report: what the interrupted update left and what the clusters ran.
    ``running``: ``<cluster>/<app>`` -> the commit (or "unreadable: ...") read from the cluster."""
    left = ", ".join(op.describe() for op in operations[:6]) + (" ..." if len(operations) > 6 else "")
    ran = "; ".join(f"{where} ran {what}" for where, what in sorted(running.items()))
    return f"{INTERRUPTION_NOTE} (left pending: {left})" + (f"; {ran}" if ran else "")


def interrupted_apps(
    operations: Iterable[PendingOperation], clusters: Iterable[str], apps: Iterable[str], environment: str
) -> dict[str, list[str]]:
    """Which app on which clusters each pending operation belongs to (app -> clusters), from the names the
    components give their children (``<cluster>-<app>-<environment>[-...]``); others (providers, GitLab) are
    left out."""
    found: dict[str, set[str]] = {}
    names = [op.urn.rsplit("::", 1)[-1] for op in operations]
    for cluster in clusters:
        for app in apps:
            prefix = component_name(cluster, release_key(app, environment))
            if any(name == prefix or name.startswith(prefix + "-") for name in names):
                found.setdefault(app, set()).add(cluster)
    return {app: sorted(where) for app, where in sorted(found.items())}
