"""Run the Pulumi program in-process under Pulumi's mock engine and record every resource.

This is Pulumi's own unit-test method (``pulumi.runtime.set_mocks``): the real program code
runs, ``apply`` callbacks run, but nothing talks to a cluster. The render command and the
tests both use it. Unknown invokes raise, so the program cannot depend on one silently.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from gitops.core.errors import GitOpsError
from gitops.core.stackfile import StackConfig

PROJECT = "gitops"
ORGANIZATION = "organization"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


ProgramMain = Callable[..., Awaitable[dict[str, Any]]]


class ProgramRefused(GitOpsError):  # noqa: N818 (a refusal, not a bug)
    """The program refused the update (as ``pulumi up`` would), with what it had registered by then."""

    def __init__(self, message: str, registered: list[Registered]) -> None:
        super().__init__(message)
        self.registered = registered


class UnknownInvokeError(RuntimeError):
    """The program called a provider function the offline engine does not know."""


@dataclass
class Registered:
    """One resource the program registered, with plain inputs and which of them were secret."""

    type: str
    name: str
    urn: str
    parent: str
    provider: str
    custom: bool
    inputs: dict[str, Any]
    secret_paths: list[str] = field(default_factory=list)
    protect: bool = False
    retain_on_delete: bool = False
    import_id: str = ""
    delete_before_replace: bool = False
    alias_names: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)

    @property
    def is_kubernetes_object(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:") and not self.type.startswith("pulumi:providers:")


@dataclass
class RunResult:
    resources: list[Registered]
    outputs: dict[str, Any]
    logs: list[str]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    @property
    def manifests(self) -> list[dict[str, Any]]:
        return [r.inputs for r in self.resources if r.is_kubernetes_object]


def _unwrap(value: Any, path: str, secrets: list[str]) -> Any:
    """Strip Pulumi's secret envelopes, remembering where they were."""
    if isinstance(value, dict):
        if value.get(_special_sig_key) == _special_secret_sig:
            secrets.append(path or "(root)")
            return _unwrap(value.get("value"), path, [])
        return {k: _unwrap(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Structs carry every number as a double
    return value


def _stable_int(*parts: str) -> int:
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:6], 16)


# Outputs a provider computes on create, filled deterministically so dependent inputs resolve.
COMPUTED_OUTPUTS: dict[str, Callable[[pulumi.runtime.MockResourceArgs], dict[str, Any]]] = {
    "gitlab:index/branchProtection:BranchProtection": lambda a: {"branchProtectionId": _stable_int(a.name)},
    "gitlab:index/pipelineSchedule:PipelineSchedule": lambda a: {"pipelineScheduleId": _stable_int(a.name)},
    "gitlab:index/projectDeployToken:ProjectDeployToken": lambda a: {"token": f"token-of-{a.name}"},
    "gitlab:index/project:Project": lambda a: {
        "pathWithNamespace": a.resource_id or f"group-{int(a.inputs['namespaceId'])}/{a.inputs['path']}"
    },
}
NUMERIC_IDS = {"gitlab:index/project:Project"}
# The only provider functions the program may call; anything else is an error.
KNOWN_INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "gitlab:index/getGroup:getGroup": lambda args: {
        "groupId": _stable_int(args["fullPath"]),
        "fullPath": args["fullPath"],
    },
}


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, stack: str, previous_outputs: Mapping[str, Any], other_stacks: Mapping[str, Any]) -> None:
        self.own = f"{ORGANIZATION}/{PROJECT}/{stack}"
        self.previous_outputs = dict(previous_outputs)
        self.other_stacks = {f"{ORGANIZATION}/{PROJECT}/{k}": dict(v) for k, v in other_stacks.items()}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == STACK_REFERENCE:
            name = args.inputs.get("name")
            outputs = self.previous_outputs if name == self.own else self.other_stacks.get(str(name), {})
            return args.name, {"name": name, "outputs": outputs, "secretOutputNames": []}
        computed = COMPUTED_OUTPUTS.get(args.typ)
        outputs = {**args.inputs, **(computed(args) if computed else {})}
        if args.typ in NUMERIC_IDS:  # GitLab projects have numeric ids (job-token allowlists take them)
            return str(_stable_int(args.resource_id or args.name)), outputs
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        known = KNOWN_INVOKES.get(args.token)
        if known is None:
            raise UnknownInvokeError(f"the offline engine does not implement invoke {args.token}")
        return known(args.args), []


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """Records raw registrations, so secretness and parents can be checked."""

    def __init__(self, mocks: _Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            secrets: list[str] = []
            inputs = _unwrap(json_format.MessageToDict(request.object), "", secrets)
            self.recorded.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    provider=request.provider,
                    custom=bool(request.custom),
                    inputs=inputs,
                    secret_paths=secrets,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    import_id=request.importId,
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    alias_names=[a.spec.name for a in request.aliases if a.HasField("spec") and a.spec.name],
                    dependencies=list(request.dependencies),
                )
            )
        return response


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run_program(
    stack: str,
    config: StackConfig,
    *,
    root: Path,
    now: datetime,
    previous_outputs: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    other_stacks: Mapping[str, Mapping[str, Any]] | None = None,
    main: ProgramMain | None = None,
) -> RunResult:
    """One ``pulumi up`` of ``stack``, in-process; raises the program's own error on refusal.
    ``other_stacks`` are the outputs other stacks of the project show through a StackReference;
    ``main`` replaces the program (benchmarks run a bare one under the same engine)."""
    if main is None:
        from gitops import program  # here, so a bare main pays none of the program's imports

        main = program.main
    mocks = _Mocks(stack, previous_outputs or {}, other_stacks or {})
    monitor = _RecordingMonitor(mocks)
    handler = _ListHandler()
    logger = logging.getLogger(f"gitops.offline.engine.{stack}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)

    pulumi_settings.ROOT.set(None)
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=False, logger=logger, monitor=monitor, organization=ORGANIZATION
    )
    pulumi.runtime.set_all_config(dict(config.values), list(config.secret_keys))
    outputs: dict[str, Any] = {}

    async def body() -> None:
        exported = await main(now=now, environ=environ or {}, root=root)
        for key, value in exported.items():  # what the engine stores: plain values (secrets decrypted here)
            outputs[key] = await value.future() if isinstance(value, pulumi.Output) else value

    try:
        _sync_await(run_pulumi_func(body))
    except pulumi.RunError as exc:
        raise ProgramRefused(str(exc), list(monitor.recorded)) from None
    return RunResult(resources=list(monitor.recorded), outputs=outputs, logs=handler.lines)
