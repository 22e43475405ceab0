"""Faults on the real engine (#25): jobs killed mid-update, a dead API server, a failing backend.

Each release runs ``ci/release.sh deploy`` as the CI job does, in a process group of its own (a GitLab job's
script), and the fault is real: the group is sent SIGKILL or SIGTERM, an API server process is killed, the
backend's folder is made immutable. The assertions read what the API servers and the backend hold
afterwards, and the next release must land with no hand-run ``pulumi`` command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

from gitops.admin.locks import BackendLocks
from gitops.core.faults import Lease, LockFile
from gitops.localcluster.cluster import BROKEN_DIGEST
from gitops.localcluster.postgres import LocalPostgres
from tests.e2e.world import World, WorldFactory, digest
from tests.test_dashboard import Page

IMAGE = "registry.example.com/shop/web"
KILL_GRACE = 60  # GitLab Runner's grace period between SIGTERM and SIGKILL, shortened
BACKEND_FAILURE_BOUND = 180  # a release on a failing backend ends within this (the rollout deadline is 30 s)
COMMAND_TIMEOUT_BOUND = 300  # a release around a short storage outage ends within this


def _start_release(world: World, stack: str, commit: str, image_digest: str) -> subprocess.Popen[str]:
    """``ci/release.sh deploy`` as a CI job runs it, in a process group of its own."""
    env = world.release_env(stack, "web", commit, image_digest=image_digest)
    return subprocess.Popen(
        ["bash", str(world.workdir / "ci" / "release.sh"), "deploy"],
        cwd=env["CI_PROJECT_DIR"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )


def _version(world: World, cluster: str) -> str:
    return str(world.deployment(cluster, "web", "web")["metadata"]["labels"]["app.kubernetes.io/version"])


def _until(what: str, ready: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except (OSError, KeyError, AssertionError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


def _backend(world: World, stack: str) -> BackendLocks:
    """The stack's locks and leases where its environment's backend keeps them (PostgreSQL, or files)."""
    locks = BackendLocks.of(world.env(stack=stack), "gitops", stack)
    assert locks is not None
    return locks


def _locks(world: World, stack: str) -> list[LockFile]:
    return _backend(world, stack).locks()


def _leases(world: World, stack: str) -> list[Lease]:
    return _backend(world, stack).leases()


def _pending(world: World, stack: str) -> list[Any]:
    return list(world.export(stack)["deployment"].get("pending_operations") or [])


def _staging_at(world: World, *commits: str) -> None:
    world.gitops("init", "--stack", "staging")
    for n, commit in enumerate(commits, start=1):
        world.ci_release("staging", "web", commit, image_digest=digest(n))


def _prod_in_two_waves_at_c1(world: World, *, bake_seconds: int) -> tuple[str, str]:
    """prod with wave 1 prod-eu (baked ``bake_seconds``) and wave 2 prod-us, web released at c1; (c1, c2)."""
    waves = [{"clusters": ["prod-eu"], "bakeSeconds": bake_seconds}, {"clusters": ["prod-us"]}]
    world.pulumi("config", "set", "--stack", "prod", "gitops:waves", json.dumps(waves))
    world.gitops("init", "--stack", "prod")
    repo = world.app_repo("web")
    c1, c2 = repo.commit("first"), repo.commit("second")
    world.ci_release("prod", "web", c1, image_digest=digest(1))
    return c1, c2


def _commits(world: World, *messages: str) -> list[str]:
    repo = world.app_repo("web")
    commits = [repo.commit(message) for message in messages]
    repo.git("branch", "-f", "latest", "master")
    return commits


def test_a_release_killed_mid_update_blocks_nothing_and_the_next_one_repairs_and_records_it(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """SIGKILL of the whole job (its runner OOM-killed, its node lost) while the Deployment update is in
    flight: the lock and two pending operations stay behind. ``status`` tells the truth from the cluster,
    and the next release breaks the dead job's lock at once, clears the interruption, lands, and records
    both in the history."""
    world = world_factory(["staging"])
    c1, c2, c3 = _commits(world, "first", "second", "third")
    _staging_at(world, c1)

    job = _start_release(world, "staging", c2, BROKEN_DIGEST)  # never ready: the update waits on it
    _until("the Deployment update of c2 reaching the API server", lambda: _version(world, "staging") == c2)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=30)

    assert _locks(world, "staging"), "the killed job's lock stays behind (nothing removes a DIY lock)"
    assert _pending(world, "staging"), "the killed update left pending operations in the checkpoint"
    assert world.outputs("staging")["releases"]["web"]["commit"] == c1, "the outputs still say c1"
    status = world.gitops("status", "--stack", "staging").stdout
    assert "LOCKED (stale)" in status and "no longer runs on this host" in status, status
    assert "INTERRUPTED: an update did not finish" in status and "updating Deployment web" in status, status
    assert f"staging/web: the cluster runs {c2[:8]}; DIFFERS from the recorded {c1[:8]}" in status, status
    page = Page(world.dashboard(world.folder / "killed").read_text(encoding="utf-8"))
    alert = " ".join("".join(page.text).split())
    assert "LOCKED: an update holds the lock since" in alert and "IN FLIGHT: steps an update left pending:" in alert
    assert "updating Deployment web" in alert, alert

    started = time.monotonic()
    done = world.ci_release("staging", "web", c3, image_digest=digest(3))
    elapsed = time.monotonic() - started

    assert elapsed < 120, f"the next release took {elapsed:.0f}s: it waited on a dead job's lock"
    assert "broke a lock of staging (stale)" in done.stdout, done.stdout
    deployment = world.deployment("staging", "web", "web")
    assert _version(world, "staging") == c3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}@{digest(3)}"
    assert world.outputs("staging")["releases"]["web"]["commit"] == c3
    assert not _pending(world, "staging") and not _locks(world, "staging") and not _leases(world, "staging")
    last = world.history("staging")[-1]
    assert last["result"] == "succeeded" and last["message"].startswith(f"deploy web@{c3[:8]}")
    assert "broke a lock of staging (stale)" in last["message"]
    assert "an earlier update was interrupted" in last["message"] and f"staging/web ran {c2[:8]}" in last["message"]
    report = "".join(p.read_text() for p in (world.folder / "ci").glob("job-*-web/deploy.env"))
    assert "an earlier update was interrupted" in report, "the next job's report says so too"
    status = world.gitops("status", "--stack", "staging").stdout
    assert "LOCKED" not in status and "INTERRUPTED" not in status and "DIFFERS" not in status, status
    page = Page(world.dashboard(world.folder / "repaired").read_text(encoding="utf-8"))
    newest = page.tables["timeline-staging"][1]
    assert newest[1:3] == ["succeeded", "deploy"] and "INTERRUPTED an earlier update was interrupted" in newest[6]
    assert "broke a lock of staging (stale)" in newest[6] and "IN FLIGHT" not in "".join(page.text), newest


def test_an_admin_applying_by_hand_during_a_ci_release_waits_for_it_and_repairs_nothing(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """While a CI release of web is in flight (its Deployment update has reached the API server, the checkpoint
    holds its steps as pending), an admin runs ``gitops apply`` by hand. The apply waits for the release's
    lock (its holder is alive) and then applies; it must not take the live release's pending steps for an
    interruption: nothing is cleared, nothing put back, and both land."""
    world = world_factory(["staging"])
    c1, c2 = _commits(world, "first", "second")
    _staging_at(world, c1)

    job = _start_release(world, "staging", c2, digest(2))
    _until("the Deployment update of c2 reaching the API server", lambda: _version(world, "staging") == c2)
    # a release takes seconds: its CLI is frozen (SIGSTOP, a slow runner) so the apply surely meets it in flight
    cli = _locks(world, "staging")[0].pid
    os.kill(cli, signal.SIGSTOP)
    try:
        assert _pending(world, "staging"), "the release's steps in flight are in the checkpoint"
        apply = subprocess.Popen(
            [str(world.workdir / ".venv" / "bin" / "python"), "-m", "gitops", "apply", "--stack", "staging"],
            cwd=world.workdir, env=world.env({"GITOPS_LOCK_WAIT_SECONDS": "300"}, stack="staging"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert apply.stdout is not None
        said = []
        for line in apply.stdout:
            said.append(line)
            if "stack staging is locked by another update; waiting" in line:
                break
    finally:
        os.kill(cli, signal.SIGCONT)
    rest, _ = apply.communicate(timeout=300)
    applied = "".join(said) + rest
    released, _ = job.communicate(timeout=300)

    assert job.returncode == 0, released[-4000:]
    assert apply.returncode == 0, applied[-4000:]
    assert "stack staging is locked by another update; waiting" in applied, applied[-3000:]
    assert "interrupted" not in applied, applied[-3000:]
    assert _version(world, "staging") == c2
    assert world.outputs("staging")["releases"]["web"]["commit"] == c2
    assert not _pending(world, "staging") and not _locks(world, "staging") and not _leases(world, "staging")
    messages = [entry["message"] for entry in world.history("staging")]
    assert messages[-2].startswith(f"deploy web@{c2[:8]}") and messages[-1].startswith("apply deploy repo")
    assert not any("interrupted" in m or m.startswith(("restore", "repair")) for m in messages), messages


def test_a_job_cancelled_with_sigterm_cancels_its_update_and_restores_the_last_good_release(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """GitLab cancels a job with SIGTERM to its process group, then SIGKILL after a grace period: the engine
    cancels its update itself, the lock is released, the previous release runs again and the job says so."""
    world = world_factory(["staging"])
    c1, c2 = _commits(world, "first", "second")
    _staging_at(world, c1)

    job = _start_release(world, "staging", c2, BROKEN_DIGEST)
    _until("the Deployment update of c2 reaching the API server", lambda: _version(world, "staging") == c2)
    os.killpg(job.pid, signal.SIGTERM)
    try:
        out, _ = job.communicate(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        out, _ = job.communicate()
        raise AssertionError(f"the job outlived the grace period:\n{out[-4000:]}") from None

    assert job.returncode == 1, out[-4000:]
    assert "SIGTERM received: cancelling the running update" in out and f"runs {c1} again" in out, out[-4000:]
    assert _version(world, "staging") == c1, out[-8000:]
    deployment = world.deployment("staging", "web", "web")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}@{digest(1)}"
    assert not _locks(world, "staging") and not _pending(world, "staging") and not _leases(world, "staging")
    assert world.outputs("staging")["releases"]["web"]["commit"] == c1
    history = world.history("staging")
    results = [(u["message"].split(" ", 1)[0], u["result"]) for u in history if u["kind"] == "update"]
    assert results[-2:] == [("deploy", "failed"), ("restore", "succeeded")], results
    assert history[-2]["kind"] == "refresh", "the restore read the clusters first: the cancelled update's record lags"
    reported = "".join(p.read_text() for p in (world.folder / "ci").glob("job-*-web/deploy.env"))
    assert f"GITOPS_REASON=cancelled; {c1[:8]} restored automatically" in reported, reported


def test_a_release_whose_cluster_is_down_is_refused_before_anything_changes(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """prod has two clusters; prod-us's API server is stopped: the release is refused naming it, prod-eu is
    not touched (same object states, no new update), and once prod-us is back the same release lands."""
    world = world_factory(["prod"])
    repo = world.app_repo("web")
    c1, c2 = repo.commit("first"), repo.commit("second")
    world.gitops("init", "--stack", "prod")
    world.ci_release("prod", "web", c1, image_digest=digest(1))
    before = world.settled_states("prod-eu", "web")
    updates = len(world.history("prod"))

    world.clusters.kill("prod-us-apiserver")
    refused = world.ci_release("prod", "web", c2, image_digest=digest(2), check=False)

    said = refused.stdout + refused.stderr
    assert refused.returncode == 2, said
    assert "not every cluster of this release can be reached" in said and "(prod-us: https://127.0.0.1:" in said
    assert "prod-eu:" not in said, "only the dead cluster is named"
    assert world.object_states("prod-eu", "web") == before
    assert len(world.history("prod")) == updates, "no update was started"
    assert not _locks(world, "prod")

    world.clusters.restart("prod-us-apiserver")
    world.ci_release("prod", "web", c2, image_digest=digest(2))
    assert _version(world, "prod-eu") == _version(world, "prod-us") == c2


def test_the_backend_failing_mid_update_loses_no_recorded_state(
    world_factory: WorldFactory,
) -> None:
    """The state backend stops taking writes while an update runs (a full or read-only volume): the update
    fails naming the backend, the last good checkpoint stays readable, and once the backend takes writes
    again the next release works."""
    world = world_factory(["staging"], backend="file")  # made immutable: the backend's own files
    c1, c2, c3 = _commits(world, "first", "second", "third")
    _staging_at(world, c1)
    stacks = world.folder / "backend" / ".pulumi"
    good = world.outputs("staging")

    job = _start_release(world, "staging", c2, BROKEN_DIGEST)
    try:
        _until("the Deployment update of c2 reaching the API server", lambda: _version(world, "staging") == c2)
        subprocess.run(["chattr", "-R", "+i", str(stacks)], check=True)
        try:
            out, _ = job.communicate(timeout=BACKEND_FAILURE_BOUND)
        except subprocess.TimeoutExpired as exc:
            tree = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,args", "-g", str(job.pid)], capture_output=True,
                                  text=True).stdout  # fmt: skip
            raise AssertionError(
                f"the job hung on a failing backend:\n{tree}\n{(exc.output or b'')[-4000:]!r}"
            ) from None
    finally:
        subprocess.run(["chattr", "-R", "-i", str(stacks)], check=True)
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()

    assert job.returncode != 0, out[-4000:]
    assert "backend" in out.lower() or str(stacks) in out or "checkpoint" in out.lower(), out[-4000:]
    assert world.outputs("staging") == good, "the last good checkpoint is still what the backend serves"
    json.loads(json.dumps(world.export("staging")))  # readable, whole

    done = world.ci_release("staging", "web", c3, image_digest=digest(3))
    assert _version(world, "staging") == c3, done.stdout[-3000:]
    assert world.outputs("staging")["releases"]["web"]["commit"] == c3
    assert not _pending(world, "staging") and not _locks(world, "staging")


def test_a_cluster_dying_mid_rollout_of_wave_2_fails_in_bounded_time_and_the_next_release_completes_it(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """prod-eu is wave 1, prod-us wave 2; prod-us's API server dies as wave 2 starts. The release fails within
    a bound, puts the previous release back where it can (prod-eu), names the cluster it could not restore;
    ``status`` shows it. Once prod-us is back, the next release lands on both."""
    world = world_factory(["prod"])
    c1, c2 = _prod_in_two_waves_at_c1(world, bake_seconds=0)

    job = _start_release(world, "prod", c2, digest(2))
    started = time.monotonic()
    assert job.stdout is not None
    seen = []
    for line in job.stdout:
        seen.append(line)
        if line.startswith("wave 2/2 (prod-us):"):
            world.clusters.kill("prod-us-apiserver")
            break
    rest, _ = job.communicate(timeout=600)
    out = "".join(seen) + rest
    elapsed = time.monotonic() - started

    assert elapsed < 240, f"the release took {elapsed:.0f}s with a dead cluster"
    assert job.returncode == 1, out[-6000:]
    assert "prod-us could not be restored" in out, out[-6000:]
    assert _version(world, "prod-eu") == c1, "wave 1 got the previous release back"
    reported = "".join(p.read_text() for p in (world.folder / "ci").glob("job-*-web/deploy.env"))
    assert f"{c1[:8]} restored on prod-eu" in reported and "prod-us could not be restored" in reported
    assert not _locks(world, "prod")
    status = world.gitops("status", "--stack", "prod").stdout
    assert "prod-us/web: what the cluster runs is unreadable" in status, status

    world.clusters.restart("prod-us-apiserver")  # back: it serves, and its controllers act again
    done = world.ci_release("prod", "web", c2, image_digest=digest(2))
    assert "wave 2/2 (prod-us): verified" in done.stdout, done.stdout[-3000:]
    assert _version(world, "prod-eu") == c2 and _version(world, "prod-us") == c2
    assert world.outputs("prod")["releases"]["web"]["commit"] == c2
    assert not _pending(world, "prod") and not _locks(world, "prod")
    status = world.gitops("status", "--stack", "prod").stdout
    assert "unreadable" not in status and "DIFFERS" not in status and "INTERRUPTED" not in status, status


def test_a_first_release_whose_pods_cannot_be_scheduled_fails_at_its_deadline_and_the_next_one_lands(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """A first release whose pods are never scheduled (the cluster has no room for them; here its scheduler is
    down): the Deployment fails at the rollout deadline, and the Service, which selects no running pod, does
    not hold the failed update (the engine cancels the steps in flight when one fails: ``stepExecutor.
    cancelDueToError``), so the job ends in bounded time with nothing to restore, the lock released and nothing
    pending. Once pods can be scheduled again the next release lands."""
    world = world_factory(["staging"])
    c1, c2 = _commits(world, "first", "second")
    world.gitops("init", "--stack", "staging")
    world.clusters.kill("staging-scheduler")

    started = time.monotonic()
    failed = world.ci_release("staging", "web", c1, image_digest=digest(1), check=False)
    elapsed = time.monotonic() - started

    assert failed.returncode == 2, failed.stdout[-4000:]  # failed, and there is no earlier release to restore
    assert "error: the deploy of web to staging failed" in failed.stdout, failed.stdout[-4000:]
    assert elapsed < 150, f"the failed release took {elapsed:.0f}s (rollout deadline 30 s)"
    endpoints = world.clusters.client("staging").get("/api/v1/namespaces/web/endpoints/web")
    assert not endpoints.get("subsets"), "the Service selected no pod while the release ran"
    assert world.history("staging")[-1]["result"] == "failed"
    assert not _locks(world, "staging") and not _pending(world, "staging")

    world.clusters.restart("staging-scheduler")
    world.ci_release("staging", "web", c2, image_digest=digest(2))
    assert _version(world, "staging") == c2
    assert world.outputs("staging")["releases"]["web"]["commit"] == c2


def test_a_release_killed_while_wave_1_bakes_leaves_a_true_mid_rollout_and_running_it_again_completes_it(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """The runner's machine is lost (SIGKILL of the whole job) while wave 1 bakes: no update runs then, so no
    lock or pending operation is left; the stack records prod-eu at c2 and prod-us still at c1, which is what
    the clusters run, and ``status`` says so. The same job run again completes the rollout."""
    world = world_factory(["prod"])
    c1, c2 = _prod_in_two_waves_at_c1(world, bake_seconds=20)

    job = _start_release(world, "prod", c2, digest(2))
    assert job.stdout is not None
    for line in job.stdout:  # each line as it is written (the engine's output line by line, then ours)
        if line.startswith("baking web on prod-eu"):
            os.killpg(job.pid, signal.SIGKILL)
            break
    job.wait(timeout=30)

    assert not _locks(world, "prod") and not _pending(world, "prod") and not _leases(world, "prod")
    assert _version(world, "prod-eu") == c2 and _version(world, "prod-us") == c1
    web = world.outputs("prod")["releases"]["web"]
    assert web["commit"] == c2 and web["behind"]["prod-us"]["commit"] == c1
    status = world.gitops("status", "--stack", "prod").stdout
    assert "MID-ROLLOUT" in status and f"prod-us: still runs {c1[:8]}" in status, status
    assert f"prod-eu/web: the cluster runs {c2[:8]}" in status and "DIFFERS" not in status, status

    done = world.ci_release("prod", "web", c2, image_digest=digest(2))  # the job retried
    assert "wave 2/2 (prod-us): verified" in done.stdout, done.stdout[-3000:]
    assert _version(world, "prod-eu") == c2 and _version(world, "prod-us") == c2
    assert not world.outputs("prod")["releases"]["web"].get("behind")
    assert "MID-ROLLOUT" not in world.gitops("status", "--stack", "prod").stdout


def test_etcd_restarted_mid_update_ends_the_release_in_bounded_time_and_the_next_one_lands(
    world_factory: Callable[[Sequence[str]], World],
) -> None:
    """The clusters' storage (etcd) is killed while a release's Deployment update is in flight and is back
    10 s later. Whatever the release makes of it (it may land, or fail and restore), it ends in bounded time
    and leaves no lock and nothing pending; what the cluster runs is what the stack records, or ``status``
    says it differs; the next release lands."""
    world = world_factory(["staging"])
    c1, c2, c3 = _commits(world, "first", "second", "third")
    _staging_at(world, c1)

    job = _start_release(world, "staging", c2, digest(2))
    started = time.monotonic()
    _until("the Deployment update of c2 reaching the API server", lambda: _version(world, "staging") == c2)
    world.clusters.kill("etcd")
    time.sleep(10)
    world.clusters.restart("etcd")
    out, _ = job.communicate(timeout=COMMAND_TIMEOUT_BOUND)
    elapsed = time.monotonic() - started

    assert elapsed < 240, f"the release took {elapsed:.0f}s around a 10 s etcd outage"
    assert job.returncode in (0, 1), out[-4000:]  # landed, or failed and restored: never left half-way
    assert not _locks(world, "staging") and not _pending(world, "staging") and not _leases(world, "staging")
    recorded = world.outputs("staging")["releases"]["web"]["commit"]
    assert recorded == (c2 if job.returncode == 0 else c1), out[-4000:]
    assert _version(world, "staging") == recorded
    status = world.gitops("status", "--stack", "staging").stdout
    assert f"staging/web: the cluster runs {recorded[:8]}" in status and "DIFFERS" not in status, status

    world.ci_release("staging", "web", c3, image_digest=digest(3))
    assert _version(world, "staging") == c3
    assert world.outputs("staging")["releases"]["web"]["commit"] == c3


def test_the_team_backend_server_stopping_mid_update_loses_nothing_and_the_next_release_lands(
    world_factory: Callable[[Sequence[str]], World], postgres: LocalPostgres
) -> None:
    """The team backend's PostgreSQL server stops while a release's update runs (a failover, a restart): the
    job ends in bounded time saying the backend fails, nothing recorded is lost, and once the server is back
    the next release breaks the lock the failed job could not remove and lands."""
    world = world_factory(["staging"])
    c1, c2, c3 = _commits(world, "first", "second", "third")
    _staging_at(world, c1)
    good = world.outputs("staging")

    job = _start_release(world, "staging", c2, BROKEN_DIGEST)  # its rollout waits: the update is surely running
    try:
        _until("the Deployment update of c2 reaching the API server", lambda: _version(world, "staging") == c2)
        with postgres.stopped():
            try:
                out, _ = job.communicate(timeout=BACKEND_FAILURE_BOUND)
            except subprocess.TimeoutExpired as exc:
                raise AssertionError(f"the job hung on a stopped backend: {(exc.output or '')[-4000:]!r}") from None
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()

    assert job.returncode != 0, out[-4000:]
    assert "connect" in out.lower() or "backend" in out.lower(), out[-4000:]
    assert world.outputs("staging") == good, "the last good checkpoint is still what the backend serves"

    done = world.ci_release("staging", "web", c3, image_digest=digest(3))
    assert _version(world, "staging") == c3, done.stdout[-3000:]
    assert world.outputs("staging")["releases"]["web"]["commit"] == c3
    assert not _pending(world, "staging") and not _locks(world, "staging") and not _leases(world, "staging")
