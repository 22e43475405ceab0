"""Read-only access to one cluster's Kubernetes API, from the kubeconfig in the stack's secret config.

The release command reads what the engine cannot tell it: the app's pods (the bake), its Ingress address
and its Service through the API server (the health check of a wave). Client certificate or bearer token,
the cluster's CA; GET only.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REQUEST_TIMEOUT = 10.0


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used to reach the cluster; the message says why."""


class ClusterReader:
    """GETs against one cluster's API server, from a kubeconfig (its current or named context)."""

    def __init__(self, kubeconfig_text: str, context: str | None = None) -> None:
        config = yaml.safe_load(kubeconfig_text) or {}
        name = context or config.get("current-context")
        ctx = _named(config.get("contexts"), name, "context")
        cluster = _named(config.get("clusters"), ctx.get("cluster"), "cluster")
        user = _named(config.get("users"), ctx.get("user"), "user") if ctx.get("user") else {}
        self.server = str(cluster.get("server", "")).rstrip("/")
        if not self.server.startswith("https://"):
            raise KubeconfigError(f"kubeconfig context {name!r}: the server must be https://, not {self.server!r}")
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

    def get(self, path: str, *, timeout: float = REQUEST_TIMEOUT) -> tuple[int, bytes]:
        """(HTTP status, body) of a GET of ``path`` (already quoted); an error status is returned, not raised."""
        request = urllib.request.Request(self.server + path, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._ssl) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get_json(self, path: str) -> dict[str, Any]:
        status, body = self.get(path)
        if status != 200:
            raise OSError(f"GET {path}: HTTP {status}")
        found: dict[str, Any] = json.loads(body)
        return found

    def unreachable(self, timeout: float) -> str | None:
        """Why the API server does not serve (None when it answers ``/readyz`` with 200) within ``timeout``."""
        try:
            status, body = self.get("/readyz", timeout=timeout)
        except (OSError, ssl.SSLError) as exc:  # refused, timed out, a certificate it does not accept ...
            return f"{self.server}: {getattr(exc, 'reason', None) or exc}"
        return None if status == 200 else f"{self.server}/readyz: HTTP {status} {body[:120]!r}"

    def running_commit(self, namespace: str, app: str) -> str:
        """The commit the app's Deployment runs (its version label), "none" when there is no Deployment."""
        status, body = self.get(
            f"/apis/apps/v1/namespaces/{urllib.parse.quote(namespace)}/deployments/{urllib.parse.quote(app)}"
        )
        if status == 404:
            return "none"
        if status != 200:
            raise OSError(f"reading Deployment {namespace}/{app}: HTTP {status}")
        labels = json.loads(body).get("metadata", {}).get("labels") or {}
        return str(labels.get("app.kubernetes.io/version", "unlabelled"))

    def restarts(self, namespace: str, app: str) -> dict[str, int]:
        """Restart count per container of the app's pods (``pod/container`` -> count)."""
        selector = urllib.parse.quote(f"app.kubernetes.io/name={app}")
        pods = self.get_json(f"/api/v1/namespaces/{urllib.parse.quote(namespace)}/pods?labelSelector={selector}")
        counts = {}
        for pod in pods.get("items", []):
            pod_name = pod.get("metadata", {}).get("name", "?")
            for status in pod.get("status", {}).get("containerStatuses") or []:
                counts[f"{pod_name}/{status.get('name', '?')}"] = int(status.get("restartCount", 0))
        return counts

    def ingress_address(self, namespace: str, name: str) -> str | None:
        """The address the cluster's ingress controller published for the Ingress (ip or hostname), if any."""
        status, body = self.get(
            f"/apis/networking.k8s.io/v1/namespaces/{urllib.parse.quote(namespace)}/ingresses/{urllib.parse.quote(name)}"
        )
        if status == 404:
            return None
        if status != 200:
            raise OSError(f"reading Ingress {namespace}/{name}: HTTP {status}")
        for entry in json.loads(body).get("status", {}).get("loadBalancer", {}).get("ingress") or []:
            address = entry.get("ip") or entry.get("hostname")
            if address:
                return str(address)
        return None


def _named(items: Any, name: Any, kind: str) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            return dict(item.get(kind) or {})
    raise KubeconfigError(f"the kubeconfig has no {kind} named {name!r}")
