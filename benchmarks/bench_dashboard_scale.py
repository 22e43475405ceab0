"""Benchmark: the release dashboard at the scale the issue names (#28): 50 apps x 4 prod clusters, 50 apps in
staging, 1,000 live previews.

Run by hand: ``.venv/bin/python benchmarks/bench_dashboard_scale.py [--apps 50] [--previews 1000] [--repeat 3]``.

The state objects are written as the CLI lays them out (``tests.test_dashboard.write_stack``): prod's and
staging's checkpoints with every app's release (a fifth of prod's apps mid-rollout, one held after a
rollback), 20 history files each, and one checkpoint per preview stack padded to the size of a real preview
checkpoint (95 KB, measured in #27's benchmark). They go into a file backend and into a real PostgreSQL
server (Debian's; a table as the CLI creates it). Each round times, per backend, the whole
``gitops dashboard`` command (a process: imports, reads, render, write) and, in process, the reads and the
render alone. The last line is ``dashboard at A apps x 4 clusters, P previews: file X s, postgres Y s (the
command); render R s; page K KB`` (medians).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops.admin.backend_store import FileStore, PostgresStore, Store, backend_store  # noqa: E402
from gitops.admin.drift_record import DriftCheck, record_drift  # noqa: E402
from gitops.dashboard.page import Links, render  # noqa: E402
from gitops.dashboard.read import read_environment  # noqa: E402
from gitops.localcluster.postgres import LocalPostgres  # noqa: E402

CLUSTERS = ["prod-eu", "prod-us", "prod-ap", "prod-sa"]
PREVIEW_CHECKPOINT_BYTES = 95_000
NOW = datetime(2026, 12, 6, 12, 0, 0)


def sha(n: int) -> str:
    return f"{n:040x}"


def release(app: str, n: int, **extra: object) -> dict[str, object]:
    return {
        "commit": sha(n),
        "branch": "master",
        "action": "deploy",
        "released_at": "2026-12-06T09:00:00Z",
        "actor": "alice",
        "pipeline": f"https://gitlab.example.com/shop/{app}/-/pipelines/{n}",
        "digest": "sha256:" + f"{n:064x}",
        **extra,
    }


def checkpoint(stack: str, outputs: dict[str, object], pad_to: int = 0) -> str:
    resources: list[dict[str, object]] = [
        {
            "urn": f"urn:pulumi:{stack}::gitops::pulumi:pulumi:Stack::gitops-{stack}",
            "type": "pulumi:pulumi:Stack",
            "outputs": outputs,
        }
    ]
    n = 0
    while pad_to and len(json.dumps(resources)) < pad_to:
        resources.append(
            {
                "urn": f"urn:pulumi:{stack}::gitops::kubernetes:core/v1:ConfigMap::pad-{n}",
                "type": "kubernetes:core/v1:ConfigMap",
                "inputs": {"data": {"x": "y" * 2000}},
            }
        )
        n += 1
    return json.dumps({"version": 3, "checkpoint": {"stack": stack, "latest": {"resources": resources}}})


def history(stack: str, app: str, n: int) -> str:
    config = {"gitops:app": app, "gitops:commit": sha(n)}
    return json.dumps(
        {
            "kind": "update",
            "startTime": 1765000000 + n,
            "endTime": 1765000060 + n,
            "result": "succeeded",
            "message": f"deploy {app}@{sha(n)[:8]} from master by alice",
            "config": config,
            "environment": {},
            "version": n,
        }
    )


def fill(store: Store, apps: int, previews: int) -> None:
    names = [f"app{i:02d}" for i in range(apps)]
    for stack in ("prod", "staging"):
        releases = {}
        for i, app in enumerate(names):
            behind = {CLUSTERS[-1]: {"commit": sha(i + 1)}} if stack == "prod" and i % 5 == 0 else {}
            releases[app] = release(app, i + 2, **({"behind": behind} if behind else {}))
        holds = {
            names[1]: {
                "commits": [sha(9999)],
                "rolled_back_to": sha(3),
                "reason": "500s",
                "since": "2026-12-06T10:00:00Z",
            }
        }
        store.write(
            f".pulumi/stacks/gitops/{stack}.json",
            checkpoint(stack, {"releases": releases, "previews": {}, "holds": holds}),
        )
        for n in range(20):
            store.write(
                f".pulumi/history/gitops/{stack}/{stack}-{1765000000000000000 + n}.history.json",
                history(stack, names[n % apps], n),
            )
        record_drift(store, "gitops", stack, DriftCheck("2026-12-06T10:00:00Z"))
    store.write(
        ".pulumi/stacks/gitops/preview.json", checkpoint("preview", {"releases": {}, "previews": {}, "holds": {}})
    )
    for i in range(previews):
        app = names[i % apps]
        pid = f"{app}-f-{i}"
        preview = {
            "app": app,
            "branch": f"feature/f-{i}",
            "commit": sha(i),
            "namespace": pid,
            "url": f"https://{pid}.preview.example.com",
            "last_deployed": "2026-12-06T11:00:00Z",
            "actor": "dev",
        }
        outputs: dict[str, object] = {"releases": {}, "holds": {}, "previews": {pid: preview}}
        store.write(
            f".pulumi/stacks/gitops/preview-{pid}.json", checkpoint(f"preview-{pid}", outputs, PREVIEW_CHECKPOINT_BYTES)
        )


def in_process(store: Store) -> tuple[float, float, int]:
    """(seconds to read the three environments, seconds to render, page bytes)."""
    started = time.perf_counter()
    views = [
        read_environment(env, store, "gitops", previews=env == "preview") for env in ("prod", "staging", "preview")
    ]
    read = time.perf_counter() - started
    assert not any(v.problem for v in views), [v.problem for v in views]
    started = time.perf_counter()
    html = render(views, Links("https://gitlab.example.com", {}), NOW, ttl_hours=72, clusters={"prod": CLUSTERS})
    return read, time.perf_counter() - started, len(html.encode())


def command(url: str, out: Path) -> float:
    env = {**os.environ, **{f"GITOPS_STATE_URL_{e.upper()}": url for e in ("prod", "staging", "preview")}}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gitops", "dashboard", "--out", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--previews", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = LocalPostgres.start()
    try:
        url = server.create_environments("bench_dashboard", ["prod"])["prod"].url
        pg = backend_store({"PULUMI_BACKEND_URL": url})
        assert isinstance(pg, PostgresStore)
        pg._run(
            "CREATE TABLE {table} (key TEXT PRIMARY KEY, data JSON NOT NULL, "
            "updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            (),
        )  # the CLI's schema.sql
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            files = FileStore(folder / "state")
            for store in (files, pg):
                fill(store, args.apps, args.previews)
            print(
                f"state: {args.apps} apps x {len(CLUSTERS)} prod clusters, {args.previews} previews "
                f"({PREVIEW_CHECKPOINT_BYTES // 1000} KB checkpoints)"
            )
            timings: dict[str, list[float]] = {}
            size = 0
            for _ in range(args.repeat):
                for name, store, where in (("file", files, f"file://{folder / 'state'}"), ("postgres", pg, url)):
                    read, rendered, size = in_process(store)
                    timings.setdefault(f"{name} read", []).append(read)
                    timings.setdefault("render", []).append(rendered)
                    timings.setdefault(f"{name} command", []).append(command(where, folder / f"out-{name}"))
            for label, values in timings.items():
                print(
                    f"{label}: median {statistics.median(values):.2f} s (runs: {', '.join(f'{v:.2f}' for v in values)})"
                )
            print(
                f"dashboard at {args.apps} apps x {len(CLUSTERS)} clusters, {args.previews} previews: "
                f"file {statistics.median(timings['file command']):.2f} s, "
                f"postgres {statistics.median(timings['postgres command']):.2f} s (the command); "
                f"render {statistics.median(timings['render']):.2f} s; page {size // 1024} KB"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
