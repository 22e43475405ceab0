"""A fake Pulumi CLI behind the Automation API (``PulumiCommand``), for the admin commands.

This is a fake at a boundary that cannot be real here (no Pulumi CLI can be installed). It
answers the few CLI calls the Automation API makes with the exact JSON shapes the CLI prints
(``stack history --json`` fields from pulumi's stack_history.go), and runs ``up`` through the
real program under the offline mock engine, so holds and refusals are the program's own.
Anything it does not know fails the test. Errors are raised as the real ``PulumiCommand.run`` raises
them (``create_command_error``), so a held lock is a ``ConcurrentUpdateError``.

Two engine behaviours are reproduced as pulumi/pulumi's engine has them: a program error keeps the
previous outputs (``TestStackOutputsProgramError``); a resource operation that fails after the program
registered its outputs persists the *new* outputs (``TestStackOutputsResourceError``). ``fail_commits``
makes an update that deploys one of those commits fail in that second way (a rollout that never
becomes ready); ``locked_updates`` makes the next N updates find the stack locked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from pulumi import automation as auto
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from gitops.core.stackfile import StackConfig, load_config_file, load_stack_config
from gitops.offline.engine import ProgramRefused, RunResult, run_program
from tests.harness import APP_SECRETS

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000Z"


def history_item(
    version: int,
    *,
    app: str = "",
    commit: str = "",
    action: str = "",
    kind: str = "update",
    result: str = "succeeded",
    message: str = "",
    start: datetime | None = None,
    extra_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One element as `pulumi stack history --json` prints it."""
    start = start or datetime(2026, 3, 4, 12, 0) + timedelta(hours=version)
    config: dict[str, Any] = {"gitops:domain": {"value": "example.com", "secret": False}}
    if app:
        config["gitops:app"] = {"value": app, "secret": False}
    if commit:
        config["gitops:commit"] = {"value": commit, "secret": False}
        config["gitops:branch"] = {"value": "master", "secret": False}
    if action:
        config["gitops:action"] = {"value": action, "secret": False}
    config.update(extra_config or {})
    item: dict[str, Any] = {
        "version": version,
        "kind": kind,
        "startTime": start.strftime(TIME_FORMAT),
        "message": message,
        "environment": {"exec.kind": "cli", "git.author": "ci-bot"},
        "config": config,
        "result": result,
    }
    if result != "in-progress":
        item["endTime"] = (start + timedelta(minutes=2)).strftime(TIME_FORMAT)
        item["resourceChanges"] = {"same": 10}
    return item


@dataclass
class FakeBackend:
    """The state one fake stack keeps: history (oldest first), outputs, stack config, drift."""

    stack: str
    root: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    secret_config: set[str] = field(default_factory=set)
    environ: dict[str, str] = field(default_factory=dict)
    drift: dict[str, int] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)
    fail_commits: set[str] = field(default_factory=set)
    fail_wave: str | None = None  # a deploy of this wave (gitops:wave) fails like a rollout that never gets ready
    locked_updates: int = 0
    resource_count: int = 0
    last_result: RunResult | None = None
    targets: list[list[str]] = field(default_factory=list)  # the --target URNs of each up
    # what `stack export` shows of the state's resources (a test sets it); `state rename` edits it
    state_resources: list[dict[str, Any]] = field(default_factory=list)
    pending_operations: list[dict[str, Any]] = field(default_factory=list)  # what a killed update left (a test sets)
    # the live update holding the lock ends when the last locked call is refused (a test sets what it leaves)
    holder_ends: Callable[[FakeBackend], None] | None = None

    def __post_init__(self) -> None:
        """The app secrets an admin set on the stack (`pulumi config set --secret --path ...`)."""
        self.config.setdefault("gitops:appSecrets", json.dumps(APP_SECRETS))
        self.secret_config.add("gitops:appSecrets")


@dataclass
class FakeProject:
    """Every stack of the project in one fake backend, and the clock its updates run at."""

    root: Path
    stacks: dict[str, FakeBackend] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    now: datetime | None = None  # None: each update one hour after the stack's previous one
    calls: list[list[str]] = field(default_factory=list)

    def backend(self, stack: str) -> FakeBackend:
        if stack not in self.stacks:
            self.stacks[stack] = FakeBackend(stack, self.root, environ=self.environ)
        return self.stacks[stack]


def _refresh_events(drift: Mapping[str, int]) -> list[dict[str, Any]]:
    """The engine events of `pulumi refresh --preview-only` as the real engine emits them (seen in
    tests/e2e): per resource a resourcePreEvent with op "refresh" and a resOutputsEvent with what the refresh
    found ("same", "update", "delete"); the program's self-StackReference is always "updated" (it holds the
    outputs of the update before this one); then the summary, counting it too."""
    steps = [("update", "pulumi:pulumi:StackReference", "previous-state")]
    for op, count in drift.items():
        steps += [(op, "kubernetes:apps/v1:Deployment", f"drifted-{op}-{n}") for n in range(count)]
    steps.append(("same", "kubernetes:core/v1:Service", "unchanged"))
    events: list[dict[str, Any]] = []
    for op, kind, name in steps:
        urn = f"urn:pulumi:s::gitops::{kind}::{name}"
        for key, shown in (("resourcePreEvent", "refresh"), ("resOutputsEvent", op)):
            metadata = {"op": shown, "urn": urn, "type": kind, "provider": ""}
            events.append({"sequence": len(events) + 1, "timestamp": 0, key: {"metadata": metadata}})
    changes: dict[str, int] = {}
    for op, _, _ in steps:
        changes[op] = changes.get(op, 0) + 1
    events.append({"sequence": len(events) + 1, "timestamp": 0, "summaryEvent": {"resourceChanges": changes}})
    return events


def _under_any(urn: str, targets: list[str]) -> bool:
    """Is ``urn`` a targeted component or a resource below one (``--target-dependents``)?"""
    name = urn.rsplit("::", 1)[-1]
    return any(urn == t or ("AppEnvironment$" in urn and name.startswith(t.rsplit("::", 1)[-1] + "-")) for t in targets)


def _blinded(item: dict[str, Any]) -> dict[str, Any]:
    """Without --show-secrets the CLI omits secret values (the Automation API then shows [secret])."""
    config = {k: ({"secret": True} if v.get("secret") else v) for k, v in item["config"].items()}
    return {**item, "config": config}


def _flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def _fail(stdout: str, stderr: str) -> NoReturn:
    raise create_command_error(auto.CommandResult(stdout, stderr, 255))


class FakePulumiCommand(auto.PulumiCommand):
    def __init__(self, target: FakeBackend | FakeProject) -> None:  # no super().__init__: it runs `pulumi version`
        self.command = "pulumi"
        self.version = VersionInfo.parse("3.200.0")
        if isinstance(target, FakeBackend):
            self.project = FakeProject(target.root, {target.stack: target}, environ=target.environ)
        else:
            self.project = target

    @property
    def backend(self) -> FakeBackend:
        (only,) = self.project.stacks.values()
        return only

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Any = None,
        on_error: Any = None,
    ) -> auto.CommandResult:
        project = self.project
        project.calls.append(list(args))
        words = [a for a in args if not a.startswith("-")]
        if args[:2] == ["stack", "ls"]:
            return auto.CommandResult(json.dumps([self._summary(b) for b in project.stacks.values()]), "", 0)
        if args[:2] == ["stack", "init"]:
            if words[2] in project.stacks and project.stacks[words[2]].history:
                _fail("", f"error: stack '{words[2]}' already exists")  # as the CLI refuses it
            project.backend(words[2]).calls.append(list(args))
            return auto.CommandResult("", "", 0)
        if args[:2] == ["stack", "rm"]:
            return self._remove(words[2], force="--force" in args)
        name = _flag(args, "--stack")
        if name is None or name not in project.stacks:
            _fail("", f"error: no stack named '{name}' found")
        b = project.stacks[name]
        b.calls.append(list(args))
        if args[:2] == ["stack", "select"]:
            return auto.CommandResult("", "", 0)
        if args[:2] == ["stack", "history"]:
            size, page = int(_flag(args, "--page-size") or 10), int(_flag(args, "--page") or 1)
            newest_first = [_blinded(i) if "--show-secrets" not in args else i for i in reversed(b.history)]
            return auto.CommandResult(json.dumps(newest_first[(page - 1) * size : page * size]), "", 0)
        if args[:2] == ["stack", "export"]:
            root = {
                "urn": f"urn:pulumi:{name}::gitops::pulumi:pulumi:Stack::gitops-{name}",
                "type": "pulumi:pulumi:Stack",
            }
            resources = (
                [{**root, "outputs": b.outputs}, *b.state_resources] if b.history or b.outputs else b.state_resources
            )
            deployment = {
                "manifest": {"version": "v3.200.0", "time": "2026-03-04T12:00:00Z"},
                "resources": resources,
                **({"pending_operations": b.pending_operations} if b.pending_operations else {}),
            }
            return auto.CommandResult(json.dumps({"version": 3, "deployment": deployment}), "", 0)
        if args[:2] == ["state", "rename"]:
            urn, new_name = words[2], words[3]
            (found,) = [r for r in b.state_resources if r["urn"] == urn]
            found["urn"] = urn.rsplit("::", 1)[0] + "::" + new_name
            return auto.CommandResult("Resource renamed\n", "", 0)
        if args[:2] == ["stack", "output"]:
            return auto.CommandResult(json.dumps(b.outputs), "", 0)
        if args[0] == "config" and "--json" in args:
            config = self._config(b)
            shown = {k: {"value": v, "secret": k in config.secret_keys} for k, v in config.values.items()}
            return auto.CommandResult(json.dumps(shown), "", 0)
        if args[:2] == ["config", "set-all"]:
            for i, arg in enumerate(args):
                if arg in ("--plaintext", "--secret"):
                    key, value = args[i + 1].split("=", 1)
                    b.config[key] = value
                    (b.secret_config.add if arg == "--secret" else b.secret_config.discard)(key)
            return auto.CommandResult("", "", 0)
        if args[:2] == ["config", "rm-all"]:
            for key in words[2:]:
                if key != b.stack:
                    b.config.pop(key, None)
            return auto.CommandResult("", "", 0)
        if args[0] == "up":
            return self._up(b, args, on_output)
        if args[0] == "destroy":
            return self._destroy(b, args, on_output)
        if args[0] == "preview":
            return self._preview(b, args)
        if args[0] == "refresh" and "--preview-only" in args:
            self._refuse_if_locked(b)
            log = _flag(args, "--event-log")
            assert log is not None
            Path(log).write_text("".join(json.dumps(e) + "\n" for e in _refresh_events(b.drift)), encoding="utf-8")
            return auto.CommandResult("refresh preview done\n", "", 0)
        if args[0] == "refresh":  # reads every (targeted) object back; drops what an interrupted update left
            self._refuse_if_locked(b)
            item = history_item(len(b.history) + 1, kind="refresh", message=_flag(args, "--message") or "")
            item["startTime"] = self._start(b).strftime(TIME_FORMAT)
            b.history.append(item)
            b.pending_operations = []
            return auto.CommandResult("refresh done\n", "", 0)
        raise AssertionError(f"the fake Pulumi CLI does not know: pulumi {' '.join(args)}")

    def _refuse_if_locked(self, b: FakeBackend) -> None:
        if b.locked_updates <= 0:
            return
        b.locked_updates -= 1
        if b.locked_updates == 0 and b.holder_ends is not None:
            b.holder_ends(b)
        _fail("", "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end")

    def _others(self, b: FakeBackend) -> dict[str, dict[str, Any]]:
        """What a StackReference to another stack of the project reads: its current outputs."""
        return {name: other.outputs for name, other in self.project.stacks.items() if name != b.stack}

    def _config(self, b: FakeBackend, args: list[str] | None = None) -> StackConfig:
        """The stack's config; ``--config-file`` replaces the stack file, as the CLI does."""
        config = load_stack_config(b.root, b.stack)
        config_file = _flag(args or [], "--config-file")
        if config_file:  # a copy of the stack file plus the event (preview-<id> stacks keep theirs in b.config)
            given = load_config_file(Path(config_file))
            config = StackConfig({**config.values, **given.values}, sorted({*config.secret_keys, *given.secret_keys}))
        config = config.with_overrides(b.config)
        return StackConfig(config.values, sorted({*config.secret_keys, *b.secret_config}))

    def _summary(self, b: FakeBackend) -> dict[str, Any]:
        summary: dict[str, Any] = {"name": b.stack, "current": False, "updateInProgress": False}
        if b.history:
            summary["lastUpdate"] = b.history[-1]["endTime"]
            summary["resourceCount"] = b.resource_count
        return summary

    def _remove(self, stack: str, *, force: bool) -> auto.CommandResult:
        b = self.project.stacks.get(stack)
        if b is None:
            _fail("", f"error: no stack named '{stack}' found")
        if b.resource_count and not force:
            _fail("", f"error: '{stack}' still has resources; removal rejected. Possible actions: pulumi destroy")
        del self.project.stacks[stack]
        (self.project.root / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)  # as the CLI does (--preserve-config)
        return auto.CommandResult("", "", 0)

    def _start(self, b: FakeBackend) -> datetime:
        return self.project.now or datetime(2026, 3, 4, 12, 0) + timedelta(hours=len(b.history) + 1)

    def _preview(self, b: FakeBackend, args: list[str]) -> auto.CommandResult:
        """`pulumi preview --diff`: the real program's registrations compared with the last update's."""
        config = self._config(b)
        try:
            result = run_program(
                b.stack,
                config,
                root=b.root,
                now=self._start(b),
                previous_outputs=b.outputs,
                environ=b.environ,
                other_stacks=self._others(b),
            )
        except ProgramRefused as exc:
            _fail(f"Diagnostics:\n    error: {exc}\n", "error: preview failed")
        before = {r.urn: r.inputs for r in (b.last_result.resources if b.last_result else []) if r.custom}
        after = {r.urn: r.inputs for r in result.resources if r.custom}
        ops = {
            urn: ("create" if urn not in before else "update" if before[urn] != after[urn] else "same") for urn in after
        }
        ops.update({urn: "delete" for urn in before if urn not in after})
        counts: dict[str, int] = {}
        for op in ops.values():
            counts[op] = counts.get(op, 0) + 1
        sign = {"create": "+", "update": "~", "delete": "-"}
        diff = "".join(f"    {sign[op]} {urn}\n" for urn, op in sorted(ops.items()) if op != "same")
        log = _flag(args, "--event-log")
        assert log is not None
        event = {"sequence": 1, "timestamp": 0, "summaryEvent": {"resourceChanges": counts}}
        Path(log).write_text(json.dumps(event) + "\n", encoding="utf-8")
        return auto.CommandResult(f"Previewing update ({b.stack})\n{diff}", "", 0)

    def _destroy(self, b: FakeBackend, args: list[str], on_output: Any) -> auto.CommandResult:
        """`pulumi destroy` deletes every resource of the state without running the program."""
        item = history_item(len(b.history) + 1, kind="destroy", message=_flag(args, "--message") or "")
        item["startTime"] = self._start(b).strftime(TIME_FORMAT)
        b.history.append(item)
        b.outputs, b.resource_count = {}, 0
        if on_output:
            on_output(f"Destroying ({b.stack})\n")
        return auto.CommandResult("destroy done\n", "", 0)

    def _up(self, b: FakeBackend, args: list[str], on_output: Any) -> auto.CommandResult:
        self._refuse_if_locked(b)
        version = len(b.history) + 1
        start = self._start(b)
        config = self._config(b, args)
        item = history_item(version, message=_flag(args, "--message") or "", start=start)
        item["config"] = {k: {"value": v, "secret": k in config.secret_keys} for k, v in config.values.items()}
        try:
            result = run_program(
                b.stack,
                config,
                root=b.root,
                now=start,
                previous_outputs=b.outputs,
                environ=b.environ,
                other_stacks=self._others(b),
            )
        except ProgramRefused as exc:  # a program error: the previous outputs stay
            item["result"] = "failed"
            b.history.append(item)
            stdout = f"Diagnostics:\n  pulumi:pulumi:Stack (gitops-{b.stack}):\n    error: {exc}\n"
            _fail(stdout, "error: update failed")
        b.outputs = dict(result.outputs)  # registered before resource operations end; kept even if one fails
        targets = [args[i + 1] for i, a in enumerate(args) if a == "--target"]
        if targets and b.last_result is not None:  # untargeted resources stay as they are (the engine's same step)
            kept = [r for r in b.last_result.resources if not _under_any(r.urn, targets)]
            registered = [
                r for r in result.resources if _under_any(r.urn, targets) or not r.type.startswith("kubernetes:")
            ]
            result = RunResult([*kept, *registered], result.outputs, result.logs)
        b.targets.append(targets)
        b.last_result = result
        b.resource_count = sum(r.custom for r in result.resources)
        failing_wave = b.fail_wave is not None and config.values.get("gitops:wave") == b.fail_wave
        if config.values.get("gitops:commit") in b.fail_commits or (
            failing_wave and config.values.get("gitops:action", "deploy") == "deploy"
        ):
            item["result"] = "failed"
            b.history.append(item)
            stdout = (
                "  kubernetes:apps/v1:Deployment (prod-eu-web-prod-deploy):\n    error: 1 error occurred:\n"
                "    * the Kubernetes API server reported that the update failed to fully initialize: "
                "Timeout occurred polling for 'web'\n"
            )
            _fail(stdout, "error: update failed")
        b.history.append(item)
        if on_output:
            on_output(f"Updating ({b.stack})\n")
        return auto.CommandResult("update done\n", "", 0)
