"""Releases in waves (#18): the settings, the event, the per-cluster state and the release command's order.

The program runs under the mock engine with real git; ``gitops release`` drives the fake CLI (the boundary
that cannot be real in this tier). The real engine and two real API servers: tests/e2e/test_e2e_waves.py.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from gitops.admin.audit import status_text
from gitops.admin.shared import EXIT_FAILED_RESTORED
from gitops.cli import main
from gitops.core.environments import ENVIRONMENTS
from gitops.core.errors import ConfigError
from gitops.core.settings import settings_from_config
from gitops.core.stackfile import load_stack_config
from gitops.offline.engine import ProgramRefused, RunResult
from tests.fake_pulumi import FakeBackend, FakePulumiCommand
from tests.gitutil import GitRepo
from tests.harness import INITIALIZED, ROOT, digest_of, run

TWO_WAVES: list[dict[str, Any]] = [{"clusters": ["prod-eu"], "bakeSeconds": 0}, {"clusters": ["prod-us"]}]
WAVES = {"gitops:waves": json.dumps(TWO_WAVES)}


def prod_settings(waves: Any) -> None:
    config = load_stack_config(ROOT, "prod")
    raw = {k.removeprefix("gitops:"): v for k, v in config.values.items() if k.startswith("gitops:")}
    settings_from_config(ENVIRONMENTS["prod"], {**raw, "waves": json.dumps(waves)}, source="Pulumi.prod.yaml")


@pytest.mark.parametrize(
    ("waves", "says"),
    [
        ([{"clusters": ["prod-eu"]}, {"clusters": ["prod-mars"]}], "names unknown cluster(s) prod-mars"),
        ([{"clusters": ["prod-eu"]}, {"clusters": ["prod-eu", "prod-us"]}], "repeats prod-eu"),
        ([{"clusters": ["prod-eu"]}], "leaves out prod-us"),
        ([{"clusters": []}, {"clusters": ["prod-eu", "prod-us"]}], "waves[0].clusters"),
        ([{"clusters": ["prod-eu"], "bakeSeconds": -1}, {"clusters": ["prod-us"]}], "bakeSeconds"),
        ([{"clusters": ["prod-eu"], "bakeSeconds": 86400}, {"clusters": ["prod-us"]}], "bakeSeconds"),
        ([{"clusters": ["prod-eu"], "bakeSeconds": "60"}, {"clusters": ["prod-us"]}], "bakeSeconds"),
        ([{"clusters": ["prod-eu"], "bake": 60}, {"clusters": ["prod-us"]}], "bake"),
        ({"clusters": ["prod-eu"]}, "gitops:waves"),
    ],
)
def test_hostile_wave_settings_are_refused_in_one_line(waves: Any, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        prod_settings(waves)
    header, *problems = str(err.value).splitlines()
    assert header == "Pulumi.prod.yaml is invalid:" and len(problems) == 1, "one error, on one line"
    assert problems[0].strip().startswith("gitops:waves") and says in problems[0]


def test_no_waves_is_one_wave_of_every_cluster() -> None:
    prod_settings(TWO_WAVES)  # valid
    config = load_stack_config(ROOT, "prod")
    raw = {k.removeprefix("gitops:"): v for k, v in config.values.items() if k.startswith("gitops:")}
    settings = settings_from_config(ENVIRONMENTS["prod"], raw, source="Pulumi.prod.yaml")
    assert [w.clusters for w in settings.rollout_waves()] == [["prod-eu", "prod-us"]]
    assert [w.bakeSeconds for w in settings.rollout_waves()] == [0]


@pytest.fixture()
def master(tmp_path: Path) -> tuple[GitRepo, list[str]]:
    repo = GitRepo(tmp_path / "web")
    return repo, [repo.head(), repo.commit("m2"), repo.commit("m3")]


def wave(repo: GitRepo, previous: dict[str, Any], commit: str, number: int, **extra: str) -> RunResult:
    event: dict[str, Any] = {"app": "web", "commit": commit, "wave": str(number), "targeted": "true", **extra}
    return run("prod", repo=repo.path, previous=previous, extra=WAVES, **event)


def images(result: RunResult, cluster: str) -> list[str]:
    return [
        r.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
        for r in result.resources
        if r.inputs.get("kind") == "Deployment" and r.name.startswith(f"{cluster}-web-")
    ]


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({"wave": "0", "targeted": "true"}, "wave number from 1 to 20"),
        ({"wave": "01", "targeted": "true"}, "wave number"),
        ({"wave": "two", "targeted": "true"}, "wave number"),
        ({"wave": "3", "targeted": "true"}, "this stack has 2 wave(s)"),
        ({"wave": "1"}, "gitops:wave is for targeted"),
        ({}, "releases in 2 waves"),
    ],
)
def test_a_wave_event_is_checked_before_anything_is_registered(
    master: tuple[GitRepo, list[str]], event: dict[str, Any], says: str
) -> None:
    repo, (m1, *_) = master
    with pytest.raises(ProgramRefused, match=re.escape(says)) as err:
        run("prod", repo=repo.path, extra=WAVES, app="web", commit=m1, **event)
    assert err.value.registered == []


def test_wave_by_wave_the_state_records_what_each_cluster_runs(master: tuple[GitRepo, list[str]]) -> None:
    repo, (m1, m2, m3) = master
    first = wave(repo, INITIALIZED, m1, 1)
    assert first.outputs["releases"]["web"]["behind"] == {"prod-us": {"commit": None, "digest": None}}
    assert (
        images(first, "prod-eu") == [f"registry.example.com/shop/web@{digest_of(m1)}"]
        and images(first, "prod-us") == []
    )
    both = wave(repo, first.outputs, m1, 2)
    assert "behind" not in both.outputs["releases"]["web"], "complete: the outputs are those of a one-wave stack"
    assert images(both, "prod-us") == images(both, "prod-eu")

    second = wave(repo, both.outputs, m2, 1)
    assert second.outputs["releases"]["web"]["behind"] == {"prod-us": {"commit": m1, "digest": digest_of(m1)}}
    assert images(second, "prod-eu") == [f"registry.example.com/shop/web@{digest_of(m2)}"]
    assert images(second, "prod-us") == [f"registry.example.com/shop/web@{digest_of(m1)}"], "not reached: as it was"
    assert "MID-ROLLOUT" in status_text("prod", second.outputs) and f"prod-us: still runs {m1[:8]}" in status_text(
        "prod", second.outputs
    )
    with pytest.raises(ProgramRefused, match="the release in progress is"):
        wave(repo, second.outputs, m3, 2)  # a later wave of another release: start from wave 1
    # an interrupted rollout is completed by the next release, from wave 1
    third = wave(repo, wave(repo, second.outputs, m3, 1).outputs, m3, 2)
    assert "behind" not in third.outputs["releases"]["web"] and images(third, "prod-us") == images(third, "prod-eu")


def test_a_restore_after_a_failed_wave_puts_back_the_clusters_it_reached(master: tuple[GitRepo, list[str]]) -> None:
    repo, (m1, m2, _) = master
    live = wave(repo, wave(repo, INITIALIZED, m1, 1).outputs, m1, 2).outputs
    failed = wave(repo, wave(repo, live, m2, 1).outputs, m2, 2).outputs  # recorded, though wave 2's rollout failed
    restore = {"action": "restore", "digest": digest_of(m1), "reason": "automatic restore"}
    restored = wave(repo, failed, m1, 2, **restore)
    web = restored.outputs["releases"]["web"]
    assert (web["commit"], web["action"], "behind" in web) == (m1, "restore", False)
    early = wave(repo, wave(repo, live, m2, 1).outputs, m1, 1, **restore)  # failed at wave 1: prod-us never moved
    assert early.outputs["releases"]["web"]["commit"] == m1 and "behind" not in early.outputs["releases"]["web"]


def waves_root(tmp_path: Path, waves: list[dict[str, Any]]) -> Path:
    """A deploy repo whose prod stack file sets gitops:waves (the release command reads the stack file)."""
    root = tmp_path / "deploy"
    root.mkdir()
    for name in ("Pulumi.yaml", "apps.yaml"):
        shutil.copy(ROOT / name, root / name)
    text = (ROOT / "Pulumi.prod.yaml").read_text(encoding="utf-8")
    (root / "Pulumi.prod.yaml").write_text(text + f"  gitops:waves: '{json.dumps(waves)}'\n", encoding="utf-8")
    return root


def release(backend: FakeBackend, repo: GitRepo, commit: str, dotenv: Path) -> int:
    argv = ["release", "--stack", "prod", "--app", "web", "--branch", "master", "--commit", commit]
    argv += [
        "--digest",
        digest_of(commit),
        "--repo",
        str(repo.path),
        "--dotenv",
        str(dotenv),
    ]
    return main(argv, pulumi_command=FakePulumiCommand(backend))


def test_gitops_release_goes_wave_by_wave_and_stops_at_the_failed_wave(
    master: tuple[GitRepo, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, (m1, m2, _) = master
    backend = FakeBackend("prod", waves_root(tmp_path, TWO_WAVES), outputs=INITIALIZED)
    monkeypatch.setattr("gitops.cli.PROJECT_ROOT", backend.root)
    dotenv = tmp_path / "deploy.env"
    assert release(backend, repo, m1, dotenv) == 0
    ups = [c for c in backend.calls if c[0] == "up"]
    assert ["wave 1/2 (prod-eu)" in " ".join(c) for c in ups] == [True, False]
    assert all("prod-us" not in t for t in backend.targets[0]) and all("prod-eu" not in t for t in backend.targets[1])
    assert "behind" not in backend.outputs["releases"]["web"]

    backend.fail_wave = "2"
    assert release(backend, repo, m2, dotenv) == EXIT_FAILED_RESTORED
    restore_targets = backend.targets[-1]
    assert any("prod-eu" in t for t in restore_targets) and any("prod-us" in t for t in restore_targets)
    web = backend.outputs["releases"]["web"]
    assert (web["commit"], web["action"], "behind" in web) == (m1, "restore", False)
    reason = dotenv.read_text()
    assert "wave 2 (prod-us) failed" in reason and "restored on prod-eu, prod-us" in reason

    backend.fail_wave = "1"
    calls = len(backend.targets)
    assert release(backend, repo, m2, dotenv) == EXIT_FAILED_RESTORED
    assert all("prod-us" not in t for t in backend.targets[calls:][0] + backend.targets[-1]), "wave 2 never touched"
    assert "wave 1 (prod-eu) failed" in dotenv.read_text()


class CountingReader:
    """Stands in for one cluster's pod list (the real reader, against real API servers: tests/e2e)."""

    def __init__(self, *counts: dict[str, int]) -> None:
        self.counts = list(counts)

    def restarts(self, namespace: str, app: str) -> dict[str, int]:
        assert namespace == app == "web"
        return self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]


def test_the_bake_fails_at_the_first_restart_and_passes_a_quiet_wave() -> None:
    from gitops.admin.bake import BakeError, bake

    now = [0.0]
    quiet = {"prod-eu": CountingReader({"web-1/web": 0})}
    bake(
        quiet, "web", 10, on_output=lambda _: None, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    assert now[0] == 10, "watched for the whole bake"
    restarting = {"prod-eu": CountingReader({"web-1/web": 0}, {"web-1/web": 0}, {"web-1/web": 1})}
    now[0] = 0.0
    with pytest.raises(BakeError, match="web-1/web on prod-eu restarted during the bake"):
        bake(
            restarting,
            "web",
            10,
            on_output=lambda _: None,
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + s),
        )
    assert now[0] < 10, "stopped at the restart"


def one_cluster_rollback(repo: GitRepo, previous: dict[str, Any], commit: str, cluster: str) -> RunResult:
    event: dict[str, Any] = {
        "app": "web",
        "commit": commit,
        "action": "rollback",
        "digest": digest_of(commit),
        "reason": "500s",
    }
    return run("prod", repo=repo.path, previous=previous, extra=WAVES, targeted="true", cluster=cluster, **event)


def test_a_rollback_of_one_cluster_leaves_the_others_on_the_release(master: tuple[GitRepo, list[str]]) -> None:
    repo, (m1, m2, m3) = master
    live = wave(
        repo, wave(repo, wave(repo, wave(repo, INITIALIZED, m1, 1).outputs, m1, 2).outputs, m2, 1).outputs, m2, 2
    )
    back = one_cluster_rollback(repo, live.outputs, m1, "prod-us")
    web = back.outputs["releases"]["web"]
    assert (web["commit"], web["behind"]) == (
        m2,
        {"prod-us": {"commit": m1, "digest": digest_of(m1), "rolled_back": True}},
    )
    assert images(back, "prod-us") == [f"registry.example.com/shop/web@{digest_of(m1)}"]
    assert images(back, "prod-eu") == [f"registry.example.com/shop/web@{digest_of(m2)}"]
    assert back.outputs["holds"]["web"]["commits"] == [m2], "the commit rolled back is held on every cluster"
    shown = status_text("prod", back.outputs)
    assert f"prod-us: ROLLED BACK to {m1[:8]}" in shown and "MID-ROLLOUT" not in shown

    with pytest.raises(ProgramRefused, match="is on hold") as err:
        wave(repo, back.outputs, m2, 2)  # the held commit goes on to no further cluster
    assert err.value.registered == []
    with pytest.raises(ProgramRefused, match="last cluster that runs"):
        one_cluster_rollback(repo, back.outputs, m1, "prod-eu")
    with pytest.raises(ProgramRefused, match="not a cluster of this stack"):
        one_cluster_rollback(repo, live.outputs, m1, "prod-mars")
    # a fix reaches every cluster again, wave by wave; until its wave, prod-us stays rolled back
    fix_1 = wave(repo, back.outputs, m3, 1)
    assert fix_1.outputs["releases"]["web"]["behind"]["prod-us"]["rolled_back"] is True
    fixed = wave(repo, fix_1.outputs, m3, 2)
    assert "behind" not in fixed.outputs["releases"]["web"] and "web" not in fixed.outputs["holds"]
    assert images(fixed, "prod-us") == images(fixed, "prod-eu") == [f"registry.example.com/shop/web@{digest_of(m3)}"]


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({"targeted": "true", "cluster": "Prod_US"}, "gitops:cluster 'Prod_US' must be lowercase"),
        ({"cluster": "prod-us"}, "gitops:cluster is for a targeted staging/prod rollback"),
        ({"targeted": "true", "cluster": "prod-us", "action": "deploy"}, "gitops:cluster is for a targeted"),
    ],
)
def test_a_cluster_event_is_checked_before_anything_is_registered(
    master: tuple[GitRepo, list[str]], event: dict[str, Any], says: str
) -> None:
    repo, (m1, *_) = master
    live = wave(repo, wave(repo, INITIALIZED, m1, 1).outputs, m1, 2).outputs
    base = {"app": "web", "commit": m1, "action": "rollback", "digest": digest_of(m1), "reason": "r"}
    with pytest.raises(ProgramRefused, match=re.escape(says)) as err:
        run("prod", repo=repo.path, previous=live, extra=WAVES, **{**base, **event})
    assert err.value.registered == []


def with_smoke(root: Path, code: str) -> None:
    """The deploy repo's catalog gives web a smoke command (a Python one-liner, run from the repo's root)."""
    catalog = root / "apps.yaml"
    command = json.dumps([sys.executable, "-c", code])
    text = catalog.read_text(encoding="utf-8")
    catalog.write_text(
        text.replace(
            "    health_path: /healthz\n", f"    health_path: /healthz\n    smoke:\n      command: {command}\n", 1
        )
    )


SMOKE_LOG = (
    "import os; open('smoke.log', 'a').write(os.environ['GITOPS_CLUSTER'] + ' ' + os.environ['GITOPS_COMMIT'] + '\\n')"
)


def test_the_smoke_command_runs_after_each_wave_in_order_and_a_failure_stops_the_release(
    master: tuple[GitRepo, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, (m1, m2, _) = master
    root = waves_root(tmp_path, TWO_WAVES)
    with_smoke(
        root,
        SMOKE_LOG + "; import sys; sys.exit(3 if os.environ['GITOPS_COMMIT'].startswith(" + repr(m2[:12]) + ") else 0)",
    )
    backend = FakeBackend("prod", root, outputs=INITIALIZED)
    monkeypatch.setattr("gitops.cli.PROJECT_ROOT", backend.root)
    dotenv = tmp_path / "deploy.env"
    assert release(backend, repo, m1, dotenv) == 0
    assert (root / "smoke.log").read_text() == f"prod-eu {m1}\nprod-us {m1}\n", "after each wave, in order"

    assert release(backend, repo, m2, dotenv) == EXIT_FAILED_RESTORED
    assert (root / "smoke.log").read_text().splitlines()[2:] == [f"prod-eu {m2}"], "wave 2 never reached"
    assert "wave 1 (prod-eu) failed: smoke command on prod-eu exited 3" in dotenv.read_text()
    assert all("prod-us" not in t for t in backend.targets[-1]) and backend.outputs["releases"]["web"]["commit"] == m1


def test_a_stack_of_one_wave_goes_through_the_checks_where_one_is_configured(
    master: tuple[GitRepo, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, (m1, *_) = master
    root = waves_root(tmp_path, [{"clusters": ["prod-eu", "prod-us"]}])
    with_smoke(root, SMOKE_LOG)
    backend = FakeBackend("prod", root, outputs=INITIALIZED)
    monkeypatch.setattr("gitops.cli.PROJECT_ROOT", backend.root)
    assert release(backend, repo, m1, tmp_path / "deploy.env") == 0
    assert (root / "smoke.log").read_text() == f"prod-eu {m1}\nprod-us {m1}\n"
    ups = [c for c in backend.calls if c[0] == "up"]
    assert len(ups) == 1 and "wave 1/1 (prod-eu, prod-us)" in " ".join(ups[0])
