"""A wave's bake: the app's pods on the wave's clusters are watched for restarts for ``bakeSeconds``.

Reads the Kubernetes API with the cluster's kubeconfig from the stack's secret config (client certificate
or bearer token, the cluster's CA); it only lists pods. A cluster that cannot be watched fails the bake:
a bake that cannot see is not a passed bake.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

POLL_SECONDS = 2.0
REQUEST_TIMEOUT = 10.0


class RestartSource(Protocol):
    def restarts(self, namespace: str, app: str) -> dict[str, int]: ...


class BakeError(Exception):
    """The bake failed: a restart was seen, or a cluster could not be watched. The message names it."""


class PodReader:
    """Lists one namespace's pods of one app on one cluster, from a kubeconfig (its current or named context)."""

    def __init__(self, kubeconfig_text: str, context: str | None = None) -> None:
        config = yaml.safe_load(kubeconfig_text) or {}
        name = context or config.get("current-context")
        ctx = _named(config.get("contexts"), name, "context")
        cluster = _named(config.get("clusters"), ctx.get("cluster"), "cluster")
        user = _named(config.get("users"), ctx.get("user"), "user") if ctx.get("user") else {}
        self.server = str(cluster.get("server", "")).rstrip("/")
        if not self.server.startswith("https://"):
            raise BakeError(f"kubeconfig context {name!r}: the server must be https://, not {self.server!r}")
        self._ssl = ssl.create_default_context()
        ca = cluster.get("certificate-authority-data")
        if ca:
            self._ssl.load_verify_locations(cadata=base64.b64decode(ca).decode("ascii"))
        self._headers = {"Accept": "application/json"}
        if user.get("token"):
            self._headers["Authorization"] = f"Bearer {user['token']}"
        if user.get("client-certificate-data") and user.get("client-key-data"):
            with tempfile.TemporaryDirectory() as tmp:  # ssl loads a client key from files only
                cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
                cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
                key.write_bytes(base64.b64decode(user["client-key-data"]))
                key.chmod(0o600)
                self._ssl.load_cert_chain(str(cert), str(key))

    def restarts(self, namespace: str, app: str) -> dict[str, int]:
        """Restart count per container of the app's pods (``pod/container`` -> count)."""
        selector = urllib.parse.quote(f"app.kubernetes.io/name={app}")
        url = f"{self.server}/api/v1/namespaces/{urllib.parse.quote(namespace)}/pods?labelSelector={selector}"
        request = urllib.request.Request(url, headers=self._headers)
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT, context=self._ssl) as response:
            pods = json.loads(response.read())
        counts = {}
        for pod in pods.get("items", []):
            pod_name = pod.get("metadata", {}).get("name", "?")
            for status in pod.get("status", {}).get("containerStatuses") or []:
                counts[f"{pod_name}/{status.get('name', '?')}"] = int(status.get("restartCount", 0))
        return counts


def _named(items: Any, name: Any, kind: str) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            return dict(item.get(kind) or {})
    raise BakeError(f"the kubeconfig has no {kind} named {name!r}")


def bake(
    readers: Mapping[str, RestartSource],
    app: str,
    seconds: float,
    *,
    on_output: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Watch the app's pods on each cluster for ``seconds``; raise BakeError at the first restart."""
    clusters: Sequence[str] = sorted(readers)
    start = {c: _read(readers[c], c, app) for c in clusters}
    on_output(f"baking {app} on {', '.join(clusters)} for {seconds:g}s (watching for restarts)\n")
    deadline = clock() + seconds
    while True:
        for cluster in clusters:
            for container, count in _read(readers[cluster], cluster, app).items():
                if count > start[cluster].get(container, 0):
                    raise BakeError(
                        f"{container} on {cluster} restarted during the bake ({count} restart(s)); "
                        "the release stops here"
                    )
        remaining = deadline - clock()
        if remaining <= 0:
            return
        sleep(min(POLL_SECONDS, remaining))


def _read(reader: RestartSource, cluster: str, app: str) -> dict[str, int]:
    try:
        return reader.restarts(app, app)  # staging/prod: the app's namespace is named after it
    except (OSError, ValueError) as exc:
        raise BakeError(f"cannot watch {app}'s pods on {cluster}: {exc}") from None
