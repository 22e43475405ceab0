"""Releases in waves with the real engine and two real API servers as the prod clusters (#18).

prod-eu is wave 1, prod-us wave 2. Every release runs ``ci/release.sh deploy`` as the prod job does; the
assertions read the API servers (``resourceVersion``s, images) and the backend (history, outputs).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from gitops.localcluster.cluster import BROKEN_DIGEST
from tests.e2e.world import World, digest
from tests.servers import HealthSite
from tests.test_dashboard import Page

IMAGE = "registry.example.com/shop/web"


def _waves(world: World, bake_seconds: int) -> None:
    """prod-eu, then prod-us after ``bake_seconds`` (in the project's Pulumi.prod.yaml, as an admin sets it)."""
    waves = [{"clusters": ["prod-eu"], "bakeSeconds": bake_seconds}, {"clusters": ["prod-us"]}]
    world.pulumi("config", "set", "--stack", "prod", "gitops:waves", json.dumps(waves))


def _in_waves(world: World, bake_seconds: int) -> None:
    _waves(world, bake_seconds)
    world.gitops("init", "--stack", "prod")


def _image_on(world: World, cluster: str) -> str:
    image: str = world.deployment(cluster, "web", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_good_release_reaches_wave_1_then_after_the_bake_wave_2(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["prod"])
    _in_waves(world, bake_seconds=4)
    commit = world.app_repo("web").commit("first")

    done = world.ci_release("prod", "web", commit, image_digest=digest(1))

    assert "baking web on prod-eu for 4s" in done.stdout and "wave 2/2 (prod-us): verified" in done.stdout
    assert _image_on(world, "prod-eu") == _image_on(world, "prod-us") == f"{IMAGE}@{digest(1)}"
    first, second = [u for u in world.history("prod") if "wave" in u["message"]]
    assert "wave 1/2 (prod-eu)" in first["message"] and "wave 2/2 (prod-us)" in second["message"]
    assert first["result"] == second["result"] == "succeeded"
    assert _seconds(second["startTime"]) - _seconds(first["endTime"]) >= 4, "the bake sits between the waves"
    assert "behind" not in world.outputs("prod")["releases"]["web"]


def test_a_release_never_ready_on_wave_1_never_touches_wave_2(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["prod"])
    _in_waves(world, bake_seconds=0)
    repo = world.app_repo("web")
    good = repo.commit("good")
    broken = repo.commit("crash-looping build")
    world.ci_release("prod", "web", good, image_digest=digest(1))
    wave_2 = world.settled_states("prod-us", "web")

    failed = world.ci_release("prod", "web", broken, image_digest=BROKEN_DIGEST, check=False)

    assert failed.returncode == 1, failed.stdout  # failed, the previous release restored
    assert world.object_states("prod-us", "web") == wave_2, "wave 2 was never touched"
    assert _image_on(world, "prod-eu") == _image_on(world, "prod-us") == f"{IMAGE}@{digest(1)}"
    assert world.outputs("prod")["releases"]["web"]["commit"] == good
    reported = "".join(p.read_text() for p in (world.folder / "ci").glob("job-*-web/deploy.env"))
    assert "wave 1 (prod-eu) failed: rollout not ready on prod-eu" in reported
    assert f"{good[:8]} restored on prod-eu; later waves untouched" in reported
    results = [
        (u["message"].split(",")[0].split(" ")[0], u["result"]) for u in world.history("prod") if u["kind"] == "update"
    ]
    assert results[-2:] == [("deploy", "failed"), ("restore", "succeeded")]
    page = Page(world.dashboard(world.folder / "public").read_text(encoding="utf-8"))
    assert page.row("web", "matrix")[:3] == ["web", f"{good[:8]} RESTORED", f"{good[:8]} RESTORED"], page.tables
    # newest first; the refresh before the restore shows as "restore (refresh)"
    restore, bad = [r for r in page.tables["timeline-prod"][1:] if r[3] == "web" and r[2] in ("deploy", "restore")][:2]
    assert any(r[2] == "restore (refresh)" for r in page.tables["timeline-prod"]), page.tables["timeline-prod"]
    assert restore[1:3] == ["succeeded", "restore"] and restore[4] == good[:8], restore
    assert bad[1:3] == ["failed", "deploy"] and bad[4] == broken[:8], page.tables["timeline-prod"]


def test_a_rollout_cancelled_between_waves_shows_in_status_and_the_next_release_completes_it(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["prod"])
    _in_waves(world, bake_seconds=0)
    repo = world.app_repo("web")
    first, second, third = repo.commit("first"), repo.commit("second"), repo.commit("third")
    world.ci_release("prod", "web", first, image_digest=digest(1))
    _waves(world, bake_seconds=120)

    env = world.release_env("prod", "web", second, image_digest=digest(2))
    job = subprocess.Popen(
        world.release_argv("prod", "web", second, image_digest=digest(2)), cwd=env["CI_PROJECT_DIR"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not any("wave 1/2" in u["message"] and second[:8] in u["message"] for u in world.history("prod")):
            assert time.monotonic() < deadline and job.poll() is None, "wave 1 never finished"
            time.sleep(2)
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the job is cancelled during wave 1's bake
        job.wait()

    status = world.gitops("status", "--stack", "prod").stdout
    assert "MID-ROLLOUT" in status and f"prod-us: still runs {first[:8]}" in status
    page = Page(world.dashboard(world.folder / "public").read_text(encoding="utf-8"))
    assert page.row("web", "matrix")[:3] == ["web", f"{second[:8]} MID-ROLLOUT", f"{first[:8]} BEHIND"], page.tables
    assert (
        _image_on(world, "prod-eu") == f"{IMAGE}@{digest(2)}" and _image_on(world, "prod-us") == f"{IMAGE}@{digest(1)}"
    )

    _waves(world, bake_seconds=0)
    world.ci_release("prod", "web", third, image_digest=digest(3))
    assert _image_on(world, "prod-eu") == _image_on(world, "prod-us") == f"{IMAGE}@{digest(3)}"
    assert "MID-ROLLOUT" not in world.gitops("status", "--stack", "prod").stdout


def test_a_pod_restart_during_wave_1_bake_stops_the_release_before_wave_2(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """The bake reads prod-eu's pods with the stack's kubeconfig; a restart is written into a pod's status
    through the API server, as the kubelet would report one."""
    world = world_factory(["prod"])
    _in_waves(world, bake_seconds=0)
    repo = world.app_repo("web")
    good, restarting = repo.commit("good"), repo.commit("restarts after a while")
    world.ci_release("prod", "web", good, image_digest=digest(1))
    wave_2 = world.settled_states("prod-us", "web")
    _waves(world, bake_seconds=90)

    env = world.release_env("prod", "web", restarting, image_digest=digest(2))
    job = subprocess.Popen(
        world.release_argv("prod", "web", restarting, image_digest=digest(2)), cwd=env["CI_PROJECT_DIR"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(job.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while not any("baking web on prod-eu" in line for line in lines):  # its first look at the pods is taken
            assert time.monotonic() < deadline and job.poll() is None, "wave 1 never started its bake"
            time.sleep(0.5)
        kube = world.kube("prod-eu")
        pods = kube.get("/api/v1/namespaces/web/pods?labelSelector=app.kubernetes.io%2Fname%3Dweb")["items"]
        (pod, *_) = [p for p in pods if p["spec"]["containers"][0]["image"].endswith(digest(2))]
        status = pod["status"]
        status["containerStatuses"][0]["restartCount"] = 1
        kube.merge_patch(f"/api/v1/namespaces/web/pods/{pod['metadata']['name']}/status", {"status": status})
        job.wait(timeout=300)
        reader.join(timeout=10)
        out = "".join(lines)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()

    assert job.returncode == 1, out
    assert "restarted during the bake" in out
    assert world.object_states("prod-us", "web") == wave_2, "wave 2 was never touched"
    assert _image_on(world, "prod-eu") == _image_on(world, "prod-us") == f"{IMAGE}@{digest(1)}"
    reported = "".join(p.read_text() for p in (world.folder / "ci").glob("job-*-web/deploy.env"))
    assert "wave 1 (prod-eu) failed:" in reported and "restarted during the bake" in reported


def test_a_wave_whose_health_path_fails_stops_the_release_and_smoke_runs_after_each_wave(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """The health path is asked through each cluster's ingress: the address is the one the real API server
    holds in the Ingress status (the clusters' ingress controller publishes 127.0.0.1), and a real HTTP server
    on that address stands for the controller and the app behind it. The smoke command is a real process."""
    world = world_factory(["prod"])
    _waves(world, bake_seconds=0)
    smoke_log = world.folder / "smoke.log"
    code = (
        f"import os; open({str(smoke_log)!r}, 'a')"
        ".write(os.environ['GITOPS_CLUSTER'] + ' ' + os.environ['GITOPS_URL'] + '\\n')"
    )
    catalog = world.workdir / "apps.yaml"
    catalog.write_text(
        catalog.read_text().replace(
            "    health_path: /healthz\n",
            f"    health_path: /healthz\n    smoke:\n      command: {json.dumps([sys.executable, '-c', code])}\n",
            1,
        )
    )
    repo = world.app_repo("web")
    good, unhealthy = repo.commit("good"), repo.commit("answers 503")
    with HealthSite(200) as site:
        verify = {"healthSeconds": 20, "ingressScheme": "http", "ingressPort": site.port}
        world.pulumi("config", "set", "--stack", "prod", "gitops:verify", json.dumps(verify))
        world.gitops("init", "--stack", "prod")

        done = world.ci_release("prod", "web", good, image_digest=digest(1))
        url = f"http://127.0.0.1:{site.port}"
        assert smoke_log.read_text() == f"prod-eu {url}\nprod-us {url}\n", "smoke after each wave, in order"
        assert len(site.requests) == 2 and all(h.startswith("web.") and p == "/healthz" for h, p in site.requests)
        assert "health check: /healthz answers 200 on prod-eu" in done.stdout
        wave_2 = world.settled_states("prod-us", "web")

        site.statuses = [503]
        failed = world.ci_release("prod", "web", unhealthy, image_digest=digest(2), check=False)

    assert failed.returncode == 1, failed.stdout
    assert world.object_states("prod-us", "web") == wave_2, "wave 2 was never touched"
    assert _image_on(world, "prod-eu") == _image_on(world, "prod-us") == f"{IMAGE}@{digest(1)}"
    reported = "".join(p.read_text() for p in (world.folder / "ci").glob("job-*-web/deploy.env"))
    assert "wave 1 (prod-eu) failed: health check: /healthz of web on prod-eu did not answer 2xx" in reported
    assert smoke_log.read_text().count("\n") == 2, "no smoke command runs after a failed health check"


def test_a_rollback_of_one_named_cluster_leaves_the_other_wave_running_the_release(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    world = world_factory(["prod"])
    _in_waves(world, bake_seconds=0)
    repo = world.app_repo("web")
    first, second, fix = repo.commit("first"), repo.commit("second"), repo.commit("fix")
    world.ci_release("prod", "web", first, image_digest=digest(1))
    world.ci_release("prod", "web", second, image_digest=digest(2))
    prod_eu = world.settled_states("prod-eu", "web")

    world.gitops(
        "rollback", "--stack", "prod", "--app", "web", "--cluster", "prod-us", "--reason", "500s in us", "--yes",
        "--repo", str(world.ci_clone("web", second)),
    )  # fmt: skip

    assert _image_on(world, "prod-us") == f"{IMAGE}@{digest(1)}"
    assert world.object_states("prod-eu", "web") == prod_eu, "prod-eu was never touched"
    web = world.outputs("prod")["releases"]["web"]
    assert web["commit"] == second and web["behind"]["prod-us"] == {
        "commit": first,
        "digest": digest(1),
        "rolled_back": True,
    }
    status = world.gitops("status", "--stack", "prod").stdout
    assert f"prod-us: ROLLED BACK to {first[:8]}" in status and f"HOLD web: refuses {second[:8]}" in status
    last = world.history("prod")[-1]
    assert last["message"].startswith(f"rollback web from {second[:8]} to {first[:8]} on prod-us only")
    assert "rollback@prod-us" in world.gitops("history", "--stack", "prod").stdout

    world.ci_release("prod", "web", fix, image_digest=digest(3))  # the fix descends from the held commit
    assert _image_on(world, "prod-eu") == _image_on(world, "prod-us") == f"{IMAGE}@{digest(3)}"
    assert "behind" not in world.outputs("prod")["releases"]["web"]
