"""Benchmark: the fixed cost of a small stack, one preview deploy against a bare program's floor.

Run by hand: ``.venv/bin/python benchmarks/bench_preview_fixed_cost.py [--repeat 5]``.

A redeploy into one ``preview-<id>`` stack registers about twenty resources; most of its cost is
start-up. Each run is a fresh Python process that evaluates under the same mock engine
(``gitops.offline.engine``) and reports the CPU seconds of the whole process (interpreter start,
imports and evaluation):

- **program**: the real program deploys the sample ``web`` app's feature branch into its preview stack;
- **floor**: a bare, hand-written program: it registers exactly the resources the program registered
  (same types, names, parents, providers and inputs) with ``pulumi_kubernetes``' own classes, nothing else.

The program runs as ``__main__.py`` runs it (its garbage-collector settings included); the floor runs
with Python's defaults, as a bare program would, and once more with the program's settings, for
comparison. The last line is ``preview deploy: program X s / floor Y s CPU = Z`` (medians).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COMMON = """
import json, resource, sys
from datetime import datetime
from pathlib import Path
sys.path.insert(0, {root!r})
from gitops.offline.engine import run_program
from gitops.core.stackfile import StackConfig
args = json.loads(Path({args!r}).read_text())
def cpu():
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime
"""

EARLY_GC = "import gc\ngc.set_threshold(50_000, 50, 100)  # as __main__.py does, before the imports\n"

PROGRAM = (
    EARLY_GC
    + COMMON
    + """
from gitops import program
program.tune_gc()  # as __main__.py does, after them
config = StackConfig(args["values"], args["secret_keys"])
result = run_program(args["stack"], config, root=Path({root!r}), now=datetime(2026, 3, 4, 12),
                     previous_outputs=args["previous"], other_stacks=args["others"])
registered = [dict(type=r.type, name=r.name, urn=r.urn, parent=r.parent, provider=r.provider,
                   custom=r.custom, inputs=r.inputs) for r in result.resources]
Path({record!r}).write_text(json.dumps(registered))
print(json.dumps({{"cpu": cpu(), "resources": len(registered)}}))
"""
)

FLOOR = (
    COMMON
    + """
import importlib, re
import pulumi
import pulumi_kubernetes
registered = json.loads(Path({record!r}).read_text())
def typed_class(token):
    # the pulumi_kubernetes class of a type token, as a hand-written program would use it
    if token == "pulumi:providers:kubernetes":
        return pulumi_kubernetes.Provider
    group, version = token.split(":")[1].split("/")
    module = importlib.import_module(f"pulumi_kubernetes.{{group.split('.')[0]}}.{{version}}")
    return getattr(module, token.split(":")[2])

def snake(key):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()

async def bare(**_):
    by_urn = {{}}
    for r in registered:
        provider = by_urn.get(r["provider"].rsplit("::", 1)[0]) if r["provider"] else None
        opts = pulumi.ResourceOptions(parent=by_urn.get(r["parent"]), provider=provider)
        if r["custom"]:
            kwargs = {{snake(k): v for k, v in r["inputs"].items() if k not in ("apiVersion", "kind", "version")}}
            if r["type"].startswith("pulumi:providers:"):  # the provider's flags are typed booleans
                kwargs = {{k: {{"true": True, "false": False}}.get(v, v) for k, v in kwargs.items()}}
            res = typed_class(r["type"])(r["name"], opts=opts, **kwargs)
        else:
            res = pulumi.ComponentResource(r["type"], r["name"], None, opts)
        by_urn[r["urn"]] = res
    return {{}}

result = run_program(args["stack"], StackConfig({{}}, []), root=Path({root!r}), now=datetime(2026, 3, 4, 12), main=bare)
cpu_seconds = cpu()
same = {{r.urn: (r.type, r.name, r.parent, r.inputs) for r in result.resources}} == {{
    r["urn"]: (r["type"], r["name"], r["parent"], r["inputs"]) for r in registered}}
print(json.dumps({{"cpu": cpu_seconds, "resources": len(result.resources), "same": same}}))
"""
)


# For transparency: the floor with the program's garbage collector settings.
FLOOR_TUNED = EARLY_GC + FLOOR.replace("registered = json.loads", "gc.freeze()\nregistered = json.loads", 1)


def write_args(tmp: Path) -> Path:
    """The sample web app's feature branch, deployed into its own preview stack."""
    from gitops.core.naming import preview_stack
    from gitops.core.stackfile import load_stack_config
    from gitops.offline.sample import build_sample_repo

    repo = build_sample_repo(tmp / "web", "web")
    stack = preview_stack("web", repo.feature_branch)
    event = {"app": "web", "branch": repo.feature_branch, "commit": repo.feature, "sourceRepo": str(repo.path)}
    secrets = {"web": {"SESSION_KEY": "bench-session-key"}, "api": {"DATABASE_URL": "postgres://bench@db/api"}}
    config = load_stack_config(ROOT, stack).with_overrides(
        {**{f"gitops:{k}": v for k, v in event.items()}, "gitops:appSecrets": json.dumps(secrets)}
    )
    registry = {app: {"username": f"gitops-preview-{app}", "token": f"{app}-token"} for app in ("web", "api")}
    args = {
        "stack": stack,
        "values": dict(config.values),
        "secret_keys": [*config.secret_keys, "gitops:appSecrets"],
        "previous": {"releases": {}, "previews": {}, "holds": {}},
        "others": {"preview": {"registry": registry}},
    }
    path = tmp / "args.json"
    path.write_text(json.dumps(args), encoding="utf-8")
    return path


def run_child(template: str, args: Path, record: Path) -> dict[str, float]:  # cpu, resources (, same)
    code = template.format(root=str(ROOT), args=str(args), record=str(record))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = write_args(Path(tmp))
        record = Path(tmp) / "registered.json"
        programs, floors, tuned = [], [], []
        for _ in range(args.repeat):  # interleaved, so all see the same machine load
            programs.append(run_child(PROGRAM, inputs, record))
            floors.append(run_child(FLOOR, inputs, record))
            tuned.append(run_child(FLOOR_TUNED, inputs, record))
    count = {int(r["resources"]) for r in programs + floors}
    if len(count) != 1 or not all(r["same"] for r in floors + tuned):
        raise SystemExit("the floor did not register exactly the program's resources")
    program = statistics.median(r["cpu"] for r in programs)
    floor = statistics.median(r["cpu"] for r in floors)
    floor_tuned = statistics.median(r["cpu"] for r in tuned)
    print(f"{count.pop()} resources, {args.repeat} runs each (medians of process CPU, start-up included)")
    print(f"floor with the program's GC settings: {floor_tuned:.2f} s (program / it = {program / floor_tuned:.2f})")
    print(f"preview deploy: program {program:.2f} s / floor {floor:.2f} s CPU = {program / floor:.2f}")


if __name__ == "__main__":
    main()
