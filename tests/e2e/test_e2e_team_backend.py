"""The team backend on a real PostgreSQL server: least privilege per environment, many runners at once, and
an admin's backup and restore. Every assertion reads what the server, the backend and the clusters hold."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from gitops.admin.cli import postgres_safe_parallelism
from gitops.localcluster.postgres import ADMIN, LocalPostgres
from tests.e2e.world import ROOT, World, WorldFactory, bounded_run, catalog_of, digest

RUNNERS = 4


def _url(world: World, environment: str) -> str:
    return world.project.environments[environment]["PULUMI_BACKEND_URL"]


def _with_role_of(url: str, other: str) -> str:
    """``url``'s database, reached with the role and password of ``other`` (what a job holding only ``other``
    could try)."""
    target, creds = urlparse(url), urlparse(other)
    return target._replace(netloc=f"{creds.username}:{creds.password}@{target.hostname}:{target.port}").geturl()


def _cli(world: World, url: str, environment: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**world.env(stack=environment), "PULUMI_BACKEND_URL": url}
    return bounded_run([str(world.tools["pulumi"]), *args, "--non-interactive"], cwd=world.workdir, env=env)


def test_each_environment_role_reaches_its_own_state_only(world_factory: WorldFactory) -> None:
    """A preview job holds the preview role: the server refuses it staging's and prod's databases (read and
    write), and in its own database there is no staging or prod stack to read, nor their passphrase."""
    world = world_factory(["staging"])
    world.app_repo("web")
    world.gitops("init", "--stack", "staging")
    assert _url(world, "staging").startswith("postgres://"), "the e2e tier runs on the team backend"
    preview = _url(world, "preview")
    assert world.outputs("staging") == {"holds": {}, "previews": {}, "releases": {}}

    for environment in ("staging", "prod"):
        forged = _with_role_of(_url(world, environment), preview)
        read = _cli(world, forged, "preview", "stack", "export", "--stack", environment)
        assert read.returncode != 0
        assert "permission denied for database" in read.stderr, read.stderr[-2000:]
        write = _cli(world, forged, "preview", "stack", "init", f"{environment}-by-preview")
        assert write.returncode != 0 and "permission denied for database" in write.stderr, write.stderr[-2000:]
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(forged.split("?")[0], connect_timeout=5)

    own = _cli(world, preview, "preview", "stack", "ls", "--json")
    assert own.returncode == 0, own.stderr
    assert "staging" not in own.stdout and "prod" not in own.stdout
    missing = _cli(world, preview, "preview", "stack", "export", "--stack", "staging")
    assert missing.returncode != 0 and "no stack named" in missing.stderr.lower(), missing.stderr[-2000:]
    assert (
        world.env(stack="preview")["PULUMI_CONFIG_PASSPHRASE"] != world.env(stack="staging")["PULUMI_CONFIG_PASSPHRASE"]
    ), "each environment's secrets are under a passphrase of its own"
    with psycopg.connect(_url(world, "staging").split("?")[0]) as own_role:  # staging's role reads its own rows
        keys = [k for (k,) in own_role.execute("SELECT key FROM pulumi_state")]
    database = urlparse(_url(world, "staging")).path.lstrip("/")
    assert f"{database}/.pulumi/stacks/gitops/staging.json" in keys, keys


def test_four_runners_releasing_different_apps_at_once_all_land(world_factory: WorldFactory) -> None:
    """Four CI jobs on four runners (separate folders and Pulumi homes) release four apps into staging at
    once: they queue on the stack's lock in the shared backend and every release lands, none lost."""
    apps = [f"app{n}" for n in range(RUNNERS)]
    world = world_factory(["staging"], catalog_text=catalog_of(apps))
    commits = {}
    for app in apps:
        repo = world.app_repo(app)
        commits[app] = repo.commit(f"{app} feature")
        repo.git("branch", "-f", "latest", "master")
    world.gitops("init", "--stack", "staging")
    runners = [{**world.runner(n), "GITOPS_LOCK_WAIT_SECONDS": "600"} for n in range(RUNNERS)]

    def release(n: int) -> subprocess.CompletedProcess[str]:
        app = apps[n]
        return world.ci_release("staging", app, commits[app], image_digest=digest(n + 1), check=False,
                                runner=runners[n])  # fmt: skip

    with ThreadPoolExecutor(RUNNERS) as pool:
        done = list(pool.map(release, range(RUNNERS)))
    for n, job in enumerate(done):
        assert job.returncode == 0, f"runner {n}: {job.stdout[-3000:]}\n{job.stderr[-2000:]}"

    releases = world.outputs("staging")["releases"]
    assert {app: releases[app]["commit"] for app in apps} == commits, "every release is in the state"
    for app in apps:
        deployment = world.deployment("staging", app, app)
        assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == commits[app], app
    messages = [str(u.get("message")) for u in world.history("staging") if u.get("kind") == "update"]
    for app in apps:
        shipped = [m for m in messages if m.startswith(f"deploy {app}@{commits[app][:8]}")]
        assert len(shipped) == 1, (app, messages)
    results = [u["result"] for u in world.history("staging") if u.get("kind") == "update"]
    assert results and all(r == "succeeded" for r in results), results


def _admin_env(postgres: LocalPostgres) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PG", "PULUMI_"))},
        "PGHOST": "127.0.0.1",
        "PGPORT": str(postgres.port),
        "PGUSER": ADMIN,
        "PGPASSWORD": postgres.admin_password,
    }


def test_an_environment_state_is_backed_up_dropped_and_restored_with_its_history(
    world_factory: WorldFactory, postgres: LocalPostgres, tmp_path: Path
) -> None:
    """The admin procedure of the README (ci/state-backup.sh): dump staging's database, lose it, restore it;
    the history is the same, the next release works, and a restore over live state is refused."""
    world = world_factory(["staging"])
    repo = world.app_repo("web")
    first = repo.commit("first")
    repo.git("branch", "-f", "latest", "master")
    world.gitops("init", "--stack", "staging")
    world.ci_release("staging", "web", first, image_digest=digest(1))
    history = world.history("staging")
    database = urlparse(_url(world, "staging")).path.lstrip("/")
    script, admin, backup = str(ROOT / "ci" / "state-backup.sh"), _admin_env(postgres), tmp_path / "staging.dump"

    dumped = bounded_run(["bash", script, "dump", database, str(backup)], cwd=tmp_path, env=admin)
    assert dumped.returncode == 0, dumped.stderr
    refused = bounded_run(["bash", script, "restore", database, database, str(backup)], cwd=tmp_path, env=admin)
    assert refused.returncode == 2 and "never overwrites state" in refused.stderr, refused.stderr

    with postgres.connect() as server:
        server.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
    lost = world.pulumi("stack", "history", "--stack", "staging", check=False)
    assert lost.returncode != 0 and f'database "{database}" does not exist' in lost.stderr, lost.stderr[-2000:]

    restored = bounded_run(["bash", script, "restore", database, database, str(backup)], cwd=tmp_path, env=admin)
    assert restored.returncode == 0, restored.stderr
    assert world.history("staging") == history, "the history is the one before the loss"
    assert world.outputs("staging")["releases"]["web"]["commit"] == first

    second = repo.commit("second")
    repo.git("branch", "-f", "latest", "master")
    world.ci_release("staging", "web", second, image_digest=digest(2))
    assert world.deployment("staging", "web", "web")["metadata"]["labels"]["app.kubernetes.io/version"] == second
    assert len(world.history("staging")) == len(history) + 1
    with psycopg.connect(_url(world, "staging").split("?")[0]) as owner:  # the restored database is the role's
        who = owner.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'pulumi_state'").fetchone()
    assert who == (database,)


def test_the_cli_listing_many_stacks_on_postgres_hangs_unless_its_parallelism_is_one(
    postgres: LocalPostgres, tools: dict[str, Path], tmp_path: Path
) -> None:
    """An engine fact this backend showed: `pulumi stack ls` over 40 stacks with the CLI's default parallelism
    (10 listings at once, each needing two of the pool's 2 x GOMAXPROCS connections) waits forever; with
    ``PULUMI_DIY_BACKEND_PARALLEL=1``, which gitops sets for every CLI it runs there, it lists them all."""
    url = postgres.create_environments("listing", ["preview"])["preview"].url
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: gitops\nruntime: python\n", encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")},
        "PULUMI_BACKEND_URL": url,
        "PULUMI_CONFIG_PASSPHRASE": "listing",
        "PULUMI_HOME": str(tmp_path / "home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    pulumi = str(tools["pulumi"])
    subprocess.run([pulumi, "stack", "init", "s0", "--non-interactive"], cwd=project, env=env, check=True,
                   capture_output=True)  # fmt: skip
    with postgres.connect("listing_preview") as db:  # 39 more stacks: the first one's rows under other names
        for n in range(1, 40):
            db.execute(
                "INSERT INTO pulumi_state (key, data) SELECT replace(key, '/s0.json', %s), data FROM pulumi_state "
                "WHERE key LIKE '%%/.pulumi/stacks/gitops/s0.json'",
                (f"/s{n}.json",),
            )
    listing = [pulumi, "stack", "ls", "--json", "--non-interactive"]
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(listing, cwd=project, env={**env, "PULUMI_DIY_BACKEND_PARALLEL": "10"}, capture_output=True,
                       timeout=20)  # fmt: skip
    safe = {**env, **postgres_safe_parallelism(env)}
    assert safe["PULUMI_DIY_BACKEND_PARALLEL"] == "1"
    done = subprocess.run(listing, cwd=project, env=safe, capture_output=True, text=True, timeout=120, check=True)
    assert len(json.loads(done.stdout)) == 40
