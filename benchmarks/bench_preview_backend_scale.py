"""Benchmark (real engine, local clusters, a real PostgreSQL server): the team backend at scale.

Run by hand: ``.venv/bin/python benchmarks/bench_preview_backend_scale.py [--previews 1000] [--repeat 3]``.

The previews' state is the team backend of the README (a database and role per environment on Debian's
PostgreSQL). One real preview is deployed; the other live previews are copies of its checkpoint (same size,
each under its own stack name) written straight into the table as the CLI writes rows: deploying 1,000 real
previews would take hours and measure the clusters, not the backend. Each round, interleaved:

- **preview deploy**: ``gitops release --stack preview`` of the real preview at a new commit (its deploy
  applies TTL and cap over every live preview) with 10 live previews, then with ``--previews``;
- **stack listings**: `pulumi stack ls` (what TTL and cap read before) and gitops' stack index, at both sizes;
- **sweep**: ``gitops sweep --dry-run`` over every live preview (branch facts from the app's clone), its time
  and the statements and rows it made the server serve (``pg_stat_database`` of the preview database);
- **four runners**: four apps released into staging at once from four runner folders (their own engine
  folder and Pulumi home) / one app's release alone.

The last line is ``team backend: preview deploy at N / 10 previews = X; sweep at N previews = S s; four
runners / one = Y`` (medians).
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops.core.naming import preview_stack  # noqa: E402
from gitops.localcluster.postgres import LocalPostgres  # noqa: E402
from gitops.localcluster.tools import build_tools  # noqa: E402
from tests.e2e.world import World, catalog_of, digest, start_world  # noqa: E402

SMALL = 10
APPS = ["web", "app1", "app2", "app3"]


class PreviewTable:
    """The preview database's rows, written as the CLI writes them (``gitops.admin.backend_store``)."""

    def __init__(self, server: LocalPostgres, world: World) -> None:
        self.server = server
        self.database = urlparse(world.project.environments["preview"]["PULUMI_BACKEND_URL"]).path.lstrip("/")
        self.prefix = f"{self.database}/.pulumi/stacks/gitops/"

    def copy_previews(self, template_stack: str, count: int) -> int:
        """``count`` more live previews: the template's checkpoint under each new stack's name. Its size."""
        with self.server.connect(self.database) as db:
            row = db.execute("SELECT data FROM pulumi_state WHERE key = %s", (f"{self.prefix}{template_stack}.json",))
            (data,) = row.fetchone() or (None,)
            assert data is not None, f"no checkpoint of {template_stack}"
            blob = data if isinstance(data, dict) else json.loads(str(data))
            text = base64.b64decode(blob["data"]).decode()
            rows = []
            for i in range(count):
                stack = preview_stack("web", f"bench/live-{i}")
                copied = text.replace(template_stack, stack)
                rows.append(
                    (f"{self.prefix}{stack}.json", json.dumps({"data": base64.b64encode(copied.encode()).decode()}))
                )
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO pulumi_state (key, data) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", rows
                )
            return len(text)

    def keep_previews(self, count: int) -> None:
        """Remove the copies beyond the first ``count``."""
        with self.server.connect(self.database) as db:
            wanted = {f"{self.prefix}{preview_stack('web', f'bench/live-{i}')}.json" for i in range(count)}
            present = [k for (k,) in db.execute("SELECT key FROM pulumi_state WHERE key LIKE %s",
                                                (f"{self.prefix}preview-web-bench-live-%",))]  # fmt: skip
            db.execute("DELETE FROM pulumi_state WHERE key = ANY(%s)", ([k for k in present if k not in wanted],))

    def served(self) -> tuple[int, int]:
        """(statements committed, rows returned) by the server for the preview database so far."""
        with self.server.connect(self.database) as db:
            db.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(0.6)  # the statistics are flushed by each session as it ends
        with self.server.connect() as db:
            db.execute("SELECT pg_stat_clear_snapshot()")
            row = db.execute(
                "SELECT xact_commit, tup_returned FROM pg_stat_database WHERE datname = %s", (self.database,)
            ).fetchone()
        assert row is not None
        return int(str(row[0])), int(str(row[1]))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--previews", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tools = build_tools(quiet=True)
    server = LocalPostgres.start()
    folder = Path(tempfile.mkdtemp(prefix="bench-team-backend-"))
    world = start_world(folder, tools, ["preview", "staging"], catalog_text=catalog_of(APPS), postgres=server)
    try:
        run(world, server, args.previews, args.repeat)
    finally:
        world.clusters.stop()
        server.stop()


def run(world: World, server: LocalPostgres, previews: int, repeat: int) -> None:
    stack_file = world.workdir / "Pulumi.preview.yaml"
    stack_file.write_text(stack_file.read_text().replace("max_previews: 20", "max_previews: 5000"))
    world.gitops("apply", "--stack", "preview")
    repos = {app: world.app_repo(app) for app in APPS}
    web = repos["web"]
    branch = "feature/bench"
    commit = web.branch_with_commit(branch, "latest")

    def deploy_preview() -> None:
        clone = world.ci_clone("web", web.tip(branch))
        world.gitops("release", "--stack", "preview", "--app", "web", "--branch", branch,
                     "--commit", web.tip(branch), "--repo", str(clone))  # fmt: skip

    deploy_preview()
    table = PreviewTable(server, world)
    size = table.copy_previews(preview_stack("web", branch), previews - 1)
    print(f"{previews} live previews: checkpoints of {size} bytes each (copies of a deployed preview's)")
    sweep_clone = world.ci_clone("web", commit)

    world.gitops("init", "--stack", "staging")
    for app in APPS:
        repos[app].git("branch", "-f", "latest", "master")
    runners = [world.runner(n) for n in range(len(APPS))]
    build = [0]

    def release(app: str, runner: dict[str, str]) -> None:
        build[0] += 1
        repo = repos[app]
        repo.checkout("master")
        new = repo.commit(f"{app} change {build[0]}")
        repo.git("branch", "-f", "latest", "master")
        world.ci_release("staging", app, new, image_digest=digest(build[0]), runner=runner)

    for app, runner in zip(APPS, runners, strict=True):
        release(app, runner)  # every app's first release: the rounds measure releases at a new commit

    def list_stacks() -> None:
        world.pulumi("stack", "ls", "--json", "--stack", "preview")

    def read_index() -> None:
        code = (
            "from pathlib import Path; from gitops.admin.previews import PreviewFleet; "
            "PreviewFleet(Path('.'), None, wait_seconds=0).stack_index()"
        )
        world.run([str(world.workdir / ".venv" / "bin" / "python"), "-c", code], extra={"GITOPS_STACK": "preview"})

    samples: dict[str, list[float]] = {k: [] for k in ("small", "large", "one", "four", "ls-small", "ls-large",
                                                        "index-small", "index-large", "sweep")}  # fmt: skip
    reads: list[tuple[int, int]] = []
    for round_ in range(repeat):
        for size_name, count in (("small", SMALL), ("large", previews)):
            table.keep_previews(count - 1)
            table.copy_previews(preview_stack("web", branch), count - 1)
            web.checkout(branch)
            web.commit(f"round {round_} {size_name}")
            samples[size_name].append(timed(deploy_preview))
            samples[f"ls-{size_name}"].append(timed(list_stacks))
            samples[f"index-{size_name}"].append(timed(read_index))
        before = table.served()
        samples["sweep"].append(timed(lambda: world.gitops("sweep", "--dry-run", "--repo", f"web={sweep_clone}")))
        after = table.served()
        reads.append((after[0] - before[0], after[1] - before[1]))
        samples["one"].append(timed(lambda: release("web", runners[0])))
        with ThreadPoolExecutor(len(APPS)) as pool:
            started = time.perf_counter()
            list(pool.map(release, APPS, runners))
            samples["four"].append(time.perf_counter() - started)

    median = {k: statistics.median(v) for k, v in samples.items()}
    for name, values in samples.items():
        print(f"{name:12} median {median[name]:7.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
    statements, rows = reads[-1]
    print(f"sweep at {previews} previews: {statements} statements, {rows} rows served by the preview database")
    print(
        f"`pulumi stack ls` at {previews} / {SMALL} previews = {median['ls-large'] / median['ls-small']:.2f}x "
        f"({median['ls-large']:.2f} s); gitops' stack index = {median['index-large'] / median['index-small']:.2f}x"
    )
    print(
        f"team backend: preview deploy at {previews} / {SMALL} previews = {median['large'] / median['small']:.2f}; "
        f"sweep at {previews} previews = {median['sweep']:.1f} s; four runners / one = "
        f"{median['four'] / median['one']:.2f}"
    )


if __name__ == "__main__":
    main()
