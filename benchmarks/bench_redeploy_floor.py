"""Benchmark (real engine, local clusters): a release against a floor that applies the same objects.

Run by hand: ``.venv/bin/python benchmarks/bench_redeploy_floor.py [--repeat 3]``.

The floor is a bare Pulumi program (``pulumi_kubernetes.yaml.v2.ConfigGroup`` with one explicit provider)
run by the same CLI, provider, file backend and cluster. It applies exactly the objects the program put in
the app's namespace (read back from the API server, moved to a namespace of its own); its redeploy changes
only what a new commit has to change: the Deployment's image digest, version label and commit annotations.
Each round, interleaved:

- **first deploy**: ``gitops release --stack preview`` of a new branch / the floor's first ``pulumi up``;
- **preview redeploy**: the same branch at a new commit / the floor's redeploy;
- **staging release**: ``ci/release.sh deploy`` of web at a new commit / the staging floor's redeploy;
- **two together**: releases of web and api into staging started at once / web's release alone.

The last line is ``redeploy vs floor: preview X, staging Y, first deploy Z; two together / one = W``
(ratios of medians).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops.core.naming import preview_id  # noqa: E402
from gitops.localcluster.tools import build_tools  # noqa: E402
from tests.e2e.world import World, digest, start_world  # noqa: E402

FLOOR_PROGRAM = """import json, os
import pulumi
import pulumi_kubernetes as k8s
provider = k8s.Provider("floor", kubeconfig=open(os.environ["FLOOR_KUBECONFIG"]).read())
objects = json.loads(open(os.environ["FLOOR_OBJECTS"]).read())
k8s.yaml.v2.ConfigGroup("objects", objs=objects, opts=pulumi.ResourceOptions(provider=provider))
"""
KINDS = (
    "/api/v1/namespaces/{ns}/secrets",
    "/api/v1/namespaces/{ns}/serviceaccounts",
    "/api/v1/namespaces/{ns}/services",
    "/api/v1/namespaces/{ns}/resourcequotas",
    "/api/v1/namespaces/{ns}/limitranges",
    "/apis/apps/v1/namespaces/{ns}/deployments",
    "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
    "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
    "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
)
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "finalizers")
ALLOCATED = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy", "sessionAffinity")


def declared(item: dict[str, Any], kind: str, api_version: str, namespace: str) -> dict[str, Any]:
    """A live object as a manifest again: no server-set fields, in the floor's namespace."""
    meta = {k: v for k, v in item["metadata"].items() if k not in SERVER_FIELDS}
    meta["annotations"] = {
        k: v for k, v in meta.get("annotations", {}).items() if not k.startswith("deployment.kubernetes.io/")
    }
    if kind != "Namespace":
        meta["namespace"] = namespace
    else:
        meta["name"] = namespace
    body = {k: v for k, v in item.items() if k not in ("metadata", "status", "kind", "apiVersion")}
    if kind == "Service":
        body["spec"] = {k: v for k, v in body["spec"].items() if k not in ALLOCATED}
    if kind == "Namespace":
        body.pop("spec", None)
    if kind == "Deployment":
        body["spec"]["template"]["metadata"].pop("creationTimestamp", None)
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


class Floor:
    """The bare program applying ``source``'s objects into a namespace of its own on ``cluster``."""

    def __init__(self, world: World, cluster: str, source: str, name: str) -> None:
        self.world, self.name = world, name
        self.folder = world.folder / "floors" / name
        self.folder.mkdir(parents=True)
        (self.folder / "Pulumi.yaml").write_text(
            f"name: floor\nruntime:\n  name: python\n  options:\n    virtualenv: {ROOT / '.venv'}\n"
        )
        (self.folder / "__main__.py").write_text(FLOOR_PROGRAM)
        self.env = {
            **world.env(stack=cluster),  # the floor's stacks beside the program's, in that environment's backend
            "FLOOR_KUBECONFIG": str(world.clusters.clusters[cluster].kubeconfig),
            "FLOOR_OBJECTS": str(self.folder / "objects.json"),
        }
        client = world.kube(cluster)
        self.objects = [declared(client.get(f"/api/v1/namespaces/{source}"), "Namespace", "v1", name)]
        for template in KINDS:
            listing = client.get(template.format(ns=source))
            api_version, kind = listing["apiVersion"], listing["kind"].removesuffix("List")
            for item in listing["items"]:
                if item["metadata"].get("annotations", {}).get("pulumi.com/patchForce") == "true":  # ours
                    self.objects.append(declared(item, kind, api_version, name))
        self.pulumi("stack", "init", name)
        # a stack with no config at all gets none passed to its program, which the Python runtime
        # (set_all_config) cannot read
        self.pulumi("config", "set", "--stack", name, "floor:name", name)

    def pulumi(self, *args: str) -> None:
        done = subprocess.run([str(self.world.tools["pulumi"]), *args, "--non-interactive"], cwd=self.folder,
                              env=self.env, capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"floor: pulumi {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")

    def up(self, build: int) -> float:
        """Apply the objects with the Deployment at build ``build`` (its image digest, version, commit)."""
        version = f"{build:040x}"
        for obj in self.objects:
            if obj["kind"] == "Deployment":
                for meta in (obj["metadata"], obj["spec"]["template"]["metadata"]):
                    meta["labels"]["app.kubernetes.io/version"] = version
                    meta.setdefault("annotations", {}).update(
                        {"gitops/commit": version, "gitops/digest": digest(build)}
                    )
                container = obj["spec"]["template"]["spec"]["containers"][0]
                container["image"] = container["image"].split("@")[0].split(":")[0] + "@" + digest(build)
        (self.folder / "objects.json").write_text(json.dumps(self.objects))
        started = time.perf_counter()
        self.pulumi("up", "--yes", "--skip-preview", "--stack", self.name)
        return time.perf_counter() - started


def timed(run: Any) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def release_together(world: World, releases: list[tuple[str, str, int]]) -> float:
    """``ci/release.sh deploy`` of each (app, commit, build) into staging, all started at once."""
    started = time.perf_counter()
    jobs = []
    for app, commit, build in releases:
        env = world.release_env("staging", app, commit, image_digest=digest(build))
        argv = world.release_argv("staging", app, commit, image_digest=digest(build))
        jobs.append(subprocess.Popen(argv, cwd=env["CI_PROJECT_DIR"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True))  # fmt: skip
    for job in jobs:
        out, _ = job.communicate(timeout=900)
        if job.returncode != 0:
            raise SystemExit(f"release failed:\n{out[-4000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tools = build_tools()
    rows: dict[str, list[float]] = {k: [] for k in ("first", "floor_first", "redeploy", "floor_redeploy",
                                                    "staging", "floor_staging", "together", "alone")}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as folder:
        world = start_world(Path(folder) / "world", tools, ["preview", "staging"])
        try:
            world.gitops("apply", "--stack", "preview")
            world.gitops("init", "--stack", "staging")
            web, api = world.app_repo("web"), world.app_repo("api")
            build = 1
            for app, repo in (("web", web), ("api", api)):
                world.ci_release("staging", app, repo.head(), image_digest=digest(build))
            staging_floor = Floor(world, "staging", "web", "floor-staging")
            staging_floor.up(build)
            for n in range(args.repeat):
                branch = f"feature/bench-{n}"
                commit = web.branch_with_commit(branch, "latest")

                def preview(commit: str = commit, branch: str = branch) -> None:
                    clone = world.ci_clone("web", commit)
                    world.gitops("release", "--stack", "preview", "--app", "web", "--branch", branch,
                                 "--commit", commit, "--repo", str(clone))  # fmt: skip

                rows["first"].append(timed(preview))
                floor = Floor(world, "preview", preview_id("web", branch), f"floor-{n}")
                build += 1
                rows["floor_first"].append(floor.up(build))

                web.checkout(branch)
                commit = web.commit(f"bench {n} again")
                web.checkout("master")
                rows["redeploy"].append(timed(lambda c=commit, b=branch: preview(c, b)))
                build += 1
                rows["floor_redeploy"].append(floor.up(build))

                for repo in (web, api):
                    repo.commit(f"bench {n}")
                    repo.git("branch", "-f", "latest", "master")
                build += 1
                rows["staging"].append(release_together(world, [("web", web.head(), build)]))
                rows["floor_staging"].append(staging_floor.up(build))
                rows["alone"].append(rows["staging"][-1])
                for repo in (web, api):
                    repo.commit(f"bench {n} together")
                    repo.git("branch", "-f", "latest", "master")
                build += 1
                rows["together"].append(
                    release_together(world, [("web", web.head(), build), ("api", api.head(), build)])
                )
        finally:
            world.clusters.stop()
    med = {k: statistics.median(v) for k, v in rows.items()}
    for key, values in rows.items():
        print(f"{key:15s} " + " ".join(f"{v:6.1f}" for v in values) + f"   median {med[key]:.1f} s")
    print(
        f"redeploy vs floor: preview {med['redeploy'] / med['floor_redeploy']:.2f}, "
        f"staging {med['staging'] / med['floor_staging']:.2f}, first deploy {med['first'] / med['floor_first']:.2f}; "
        f"two together / one = {med['together'] / med['alone']:.2f}"
    )


if __name__ == "__main__":
    main()
