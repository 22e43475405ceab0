"""The pure fault decisions (``gitops.core.faults``): whose stack lock is stale, what an interrupted update left."""

from __future__ import annotations

import json

import pytest

from gitops.core.errors import StateError
from gitops.core.faults import (
    LEASE_TTL_SECONDS,
    Lease,
    LeaseWatch,
    LockFile,
    Verdict,
    interrupted_apps,
    judge,
    parse_lease,
    parse_lock,
    pending_operations,
)

LOCK = LockFile(".pulumi/locks/organization/gitops/prod/1.json", "ci", "runner-7", 41, "2026-12-06T10:00:00Z")
ELSEWHERE = "boot-b:pid:[4026531836]"  # the waiter runs on another machine


def lease(renewals: int = 0, *, host: str = "runner-7", cli_pids: tuple[int, ...] = (41,), process: str = "boot-a",
          started: str = "2026-12-06T10:00:00Z") -> Lease:  # fmt: skip
    return Lease(".gitops/leases/x.json", host, 40, process, "alice", "https://gitlab/job/9", "deploy web", started,
                 renewals, cli_pids)  # fmt: skip


def verdict(leases: list[Lease], watch: LeaseWatch, now: float, **kwargs: object) -> Verdict:
    options = {"this_process": ELSEWHERE, "pid_alive": lambda pid: True, **kwargs}
    return judge(LOCK, leases, watch, now, **options).verdict  # type: ignore[arg-type]


def test_a_live_holder_renewing_its_lease_is_never_broken_however_long_it_runs() -> None:
    watch = LeaseWatch()
    for tick in range(0, 3600, 3):  # an hour of waiting, the lease renewed every 5 s
        renewals = tick // 5
        watch.observe([lease(renewals)], float(tick))
        assert verdict([lease(renewals)], watch, float(tick)) is Verdict.LIVE


def test_a_holder_whose_lease_stands_still_for_the_ttl_is_dead() -> None:
    watch = LeaseWatch()
    dead = lease(17)
    watch.observe([dead], 100.0)
    assert verdict([dead], watch, 100.0 + LEASE_TTL_SECONDS - 1) is Verdict.LIVE, "a waiter first watches the TTL"
    watch.observe([dead], 100.0 + LEASE_TTL_SECONDS)
    judgement = judge(LOCK, [dead], watch, 100.0 + LEASE_TTL_SECONDS, this_process=ELSEWHERE, pid_alive=bool)
    assert judgement.verdict is Verdict.STALE and judgement.lease == dead
    assert "stopped renewing its lease 30s ago" in judgement.why and "https://gitlab/job/9" in judgement.why


@pytest.mark.parametrize("skew_hours", [-5, 0, 5])
def test_clock_skew_between_hosts_changes_nothing(skew_hours: int) -> None:
    """The lease's own timestamps come from the holder's clock; only the waiter's monotonic clock decides."""
    started = f"2026-12-06T{10 + skew_hours:02d}:00:00Z"
    watch = LeaseWatch()
    for tick in range(0, 120, 3):
        watch.observe([lease(tick // 5, started=started)], float(tick))
    assert verdict([lease(119 // 5, started=started)], watch, 119.0) is Verdict.LIVE
    frozen = lease(119 // 5, started=started)
    watch.observe([frozen], 200.0)
    assert verdict([frozen], watch, 200.0 + LEASE_TTL_SECONDS) is Verdict.STALE


def test_a_lock_the_project_did_not_write_is_never_broken_automatically() -> None:
    watch = LeaseWatch()
    for leases in ([], [lease(host="other-host")], [lease(cli_pids=(99,))]):
        watch.observe(leases, 0.0)
        judgement = judge(LOCK, leases, watch, 10_000.0, this_process=ELSEWHERE, pid_alive=lambda pid: False)
        assert judgement.verdict is Verdict.FOREIGN, leases
        assert "wrote no gitops lease" in judgement.why and "ci@runner-7 (pid 41)" in judgement.why


def test_a_lease_still_naming_no_cli_pid_covers_its_host_while_it_starts() -> None:
    starting = lease(0, cli_pids=())
    watch = LeaseWatch()
    watch.observe([starting], 0.0)
    assert verdict([starting], watch, 1.0) is Verdict.LIVE


def test_in_the_same_pid_namespace_the_processes_themselves_decide_at_once() -> None:
    here = lease(3, process="boot-a:ns")
    watch = LeaseWatch()
    watch.observe([here], 0.0)
    same = {"this_process": "boot-a:ns"}
    assert verdict([here], watch, 0.0, pid_alive=lambda pid: False, **same) is Verdict.STALE
    assert verdict([here], watch, 0.0, pid_alive=lambda pid: True, **same) is Verdict.LIVE
    orphan_cli = verdict([here], watch, 0.0, pid_alive=lambda pid: pid == 41, **same)
    assert orphan_cli is Verdict.LIVE, "its gitops process died but its CLI still runs and holds the lock"


def test_lock_and_lease_files_are_untrusted_input() -> None:
    lock = parse_lock("k", json.dumps({"pid": "41; rm -rf", "username": "a\x1b[31mb", "hostname": 7}))
    assert lock.pid == -1 and lock.user == "a[31mb" and lock.host == ""
    for text in ("not json", "[]", json.dumps({"pid": 1})):
        with pytest.raises(StateError):
            parse_lease("k", text)
    round_trip = parse_lease("k", lease(3).to_json())
    assert round_trip.renewals == 3 and round_trip.cli_pids == (41,) and round_trip.job == "https://gitlab/job/9"


def test_pending_operations_name_the_interrupted_apps_and_clusters() -> None:
    deployment = {
        "pending_operations": [
            {"type": "updating", "resource": {
                "urn": "urn:pulumi:prod::gitops::gitops:env:AppEnvironment$gitops:app:Application$"
                       "kubernetes:apps/v1:Deployment::prod-eu-web-prod-deploy",
                "type": "kubernetes:apps/v1:Deployment", "inputs": {"metadata": {"name": "web"}}}},
            {"type": "creating", "resource": {
                "urn": "urn:pulumi:prod::gitops::kubernetes:core/v1:Service::prod-us-web-api-prod-svc",
                "type": "kubernetes:core/v1:Service"}},
        ]
    }  # fmt: skip
    operations = pending_operations(deployment)
    assert [op.describe() for op in operations] == [
        "updating Deployment web",
        "creating Service prod-us-web-api-prod-svc",
    ]
    assert operations[1].is_create
    found = interrupted_apps(operations, ["prod-eu", "prod-us"], ["web", "web-api"], "prod")
    assert found == {"web": ["prod-eu"], "web-api": ["prod-us"]}
    with pytest.raises(StateError):
        pending_operations({"pending_operations": [{"type": "updating"}]})


def test_a_lock_whose_update_ended_without_removing_it_is_stale_at_once() -> None:
    """The CLI exited but the backend refused to delete its lock (a read-only or full volume): the gitops
    process says so in its lease, and a waiter on any host may break it without waiting out the TTL."""
    ended = Lease(".gitops/leases/x.json", "runner-7", 40, "boot-a", "alice", "", "deploy web", "t", 3, (41,), True)
    watch = LeaseWatch()
    watch.observe([ended], 0.0)
    judgement = judge(LOCK, [ended], watch, 0.0, this_process=ELSEWHERE, pid_alive=lambda pid: True)
    assert judgement.verdict is Verdict.STALE and "ended but the backend kept its lock" in judgement.why
    assert parse_lease("k", ended.to_json()).ended is True
