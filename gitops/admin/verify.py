"""A wave's checks after the engine's await: the app answers on its health path on each cluster of the wave,
then its smoke command (apps.yaml) passes against each, every step within its configured time.

The health path is asked through the cluster's ingress where its controller published an address (the
Ingress status), with the app's host name as Host header and TLS server name: what users reach. Without an
address it is asked from inside the cluster, through the API server's service proxy. One deadline bounds
every request: a peer that answers one byte a second cannot hold the release.

The smoke command comes from the deploy repo's catalog (admins own it). It runs from the deploy repo's root
with only what it needs in its environment (GITOPS_* and the basics, never a credential of the job), in a
process group of its own that is killed at its timeout.
"""

from __future__ import annotations

import functools
import http.client
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gitops.core.catalog import AppSpec, Smoke
from gitops.core.settings import Verify
from gitops.core.timebox import within

POLL_SECONDS = 2.0
REQUEST_TIMEOUT = 10.0
SMOKE_ENV_PASSED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")  # nothing else of the job's environment
SHOWN_OUTPUT = 2000  # characters of a smoke command's output shown in the job log


class VerifyError(Exception):
    """A wave's check failed; the message names the cluster and the check."""


class ClusterView(Protocol):
    """What the health check needs of one cluster (``gitops.admin.kubeapi.ClusterReader``)."""

    def ingress_address(self, namespace: str, name: str) -> str | None: ...

    def get(self, path: str, *, timeout: float = ...) -> tuple[int, bytes]: ...


@dataclass(frozen=True)
class Reached:
    """Where one cluster's copy of the app answered: its ingress (``url``) or the API server's proxy."""

    cluster: str
    url: str  # scheme://address:port of the cluster's ingress; empty when asked through the API server
    via: str


def check_health(
    views: Mapping[str, ClusterView],
    app: AppSpec,
    host: str,
    verify: Verify,
    *,
    tls: bool,
    on_output: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Reached]:
    """Ask each cluster until its health path answers 2xx; raise VerifyError naming the cluster and the last
    answer when ``verify.healthSeconds`` pass first."""
    scheme = verify.ingressScheme or ("https" if tls else "http")
    port = verify.ingressPort or (443 if scheme == "https" else 80)
    deadline = clock() + verify.healthSeconds
    reached = []
    for cluster in sorted(views):
        view, last = views[cluster], "no answer"
        while True:
            remaining = deadline - clock()
            if remaining <= 0:
                raise VerifyError(
                    f"health check: {app.health_path} of {app.name} on {cluster} did not answer 2xx within "
                    f"{verify.healthSeconds}s (last: {last}); the release stops here"
                )
            ask = functools.partial(_ask, view, app, host, scheme, port, remaining)
            answer = within(remaining, ask, None)
            if answer is None:
                last = f"no answer within {remaining:.0f}s"
            elif 200 <= answer[0] < 300:
                reached.append(Reached(cluster, answer[1], answer[2]))
                on_output(f"health check: {app.health_path} answers {answer[0]} on {cluster} ({answer[2]})\n")
                break
            else:
                last = f"HTTP {answer[0]} {answer[2]}" if answer[0] else answer[2]
            sleep(min(POLL_SECONDS, max(0.0, deadline - clock())))
    return reached


def _ask(view: ClusterView, app: AppSpec, host: str, scheme: str, port: int, remaining: float) -> tuple[int, str, str]:
    """(status, ingress url or "", how) of one GET of the health path; status 0 when nothing answered."""
    timeout = min(REQUEST_TIMEOUT, remaining)
    try:
        address = view.ingress_address(app.name, app.name)  # staging/prod: the namespace is named after the app
        if address is None:
            proxy = f"/api/v1/namespaces/{app.name}/services/http:{app.name}:http/proxy{app.health_path}"
            return view.get(proxy, timeout=timeout)[0], "", "through the API server's service proxy"
        url = f"{scheme}://{_bracketed(address)}:{port}"
        return _get(scheme, address, port, host, app.health_path, timeout), url, f"through the ingress at {url}"
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return 0, "", f"unreachable: {type(exc).__name__}: {exc}"[:200]


def _get(scheme: str, address: str, port: int, host: str, path: str, timeout: float) -> int:
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = _NamedTLSConnection(address, port, server_name=host, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host, "User-Agent": "gitops-verify"})
        return connection.getresponse().status
    finally:
        connection.close()


class _NamedTLSConnection(http.client.HTTPSConnection):
    """HTTPS to an ingress address, verifying the certificate of the app's host name (SNI), as a browser
    resolving the host to that address would."""

    def __init__(self, address: str, port: int, *, server_name: str, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_name = server_name

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self._server_name)  # type: ignore[attr-defined]


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def smoke_env(reached: Reached, app: str, stack: str, commit: str, host: str) -> dict[str, str]:
    """The smoke command's whole environment: what it tests, and no credential of the deploy job."""
    passed = {key: os.environ[key] for key in SMOKE_ENV_PASSED if key in os.environ}
    return {
        **passed,
        "GITOPS_APP": app,
        "GITOPS_STACK": stack,
        "GITOPS_CLUSTER": reached.cluster,
        "GITOPS_COMMIT": commit,
        "GITOPS_HOST": host,
        "GITOPS_URL": reached.url,  # empty where the health check went through the API server
    }


def run_smoke(smoke: Smoke, cluster: str, env: Mapping[str, str], cwd: Path, on_output: Callable[[str], None]) -> None:
    """Run the smoke command once; raise VerifyError naming the cluster unless it exits 0 in time."""
    shown = " ".join(smoke.command)[:120]
    on_output(f"smoke: {shown} against {cluster}\n")
    try:
        process = subprocess.Popen(
            smoke.command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole at the timeout
        )
    except OSError as exc:
        raise VerifyError(f"smoke command on {cluster} could not start: {exc.strerror or exc}") from None
    try:
        output, _ = process.communicate(timeout=smoke.timeout_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        _show(output, on_output)
        raise VerifyError(
            f"smoke command on {cluster} did not finish within {smoke.timeout_seconds}s; the release stops here"
        ) from None
    _show(output, on_output)
    if process.returncode != 0:
        raise VerifyError(
            f"smoke command on {cluster} exited {process.returncode}: {_last_line(output)}; the release stops here"
        )


def _show(output: bytes, on_output: Callable[[str], None]) -> None:
    text = output.decode("utf-8", "replace")
    if text.strip():
        on_output(("..." if len(text) > SHOWN_OUTPUT else "") + text[-SHOWN_OUTPUT:].rstrip() + "\n")


def _last_line(output: bytes) -> str:
    """The command's last line, as one printable line of bounded length (it ends up in chat)."""
    lines = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
    last = lines[-1] if lines else "(no output)"
    return "".join(c if c.isprintable() else "?" for c in last)[:160]
