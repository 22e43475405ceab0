"""Start and stop local clusters: one etcd, and per cluster an API server, a controller manager, a
scheduler and kwok (the kubelet of one fake node), all on 127.0.0.1 with ports the kernel picks.

What runs is recorded in ``<folder>/clusters.json``, so another process (``./dev cluster down``) can
stop it; every wait is bounded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from gitops.localcluster.kube import KubeClient, KubeError
from gitops.localcluster.pki import Pki, create_pki

# An image pinned to this digest is the simulator's broken build: its Deployment pods never become
# ready and its Job pods fail (see _stages). Every other image starts and is ready at once.
BROKEN_DIGEST = "sha256:" + "bad0" * 16
STATE_FILE = "clusters.json"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 3.0  # throw-away clusters: no graceful shutdown needed
CLIENTS = {
    "admin": "/O=system:masters/CN=gitops-admin",
    "controller-manager": "/O=system:masters/CN=system:kube-controller-manager",
    "scheduler": "/CN=system:kube-scheduler",
}


class ClusterError(RuntimeError):
    """A local cluster did not start; the message names the process and its log."""


@dataclass(frozen=True)
class LocalCluster:
    name: str
    context: str
    server: str
    kubeconfig: Path

    def client(self, pki: Pki) -> KubeClient:
        return KubeClient(self.server, pki.ca, pki.cert("admin"), pki.key("admin"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, ready: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except (OSError, KubeError, ValueError):
            pass
        time.sleep(0.5)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise ClusterError(f"{what} was not ready after {timeout:.0f}s (log: {log}){tail}")


def kubeconfig_text(cluster: LocalCluster, pki: Pki, user: str = "admin") -> str:
    """A kubeconfig whose one context is the cluster's ``context`` setting (what the stack's provider selects)."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster.name, "cluster": {"server": cluster.server, "certificate-authority-data": b64(pki.ca)}}
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(pki.cert(user)),
                        "client-key-data": b64(pki.key(user)),
                    },
                }
            ],
            "contexts": [{"name": cluster.context, "context": {"cluster": cluster.name, "user": user}}],
            "current-context": cluster.context,
        },
        sort_keys=False,
    )


def _broken(expression: str) -> dict[str, Any]:
    """A kwok selector term: does the first container's image carry the broken digest?"""
    return {"key": f'{expression} | contains("{BROKEN_DIGEST}")', "operator": "In", "values": ["true"]}


def _not_broken(expression: str) -> dict[str, Any]:
    return {**_broken(expression), "operator": "NotIn"}


def _stages(stage_dir: Path) -> list[dict[str, Any]]:
    """kwok's own fast stages (copied from its module by the build), with pods of the broken build kept
    from becoming ready; their Job pods fail instead. Ingresses get a load-balancer address, as an
    ingress controller would publish it."""
    image = ".spec.containers.[0].image"
    stages = []
    for path in sorted(stage_dir.glob("*.yaml")):
        for stage in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if stage and stage["spec"]["resourceRef"]["kind"] == "Pod" and stage["metadata"]["name"] == "pod-ready":
                stage["spec"]["selector"]["matchExpressions"].append(_not_broken(image))
            if stage:
                stages.append(stage)
    stages.append(
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "Stage",
            "metadata": {"name": "gitops-broken-job-pod-fails"},
            "spec": {
                "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                "selector": {
                    "matchExpressions": [
                        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                        {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
                        {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]},
                        _broken(image),
                    ]
                },
                "next": {
                    "statusTemplate": (
                        "phase: Failed\n"
                        "containerStatuses:\n"
                        "{{ range .spec.containers }}\n"
                        "- name: {{ .name | Quote }}\n  image: {{ .image | Quote }}\n  ready: false\n"
                        "  restartCount: 0\n  state:\n    terminated:\n      exitCode: 1\n      reason: Error\n"
                        "{{ end }}\n"
                    )
                },
            },
        }
    )
    stages.append(
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "Stage",
            "metadata": {"name": "gitops-ingress-address"},
            "spec": {
                "resourceRef": {"apiGroup": "networking.k8s.io/v1", "kind": "Ingress"},
                "selector": {
                    "matchExpressions": [
                        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                        {"key": ".status.loadBalancer.ingress", "operator": "DoesNotExist"},
                    ]
                },
                "next": {"statusTemplate": "loadBalancer:\n  ingress:\n  - ip: 127.0.0.1\n"},
            },
        }
    )
    return stages


FAKE_NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "kwok-node-0",
        "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        "labels": {"type": "kwok", "kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux"},
    },
    "status": {
        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "250"},
        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "250"},
    },
}


class LocalClusters:
    """The clusters of one folder. ``start`` builds them; ``attach`` finds running ones; ``stop`` ends them."""

    def __init__(self, folder: Path, clusters: Mapping[str, LocalCluster], pids: list[int]) -> None:
        self.folder = folder
        self.clusters = dict(clusters)
        self.pids = pids
        self.pki = Pki(folder / "pki")
        self.started: dict[str, tuple[int, list[str]]] = {}  # process name -> (pid, argv), for the fault tests

    # --- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def start(cls, folder: Path, clusters: Sequence[tuple[str, str]], tools: Mapping[str, Path]) -> LocalClusters:
        """``clusters``: (name, kubeconfig context) pairs. Stops what it started if anything fails."""
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / STATE_FILE).exists():
            raise ClusterError(f"{folder} already holds running clusters: stop them first (./dev cluster down)")
        pki = create_pki(folder / "pki", CLIENTS)
        logs = folder / "logs"
        logs.mkdir(exist_ok=True)
        running = cls(folder, {}, [])
        try:
            running._boot(clusters, tools, pki, logs)
        except BaseException:
            running.stop()
            raise
        return running

    def _spawn(self, name: str, argv: list[str], logs: Path) -> Path:
        log = logs / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.pids.append(process.pid)
        self.started[name] = (process.pid, argv)
        self._save()
        return log

    # --- faults (the end-to-end tests stop and restart single processes) ---------------------------
    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Stop one process (``<cluster>-apiserver``, ``etcd``, ...) and wait until it is gone."""
        pid, _ = self.started[name]
        _signal(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            _signal(pid, signal.SIGKILL)

    def restart(self, name: str) -> None:
        """Start a stopped process again with the same arguments (same port, same data). An API server is
        waited for until its cluster works again: it serves, and its controllers, scheduler and kwok have
        re-established their watches. client-go backs off up to 30 s between reconnects, so after an outage
        they come back well after the server does; a release in between meets a cluster that does not act
        yet (its rollout then fails at the deadline, as it would on a real cluster)."""
        _, argv = self.started[name]
        log = self._spawn(name, argv, self.folder / "logs")
        cluster = name.removesuffix("-apiserver")
        if name.endswith("-apiserver") and cluster in self.clusters:
            client = self.client(cluster)
            _wait(f"{cluster} API server", _api_ready(client), START_TIMEOUT, log)
            _probe_rollout(client, self.folder / "logs" / f"{cluster}-controller-manager.log")
        if name == "etcd":  # every API server is ready again once it reaches its storage
            for each in self.clusters:
                _wait(f"{each} API server after etcd", _api_ready(self.client(each)), START_TIMEOUT, log)

    def _boot(self, clusters: Sequence[tuple[str, str]], tools: Mapping[str, Path], pki: Pki, logs: Path) -> None:
        etcd_port, peer_port = free_port(), free_port()
        etcd = f"http://127.0.0.1:{etcd_port}"
        etcd_log = self._spawn(
            "etcd",
            [
                str(tools["etcd"]),
                "--name=local",
                f"--data-dir={self.folder / 'etcd'}",
                f"--listen-client-urls={etcd}",
                f"--advertise-client-urls={etcd}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=local=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            logs,
        )
        _wait("etcd", lambda: bool(urllib.request.urlopen(f"{etcd}/health", timeout=2).status == 200), START_TIMEOUT,
              etcd_log)  # fmt: skip

        apiservers: dict[str, Path] = {}
        for name, context in clusters:
            port = free_port()
            apiservers[name] = self._spawn(
                f"{name}-apiserver",
                [
                    str(tools["kube-apiserver"]),
                    f"--etcd-servers={etcd}",
                    f"--etcd-prefix=/registry-{name}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={port}",
                    "--advertise-address=127.0.0.1",
                    "--endpoint-reconciler-type=none",
                    f"--cert-dir={self.folder / name}",
                    f"--tls-cert-file={pki.cert('serving')}",
                    f"--tls-private-key-file={pki.key('serving')}",
                    f"--client-ca-file={pki.ca}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={self.folder / 'pki' / 'service-account.pub'}",
                    f"--service-account-signing-key-file={self.folder / 'pki' / 'service-account.key'}",
                    "--service-cluster-ip-range=10.96.0.0/16",
                    "--authorization-mode=Node,RBAC",
                    "--enable-admission-plugins=NodeRestriction,PodSecurity",
                    "--enable-priority-and-fairness=false",
                    "--profiling=false",
                ],
                logs,
            )
            cluster = LocalCluster(name, context, f"https://127.0.0.1:{port}", self.folder / f"{name}.kubeconfig")
            self.clusters[name] = cluster
            self._save()
        for name, cluster in self.clusters.items():
            _wait(f"{name} API server", _api_ready(cluster.client(pki)), START_TIMEOUT, apiservers[name])
            self._write_kubeconfigs(cluster, pki)

        stage_file = self.folder / "kwok-stages.yaml"
        stage_file.write_text(
            yaml.safe_dump_all(_stages(tools["kwok"].parent / "kwok-stages"), sort_keys=False), encoding="utf-8"
        )
        for name, cluster in self.clusters.items():
            kcm = self.folder / f"{name}-controller-manager.kubeconfig"
            scheduler = self.folder / f"{name}-scheduler.kubeconfig"
            self._spawn(
                f"{name}-controller-manager",
                [
                    str(tools["kube-controller-manager"]),
                    f"--kubeconfig={kcm}",
                    "--secure-port=0",
                    "--leader-elect=false",
                    f"--service-account-private-key-file={self.folder / 'pki' / 'service-account.key'}",
                    f"--root-ca-file={pki.ca}",
                    "--use-service-account-credentials=false",
                    "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
                ],
                logs,
            )
            self._spawn(
                f"{name}-scheduler",
                [str(tools["kube-scheduler"]), f"--kubeconfig={scheduler}", "--secure-port=0", "--leader-elect=false"],
                logs,
            )
            self._spawn(
                f"{name}-kwok",
                [
                    str(tools["kwok"]),
                    f"--kubeconfig={cluster.kubeconfig}",
                    "--manage-all-nodes=true",
                    f"--config={stage_file}",
                    f"--server-address=127.0.0.1:{free_port()}",
                    "--node-lease-duration-seconds=40",
                ],
                logs,
            )
        for name, cluster in self.clusters.items():
            client = cluster.client(pki)
            client.create("/api/v1/nodes", FAKE_NODE)
            _wait(f"{name} node", partial(_node_ready, client), START_TIMEOUT, logs / f"{name}-kwok.log")
            _wait(
                f"{name} controller manager",
                partial(_default_service_account, client),
                START_TIMEOUT,
                logs / f"{name}-controller-manager.log",
            )

    def _write_kubeconfigs(self, cluster: LocalCluster, pki: Pki) -> None:
        for user, path in (
            ("admin", cluster.kubeconfig),
            ("controller-manager", self.folder / f"{cluster.name}-controller-manager.kubeconfig"),
            ("scheduler", self.folder / f"{cluster.name}-scheduler.kubeconfig"),
        ):
            path.write_text(kubeconfig_text(cluster, pki, user), encoding="utf-8")
            path.chmod(0o600)

    def _save(self) -> None:
        data = {
            "pids": self.pids,
            "clusters": {
                n: {"context": c.context, "server": c.server, "kubeconfig": str(c.kubeconfig)}
                for n, c in self.clusters.items()
            },
        }
        (self.folder / STATE_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")

    @classmethod
    def attach(cls, folder: Path) -> LocalClusters:
        data = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        clusters = {
            n: LocalCluster(n, c["context"], c["server"], Path(c["kubeconfig"])) for n, c in data["clusters"].items()
        }
        return cls(folder, clusters, list(data["pids"]))

    def stop(self) -> None:
        """SIGTERM every process (newest first), SIGKILL what is left after a bounded wait."""
        for pid in reversed(self.pids):
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and any(_alive(pid) for pid in self.pids):
            time.sleep(0.2)
        for pid in self.pids:
            _signal(pid, signal.SIGKILL)
        for pid in self.pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap our own children
        (self.folder / STATE_FILE).unlink(missing_ok=True)
        self.pids = []

    def client(self, name: str) -> KubeClient:
        return self.clusters[name].client(self.pki)


def _api_ready(client: KubeClient) -> Callable[[], bool]:
    return lambda: bool(client.get("/readyz") == "ok")


def _default_service_account(client: KubeClient) -> bool:
    """The controller manager works once it has created the default namespace's service account."""
    return client.find("/api/v1/namespaces/default/serviceaccounts/default") is not None


PROBE = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "gitops-probe", "namespace": "default"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "gitops-probe"}},
        "template": {
            "metadata": {"labels": {"app": "gitops-probe"}},
            "spec": {"containers": [{"name": "probe", "image": "registry.example.com/probe@" + "sha256:" + "0" * 64}]},
        },
    },
}


def _probe_rollout(client: KubeClient, log: Path) -> None:
    """A throw-away Deployment rolled out to a ready pod: the deployment and replica-set controllers, the
    scheduler and kwok all act again."""
    path = "/apis/apps/v1/namespaces/default/deployments"
    client.create(path, PROBE)

    def available() -> bool:
        status = client.get(f"{path}/gitops-probe").get("status", {})
        return bool(status.get("availableReplicas") == 1)

    _wait("the controllers after a restart (a probe Deployment)", available, START_TIMEOUT, log)
    client.delete(f"{path}/gitops-probe")


def _node_ready(client: KubeClient) -> bool:
    node = client.get("/api/v1/nodes/kwok-node-0")
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # each process leads its own session: its children go too


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            return False
    except ChildProcessError:
        pass  # not our child (another process started it): ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
