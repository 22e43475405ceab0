"""One end-to-end test's world: real local clusters, the team backend (a PostgreSQL database and role per
environment; a file backend where a test needs one), the real Pulumi CLI and this repo's program, driven the
way CI and admins drive it (``ci/release.sh``, ``python -m gitops``, ``pulumi``). Each command gets the
backend URL and passphrase of its stack's environment only, as CI's environment-scoped variables give them.

Every assertion reads what the API servers and the backend hold (``KubeClient``, ``pulumi stack
export``/``stack history --json``), never what the program registered.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gitops.localcluster.cluster import LocalClusters
from gitops.localcluster.kube import KubeClient
from gitops.localcluster.postgres import LocalPostgres
from gitops.localcluster.project import LocalProject, create_local_project, postgres_backends, stack_clusters
from tests.gitutil import GIT_ENV, GitRepo

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 600  # one pulumi update; a hung one fails the test instead of the CI job
ROLLOUT_TIMEOUT = 30  # a release that never becomes ready fails after this many seconds


CONTROLLER_OWNED = ("resourceVersion", "generation")


def object_state(kind: str, item: Mapping[str, Any]) -> str:
    """The object without what controllers own: ``status``, ``resourceVersion``, the replica count an HPA
    sets through the scale subresource (and the generation it bumps), and the field managers of those
    subresources. Any write of ours (spec, labels, annotations, data; it moves our field manager's time) or a
    replacement (a new uid) changes it."""
    kept = {key: value for key, value in item.items() if key != "status"}
    metadata = {key: value for key, value in kept.get("metadata", {}).items() if key not in CONTROLLER_OWNED}
    metadata["managedFields"] = [
        entry
        for entry in item.get("metadata", {}).get("managedFields", [])
        if entry.get("subresource") not in ("status", "scale")
    ]
    kept["metadata"] = metadata
    if kind == "Deployment" and "spec" in kept:
        kept["spec"] = {key: value for key, value in kept["spec"].items() if key != "replicas"}
    return (
        f"uid={metadata.get('uid')} sha256="
        + hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]
    )


def bounded_run(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a command in a process group of its own; one that outlasts COMMAND_TIMEOUT is killed with its
    whole group (the CLI and its plugins too) and fails the test with the output it had written so far."""
    process = subprocess.Popen(
        list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"{' '.join(argv)} hung for {COMMAND_TIMEOUT}s\n--- stdout\n{stdout[-8000:]}\n--- stderr\n{stderr[-3000:]}"
        ) from None
    return subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)


def stack_of(argv: Sequence[str]) -> str | None:
    """The stack a command works on (``--stack X``, ``stack init|rm|select X``); the sweep works on the
    previews."""
    args = list(argv)
    if "--stack" in args[:-1]:
        return args[args.index("--stack") + 1]
    for verb in ("init", "rm", "select"):
        if "stack" in args and verb in args[args.index("stack") + 1 : args.index("stack") + 2]:
            named = [a for a in args[args.index(verb) + 1 :] if not a.startswith("-")]
            return named[0] if named else None
    return "preview" if "sweep" in args else None


def digest(n: int) -> str:
    """A distinct, valid image digest per build number."""
    return "sha256:" + f"{n:064x}"


class WorldFactory(Protocol):
    """The ``world_factory`` fixture: a world for ``stacks`` on the team backend, or on files."""

    def __call__(
        self, stacks: Sequence[str], *, backend: str = "postgres", catalog_text: str | None = None
    ) -> World: ...


@dataclass
class World:
    folder: Path
    clusters: LocalClusters
    project: LocalProject
    tools: Mapping[str, Path]
    repos: dict[str, GitRepo] = field(default_factory=dict)
    jobs: int = 0

    @property
    def workdir(self) -> Path:
        return self.project.workdir

    def env(self, extra: Mapping[str, str] | None = None, *, stack: str | None = None) -> dict[str, str]:
        """A job's environment: ``stack``'s backend and passphrase (else that of ``GITOPS_STACK`` in ``extra``);
        a command that names no stack gets no backend at all, and the CLI says so."""
        # nothing of the test runner's own settings: a job's image sets no PYTHONUNBUFFERED either, so its
        # output reaches the job log only as gitops writes it out (line by line, gitops.cli)
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PULUMI_", "CI_", "GITOPS_")) and k != "PYTHONUNBUFFERED"
        }
        stack = stack or (extra or {}).get("GITOPS_STACK")
        project = self.project.env_for(stack) if stack else self.project.env
        return {**base, **project, "GITOPS_NOTIFY_CONFIG": '{"gitlab_card": false}', **(extra or {})}

    def run(
        self,
        argv: Sequence[str],
        *,
        extra: Mapping[str, str] | None = None,
        check: bool = True,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        done = bounded_run(list(argv), cwd=cwd or self.workdir, env=self.env(extra, stack=stack_of(argv)))
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {done.returncode}\n--- stdout\n{done.stdout[-6000:]}\n"
                f"--- stderr\n{done.stderr[-4000:]}"
            )
        return done

    def gitops(
        self, *args: str, extra: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            [str(self.workdir / ".venv" / "bin" / "python"), "-m", "gitops", *args], extra=extra, check=check
        )

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.tools["pulumi"]), *args, "--non-interactive"], check=check)

    def release_env(
        self, stack: str, app: str, commit: str, *, image_digest: str, branch: str | None = None
    ) -> dict[str, str]:
        """The variables the staging/prod deploy job of ci/pipeline.yml gives ``ci/release.sh`` (a fresh clone each)."""
        clone = self.ci_clone(app, commit)
        return self.env(
            {
                **GIT_ENV,
                "GITOPS_HOME": str(self.workdir),
                "GITOPS_STACK": stack,
                "GITOPS_APP": app,
                "CI_COMMIT_REF_NAME": branch or {"staging": "latest", "prod": "master"}.get(stack, ""),
                "CI_COMMIT_SHA": commit,
                "CI_PROJECT_DIR": str(clone),
                "IMAGE_DIGEST": image_digest,
                "CI_PIPELINE_URL": f"https://gitlab.example.com/shop/{app}/-/pipelines/1",
                "GITLAB_USER_LOGIN": "alice",
            }
        )

    def release_argv(self, stack: str, app: str, commit: str, *, image_digest: str) -> list[str]:
        return ["bash", str(self.workdir / "ci" / "release.sh"), "deploy"]

    def ci_release(
        self,
        stack: str,
        app: str,
        commit: str,
        *,
        image_digest: str,
        branch: str | None = None,
        check: bool = True,
        runner: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``ci/release.sh deploy`` exactly as the staging/prod job of ci/pipeline.yml runs it (on ``runner``:
        ``World.runner``)."""
        env = {**self.release_env(stack, app, commit, image_digest=image_digest, branch=branch), **(runner or {})}
        script = Path(env["GITOPS_HOME"]) / "ci" / "release.sh"
        done = bounded_run(["bash", str(script), "deploy"], cwd=Path(env["CI_PROJECT_DIR"]), env=env)
        if check and done.returncode != 0:
            raise AssertionError(f"release.sh exited {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}")
        return done

    def runner(self, n: int) -> dict[str, str]:
        """A CI runner of its own: a copy of the engine image's folder and its own Pulumi home (the plugins
        installed), sharing nothing with other runners but the backend. Returns what its jobs override."""
        home = self.folder / f"runner-{n}"
        engine = home / "gitops"
        if not engine.exists():
            shutil.copytree(self.workdir, engine, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copytree(
                self.folder / "pulumi-home", home / "pulumi-home", ignore=shutil.ignore_patterns("workspaces")
            )
        return {"GITOPS_HOME": str(engine), "PULUMI_HOME": str(home / "pulumi-home")}

    def ci_clone(self, app: str, commit: str) -> Path:
        """A fresh CI-style clone (detached at ``commit``, only origin/* branches), one per job as in CI."""
        self.jobs += 1
        clone = self.folder / "ci" / f"job-{self.jobs}-{app}"
        clone.parent.mkdir(exist_ok=True)
        return self.repos[app].ci_clone(clone, commit)

    # --- what the backend holds ------------------------------------------------------------------
    def history(self, stack: str) -> list[dict[str, Any]]:
        """``pulumi stack history --json``, oldest first."""
        out = self.pulumi("stack", "history", "--stack", stack, "--json", "--show-secrets=false").stdout
        return list(reversed(json.loads(out)))

    def export(self, stack: str, *, show_secrets: bool = False) -> dict[str, Any]:
        """``pulumi stack export``; secrets are ciphertext with a fresh nonce at every checkpoint write unless
        ``show_secrets``."""
        flags = ["--show-secrets"] if show_secrets else []
        result: dict[str, Any] = json.loads(self.pulumi("stack", "export", "--stack", stack, *flags).stdout)
        return result

    def outputs(self, stack: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.pulumi("stack", "output", "--stack", stack, "--json").stdout)
        return result

    # --- what the clusters hold ------------------------------------------------------------------
    def kube(self, cluster: str) -> KubeClient:
        return self.clusters.client(cluster)

    def deployment(self, cluster: str, namespace: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.kube(cluster).get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        return found

    def object_states(self, cluster: str, namespace: str) -> dict[str, str]:
        """Every object of the kinds the program declares in ``namespace``: kind/name -> what a write other
        than a status update changes (``object_state``). A controller updating a Deployment's status moves its
        resourceVersion at any time on a busy machine; it is not a write by us and must not fail a test."""
        client = self.kube(cluster)
        found = {}
        for kind, path in (
            ("Deployment", f"/apis/apps/v1/namespaces/{namespace}/deployments"),
            ("Service", f"/api/v1/namespaces/{namespace}/services"),
            ("Secret", f"/api/v1/namespaces/{namespace}/secrets"),
            ("Ingress", f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"),
            ("Job", f"/apis/batch/v1/namespaces/{namespace}/jobs"),
            ("ServiceAccount", f"/api/v1/namespaces/{namespace}/serviceaccounts"),
        ):
            for item in client.get(path)["items"]:
                found[f"{kind}/{item['metadata']['name']}"] = object_state(kind, item)
        namespace_object = client.find(f"/api/v1/namespaces/{namespace}")
        if namespace_object is not None:
            found[f"Namespace/{namespace}"] = object_state("Namespace", namespace_object)
        return found

    def settled_states(
        self, cluster: str, namespace: str, *, quiet_seconds: float = 3, timeout: float = 60
    ) -> dict[str, str]:
        """``object_states`` once the controllers are done with a fresh rollout (an HPA scaling the
        Deployment to its minimum): the same for ``quiet_seconds`` in a row."""
        deadline = time.monotonic() + timeout
        last, since = self.object_states(cluster, namespace), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.object_states(cluster, namespace)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                return now
        raise AssertionError(f"the objects in {cluster}/{namespace} kept changing for {timeout:.0f}s")

    def dashboard(self, out: Path, *args: str, extra: Mapping[str, str] | None = None) -> Path:
        """`gitops dashboard` as the pages job runs it, reading every environment of this world; the page."""
        urls = {f"GITOPS_STATE_URL_{env.upper()}": values["PULUMI_BACKEND_URL"]
                for env, values in self.project.environments.items()}  # fmt: skip
        self.gitops("dashboard", "--out", str(out), *args, extra={**urls, **(extra or {})})
        return out / "index.html"

    def app_repo(self, app: str) -> GitRepo:
        """master <- latest, as the app project has them."""
        repo = GitRepo(self.folder / "src" / app)
        repo.checkout("latest", create_from="master")
        repo.checkout("master")
        self.repos[app] = repo
        return repo


def start_world(
    folder: Path,
    tools: Mapping[str, Path],
    stacks: Sequence[str],
    *,
    catalog_text: str | None = None,
    postgres: LocalPostgres | None = None,
) -> World:
    """Clusters for ``stacks`` and a project on them; with ``postgres``, each environment in a database of
    its own on that server (named after the world's folder), else in a file backend in the folder."""
    clusters = LocalClusters.start(folder / "clusters", stack_clusters(ROOT, stacks), tools)
    try:
        backends = postgres_backends(postgres, database_prefix(folder)) if postgres is not None else None
        project = create_local_project(
            ROOT,
            folder,
            clusters,
            tools["pulumi"].parent,
            stacks,
            rollout_timeout=ROLLOUT_TIMEOUT,
            catalog_text=catalog_text,
            backends=backends,
        )
    except BaseException:
        clusters.stop()
        raise
    return World(folder, clusters, project, tools)


def catalog_of(apps: Sequence[str]) -> str:
    """A catalog of small apps (one replica, no secrets)."""
    lines = ["apps:"]
    for app in apps:
        lines += [
            f"  {app}:",
            f"    gitlab_project: shop/{app}",
            f"    image: registry.example.com/shop/{app}",
            "    port: 8080",
            "    health_path: /healthz",
            "    replicas: 1",
        ]
    return "\n".join(lines) + "\n"


def database_prefix(folder: Path) -> str:
    """A name no other world on the server has: the test's folder is unique within a run, the digest keeps it
    short and within PostgreSQL's identifier rules."""
    return "w" + hashlib.sha256(str(folder).encode()).hexdigest()[:10]
