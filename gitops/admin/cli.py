"""The Pulumi CLI as gitops runs it: it dies with the gitops process, and a polite SIGTERM cancels it.

GitLab cancels a job (or ends it at its timeout) with SIGTERM and, after a grace period, SIGKILL. The
CLI cancels an update on its first SIGTERM (pulumi/pulumi ``pkg/backend/cancellation_scope.go``: in-flight
steps finish, the checkpoint is written, the lock released) and terminates on the second. ``forwarding_sigterm``
passes a SIGTERM the gitops process receives on to the CLI it runs and records it, so the release can say it
was cancelled and put the last good release back. ``GuardedCommand`` starts the CLI through
``pulumi-guard``, so a gitops process killed outright takes its CLI with it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from pulumi import automation as auto

from gitops.admin.backend_store import backend_url
from gitops.admin.locks import child_pids

GUARD = Path(__file__).with_name("pulumi-guard")
DIY_PARALLEL = "PULUMI_DIY_BACKEND_PARALLEL"


class GuardedCommand(auto.PulumiCommand):
    """``inner``'s CLI, started through ``pulumi-guard`` where ``setpriv`` exists (Linux, util-linux)."""

    def __init__(self, inner: auto.PulumiCommand) -> None:  # no super().__init__: it would run `pulumi version`
        self.inner = inner
        self.command = inner.command
        self.version = inner.version
        real = inner.command if os.path.isabs(inner.command) else shutil.which(inner.command)
        self.real = real or inner.command
        self.guarded: auto.PulumiCommand | None = None
        if shutil.which("setpriv") and shutil.which("setsid") and os.access(GUARD, os.X_OK):
            self.guarded = copy.copy(inner)
            self.guarded.command = str(GUARD)

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Any = None,
        on_error: Any = None,
    ) -> auto.CommandResult:
        if not os.environ.get("GITOPS_TRACE_CLI"):
            return self._run(args, cwd, additional_env, on_output, on_error)
        started = time.perf_counter()
        try:
            return self._run(args, cwd, additional_env, on_output, on_error)
        finally:  # what each CLI call of a command costs (benchmarks/, or an admin asking why a job is slow)
            words = " ".join(a for a in args if not a.startswith("-"))[:60]
            print(f"[cli] pulumi {words}: {time.perf_counter() - started:.2f}s", file=sys.stderr, flush=True)

    def _run(
        self, args: list[str], cwd: str, additional_env: Mapping[str, str], on_output: Any, on_error: Any
    ) -> auto.CommandResult:
        additional_env = {**additional_env, **postgres_safe_parallelism({**os.environ, **additional_env})}
        if self.guarded is None:
            return self.inner.run(args, cwd, additional_env, on_output, on_error)
        path = additional_env.get("PATH") or os.environ.get("PATH", "")
        env = {
            **additional_env,
            "GITOPS_PULUMI_CLI": self.real,
            # the CLI's own folder first, as the Automation API puts it (bundled plugins live beside it)
            "PATH": os.pathsep.join([os.path.dirname(self.real), path]) if os.path.isabs(self.real) else path,
        }
        try:
            return self.guarded.run(args, cwd, env, on_output, on_error)
        except auto.CommandError as exc:
            said = str(exc).split("stdout:", 1)[-1].replace("stderr:", "").strip()
            if said:
                raise
            words = " ".join(a for a in args if not a.startswith("-"))[:120]
            raise auto.errors.create_command_error(
                auto.CommandResult("", f"error: `pulumi {words}` exited with no output ({str(exc).strip()[:200]})", 1)
            ) from None


def postgres_safe_parallelism(environ: Mapping[str, str]) -> dict[str, str]:
    """On a PostgreSQL backend, the CLI's parallel stack reads one at a time, unless set otherwise.

    The backend's listing (pkg/backend/diy/postgres/bucket.go, ``ListPaged``) queries each row's metadata while
    it still holds the listing's connection, and the pool has 2 x GOMAXPROCS connections; ``stack ls`` (and
    anything that loads every stack) runs 10 such listings at once (``PULUMI_DIY_BACKEND_PARALLEL``, default 10).
    With more stacks than half the pool, every connection waits for a second one: the CLI hangs for good (seen
    here with 30 preview stacks on 2 cores). One at a time cannot starve the pool."""
    url = backend_url(environ) or ""
    if url.startswith(("postgres://", "postgresql://")) and not environ.get(DIY_PARALLEL):
        return {DIY_PARALLEL: "1"}
    return {}


@dataclass(frozen=True)
class CliProbe:
    """Started before the command's module is imported, so both overlap the rest of its start: the CLI found
    and its version checked (``auto.PulumiCommand`` runs `pulumi version`), and for a release, the stack's
    config read with its secrets (`pulumi config --json --show-secrets`: ~0.4 s, most of it the passphrase's
    key derivation) for the preflight's kubeconfigs. ``Future.result`` raises what the work raised."""

    command: Future[auto.PulumiCommand]
    config: Future[dict[str, str]] | None = None


def probe_cli(root: Path, config_of: str | None = None) -> CliProbe:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pulumi-probe")
    command = pool.submit(auto.PulumiCommand)
    config = pool.submit(_config_values, command, root, config_of) if config_of else None
    pool.shutdown(wait=False)
    return CliProbe(command, config)


def _config_values(command: Future[auto.PulumiCommand], root: Path, stack: str) -> dict[str, str]:
    """What ``LocalWorkspace.get_all_config`` reads (the same CLI call), as key -> value."""
    done = GuardedCommand(command.result()).run(["config", "--show-secrets", "--json", "--stack", stack], str(root), {})
    values = json.loads(done.stdout)
    return {str(k): str(v.get("value", "")) for k, v in values.items() if isinstance(v, dict)}


class JobCancelled(Exception):  # noqa: N818 (an event, not an error of ours)
    """SIGTERM arrived while no Pulumi CLI ran: nothing to cancel cleanly, so the command stops where it is."""


@dataclass
class Cancellation:
    """Signals received while an update ran (SIGTERM: a cancelled job)."""

    received: int = 0

    @property
    def cancelled(self) -> bool:
        return self.received > 0


@contextlib.contextmanager
def forwarding_sigterm() -> Iterator[Cancellation]:
    """While the body runs, a SIGTERM is passed on to the CLI processes this process started (the first
    cancels their update, a second terminates them) and recorded; the body decides what to do next."""
    state = Cancellation()

    def handler(signum: int, frame: FrameType | None) -> None:
        state.received += 1
        children = child_pids(os.getpid())
        if not children:
            raise JobCancelled()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        what = "cancelling the running update" if state.received == 1 else "terminating the running update"
        print(f"SIGTERM received: {what} ({len(children)} Pulumi process(es) told)", flush=True)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: nothing to install
        yield state
        return
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)
