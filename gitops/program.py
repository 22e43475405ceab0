"""The Pulumi program: settings -> event -> baseline -> previous state -> plan -> components.

Everything before ``_register`` is validation and pure planning; a bad input raises before the
first resource is registered, so a failed ``pulumi up`` changes no infrastructure.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.config as pulumi_config

from components.application import AppCredentials, secret
from components.environment import AppEnvironment, PreviewEnvironment
from components.gate_inputs import GateSecrets, PullToken
from components.providers import cluster_targets
from gitops.core.app_secrets import parse_app_secrets, require_values
from gitops.core.baseline import check_event
from gitops.core.catalog import Catalog, load_catalog
from gitops.core.engine import check_engine, current_engine
from gitops.core.environments import INTEGRATION_BRANCH, Environment, environment_for_stack, settings_stack
from gitops.core.errors import REFUSAL_MARK, ConfigError, GitOpsError, StateError
from gitops.core.event import WITHOUT_COMMIT, Action, ReleaseEvent, event_from_config
from gitops.core.freeze import FreezeWindow, check_freeze
from gitops.core.gitlab_gate import ci_variables
from gitops.core.gitrepo import BranchFacts, SourceRepo
from gitops.core.naming import PREVIEW_STACK_PREFIX, component_name, preview_id, preview_of_stack
from gitops.core.planner import Origin, Plan, plan
from gitops.core.registry import check_token_rotation, dockerconfig, parse_registry_credentials
from gitops.core.settings import KUBECONFIG_PREFIX, NAMESPACE, GitLabSettings, StackSettings, settings_from_config
from gitops.core.state import ENGINE_OUTPUT, ROTATION_OUTPUT, STATE_OUTPUTS, CarriedState, StackState, parse_outputs
from gitops.core.state_check import check_state
from gitops.core.workloads import Workload, on_cluster, preview_workloads, release_workloads

MAX_ORIGIN = 200
REGISTRY_OUTPUT = "registry"
SHARED_PREVIEW_STACK = "preview"


def read_gitops_config() -> tuple[dict[str, Any], set[str]]:
    """All ``gitops:*`` config of the running stack, and which of those keys are secret."""
    merged: dict[str, Any] = {**pulumi_config.get_config_env(), **pulumi_config.CONFIG.get()}
    prefix = NAMESPACE + ":"
    raw = {k[len(prefix) :]: v for k, v in merged.items() if k.startswith(prefix)}
    secret = {k for k in raw if pulumi_config.is_config_secret(prefix + k)}
    secret |= {k[len(prefix) :] for k in pulumi_config.get_config_secret_keys_env() if k.startswith(prefix)}
    return raw, secret


def _one_line(value: str) -> str:
    return "".join(c for c in value if ord(c) >= 32 and ord(c) != 127)[:MAX_ORIGIN]


def origin_from(environ: Mapping[str, str]) -> Origin:
    """Who released, from GitLab CI's predefined variables (empty outside CI); recorded, so made one short line."""
    return Origin(
        actor=_one_line(environ.get("GITLAB_USER_LOGIN", "")), pipeline=_one_line(environ.get("CI_PIPELINE_URL", ""))
    )


def _repo_for(app: str, settings: StackSettings, environ: Mapping[str, str]) -> str | None:
    return settings.sourceRepos.get(app) or settings.sourceRepo or environ.get("CI_PROJECT_DIR")


def _kubeconfigs(settings: StackSettings, raw: Mapping[str, Any], secret: set[str], source: str) -> dict[str, Any]:
    """Kubeconfigs are accepted only as Pulumi secrets, and only for named clusters."""
    clusters = {c.name for c in settings.clusters}
    result = {}
    for key, value in raw.items():
        if not key.startswith(KUBECONFIG_PREFIX):
            continue
        cluster = key[len(KUBECONFIG_PREFIX) :]
        if cluster not in clusters:
            named = ", ".join(sorted(clusters)) or "none"
            raise ConfigError(f"{source}: {NAMESPACE}:{key} names no cluster of gitops:clusters ({named})")
        if key not in secret:
            fix = f"pulumi config set --secret {NAMESPACE}:{key} < kubeconfig"
            raise ConfigError(f"{source}: {NAMESPACE}:{key} must be a secret: {fix}")
        result[cluster] = pulumi.Output.secret(value)
    return result


async def read_previous_state() -> CarriedState:
    """This stack's own last outputs, through a StackReference to itself (a read: it changes nothing)."""
    name = f"{pulumi.get_organization() or 'organization'}/{pulumi.get_project()}/{pulumi.get_stack()}"
    ref = pulumi.StackReference("previous-state", stack_name=name)
    outputs = {}
    for key in (*STATE_OUTPUTS, ENGINE_OUTPUT, ROTATION_OUTPUT):
        details = await ref.get_output_details(key)
        outputs[key] = details.value if details.value is not None else details.secret_value
    return parse_outputs(outputs)


def require_recorded_state(env: Environment, carried: CarriedState, event: ReleaseEvent | None) -> None:
    """staging/prod never treat missing outputs as "nothing runs": that would plan every live object away."""
    if env.is_preview:
        return
    initializing = event is not None and event.action is Action.INIT
    if carried.recorded and initializing:
        raise StateError(f"{env.name} already has a recorded state; init is only for a new stack")
    if not carried.recorded and not initializing:
        raise StateError(
            f"refused: the {env.name} stack has no recorded state (its outputs releases, previews and holds are "
            "missing), so this update cannot know what runs and changes nothing. If the stack is new, initialize it "
            f"once: python -m gitops init --stack {env.name}. If its outputs were lost (a failed backend read, "
            "secrets that cannot be decrypted are elided, a stack imported by hand), restore them: "
            "`pulumi stack history` names the last good update; `pulumi stack export --version <N>` has its outputs; "
            "put them back with `pulumi stack import`"
        )


def _checked_event(
    stack: str,
    env: Environment,
    settings: StackSettings,
    catalog: Catalog,
    raw: Mapping[str, Any],
    environ: Mapping[str, str],
) -> tuple[ReleaseEvent | None, SourceRepo | None]:
    event = event_from_config(env, raw, catalog)
    if env.is_preview:
        check_preview_stack(stack, event)
    if event is None or event.action in WITHOUT_COMMIT:
        return event, None
    if event.action is Action.RESTORE:
        # puts back a release the stack records (the planner allows nothing else), whose commit was checked
        # against its branch when it was deployed: no clone needed, so a job of another app can restore it
        return event, None
    path = _repo_for(event.app, settings, environ)
    if path is None:
        raise ConfigError(
            f"no source repository for {event.app}: set gitops:sourceRepo (or gitops:sourceRepos.{event.app}) "
            "or run in CI, where CI_PROJECT_DIR is the app's clone"
        )
    repo = SourceRepo(path)
    check_event(env, event, repo)
    return event, repo


def _branch_facts(
    state: StackState, settings: StackSettings, event: ReleaseEvent | None, environ: Mapping[str, str]
) -> dict[str, BranchFacts]:
    """Facts about the live previews' branches, for every app whose clone this run has (CI: its own app)."""
    paths = dict(settings.sourceRepos)
    if event is not None and event.app not in paths:
        path = _repo_for(event.app, settings, environ)
        if path is not None:
            paths[event.app] = path
    branches: dict[str, set[str]] = {}
    for preview in state.previews.values():
        branches.setdefault(preview.app, set()).add(preview.branch)
    return {
        app: SourceRepo(paths[app]).branch_facts(wanted, INTEGRATION_BRANCH)
        for app, wanted in sorted(branches.items())
        if app in paths
    }


def check_preview_stack(stack: str, event: ReleaseEvent | None) -> None:
    """A ``preview-<id>`` stack holds exactly its own preview; the shared ``preview`` stack deploys none."""
    if event is None:
        return
    own = preview_of_stack(stack)
    key = preview_id(event.app, event.branch)
    if own is None and event.action is Action.DEPLOY:
        raise ConfigError(
            f"stack preview deploys no preview itself: each preview is its own stack ({PREVIEW_STACK_PREFIX}{key}); "
            f"run python -m gitops release --stack preview --app {event.app} --branch {event.branch} --commit ..."
        )
    if own is not None and own != key:
        raise ConfigError(
            f"stack {stack} holds only preview {own}; {event.app} on branch {event.branch!r} is preview {key} "
            f"(stack {PREVIEW_STACK_PREFIX}{key})"
        )


async def release(*, now: datetime, environ: Mapping[str, str], root: Path) -> dict[str, Any]:
    """Run one update; returns the new state, which becomes the stack's outputs."""
    stack = pulumi.get_stack()
    env = environment_for_stack(stack)
    source = f"Pulumi.{settings_stack(stack)}.yaml"
    raw, secret = read_gitops_config()
    settings = settings_from_config(env, raw, source=source)
    catalog = load_catalog(root / settings.catalog)
    settings.check_catalog(catalog, source=source)
    settings.check_targets(env, source=source)
    kubeconfigs = _kubeconfigs(settings, raw, secret, source)
    event, repo = _checked_event(stack, env, settings, catalog, raw, environ)
    utc_now = now.astimezone(UTC).replace(tzinfo=None)
    _check_freeze(env, settings, event, utc_now)
    gate_secrets = _gate_secrets(env, raw, secret)

    engine = current_engine(root, environ)
    carried = await read_previous_state()
    check_engine(carried.engine, engine, stack)
    require_recorded_state(env, carried, event)
    if settings.gitlab is not None and settings.gitlab.managed and not env.is_preview:
        gl = settings.gitlab
        check_token_rotation(
            env.name, gl.registry_token_rotation, gl.retiring_registry_token_rotation, carried.token_rotation
        )
    checked = check_state(carried.state, env, catalog, settings.domain, preview_of_stack(stack))
    facts = _branch_facts(checked.state, settings, event, environ) if env.is_preview else {}
    result = plan(
        env,
        settings,
        event,
        checked.state,
        now=utc_now,
        origin=origin_from(environ),
        facts=facts,
        descends=repo.descends_from if repo is not None else None,
    )
    _report(event, env, result, checked.notes)
    state = result.state
    workloads = (
        preview_workloads(settings, catalog, state)
        if env.is_preview
        else release_workloads(env, settings, catalog, state)
    )
    app_secrets = parse_app_secrets(
        raw.get("appSecrets"), is_secret="appSecrets" in secret, catalog=catalog, source=source
    )
    for workload in workloads:
        require_values(workload.spec.name, workload.spec.secrets, app_secrets, source)
    shared_tokens = await read_shared_pull_tokens(workloads) if preview_of_stack(stack) else None

    recorded_engine = engine or carried.engine
    outputs: dict[str, Any] = {
        **state.to_outputs(),
        **({ENGINE_OUTPUT: recorded_engine.to_output()} if recorded_engine else {}),
    }
    tokens: Mapping[str, PullToken] = shared_tokens or {}
    if shared_tokens is None:  # one owner of the pull credentials: the environment's own stack
        if settings.gitlab is not None and settings.gitlab.managed:
            if not env.is_preview:
                outputs[ROTATION_OUTPUT] = settings.gitlab.registry_token_rotation
            only = event.app if event is not None and event.targeted else None
            live = frozenset(app for app, r in state.releases.items() if not r.retiring)
            tokens = _release_gate(
                stack, env, settings.gitlab, settings.domain, catalog, gate_secrets, only_app=only, live=live
            )
        else:
            tokens = _configured_pull_tokens(raw, secret, catalog, source)
        if env.is_preview:  # every preview stack reads its pull credentials from here
            outputs[REGISTRY_OUTPUT] = pulumi.Output.secret(
                {app: {"username": t.username, "token": t.token} for app, t in sorted(tokens.items())}
            )
    if event is not None and event.targeted:  # `--target` on this app: the others stay as they are
        workloads = [w for w in workloads if w.spec.name == event.app]
    credentials = {w.spec.name: _credentials(w, tokens, app_secrets, source) for w in workloads}
    _register(env, settings, stack, kubeconfigs, workloads, credentials, state)
    return outputs


def _release_gate(
    stack: str,
    env: Environment,
    gitlab_settings: GitLabSettings,
    domain: str,
    catalog: Catalog,
    gate_secrets: GateSecrets,
    *,
    only_app: str | None,
    live: frozenset[str],
) -> Mapping[str, PullToken]:
    """The environment's GitLab side; its pull tokens. ``pulumi_gitlab`` is imported only by stacks that
    declare GitLab resources (a preview deploy would otherwise spend a quarter of its start-up on it)."""
    import pulumi_gitlab as gitlab

    from components.gitlab import ReleaseGate

    provider = gitlab.Provider(f"{stack}-gitlab", base_url=gitlab_settings.base_url, early_auth_check=False)
    gate = ReleaseGate(
        f"{stack}-gitlab", env, gitlab_settings, catalog, domain, gate_secrets, provider, only_app=only_app, live=live
    )
    return gate.pull_tokens


async def read_shared_pull_tokens(workloads: list[Workload]) -> dict[str, PullToken]:
    """A preview stack's pull credentials: the read_registry tokens the shared preview stack owns (no GitLab
    token ever reaches a preview job)."""
    name = f"{pulumi.get_organization() or 'organization'}/{pulumi.get_project()}/{SHARED_PREVIEW_STACK}"
    ref = pulumi.StackReference("shared-preview", stack_name=name)
    details = await ref.get_output_details(REGISTRY_OUTPUT)
    found = details.value if details.value is not None else details.secret_value
    found = found if isinstance(found, dict) else {}
    tokens = {}
    for workload in workloads:
        entry = found.get(workload.spec.name)
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str) or not entry.get("username"):
            raise StateError(
                f"the shared preview stack has no registry pull token for {workload.spec.name}; apply it once "
                "(python -m gitops apply --stack preview, from the deploy repo's pipeline) and deploy again"
            )
        tokens[workload.spec.name] = PullToken(str(entry["username"]), pulumi.Output.secret(entry["token"]))
    return tokens


def _configured_pull_tokens(
    raw: Mapping[str, Any], secret: set[str], catalog: Catalog, source: str
) -> dict[str, PullToken]:
    """Where GitLab is managed elsewhere, an admin sets each app's pull credentials as a secret."""
    found = parse_registry_credentials(
        raw.get("registryCredentials"), is_secret="registryCredentials" in secret, catalog=catalog, source=source
    )
    return {app: PullToken(c.username, pulumi.Output.secret(c.token)) for app, c in found.items()}


def _credentials(
    workload: Workload, tokens: Mapping[str, PullToken], app_secrets: Mapping[str, Mapping[str, str]], source: str
) -> AppCredentials:
    token = tokens.get(workload.spec.name)
    if token is None:
        raise ConfigError(
            f"{source}: no registry pull credentials for {workload.spec.name}: set {NAMESPACE}:gitlab (each stack "
            "creates a read_registry deploy token per app project) or, where GitLab is managed elsewhere "
            f"({NAMESPACE}:gitlab.managed: false), pulumi config set --secret --path "
            f"'{NAMESPACE}:registryCredentials.{workload.spec.name}.token' <token> (and .username)"
        )
    registry = secret(token.token).apply(lambda t: dockerconfig(workload.registry, token.username, t))
    values = app_secrets.get(workload.spec.name, {})
    return AppCredentials(
        registry=registry, secrets={k: pulumi.Output.secret(values[k]) for k in workload.spec.secrets}
    )


def _check_freeze(env: Environment, settings: StackSettings, event: ReleaseEvent | None, now: datetime) -> None:
    """Ordinary prod deploys wait for the freeze to end; rollbacks and hold clears do not."""
    if env.name != "prod" or event is None or event.action is not Action.DEPLOY or settings.gitlab is None:
        return
    windows = [FreezeWindow(f.start, f.end, f.timezone) for f in settings.gitlab.freezes]
    check_freeze(windows, now, f"deploy of {event.app}@{event.commit} to prod")


def _gate_secrets(env: Environment, raw: Mapping[str, Any], secret: set[str]) -> GateSecrets:
    """CI/CD variable values and the Slack webhook: validated here, wrapped as secrets."""
    values = ci_variables(env, raw.get("ciVariables"), is_secret="ciVariables" in secret)
    webhook = raw.get("slackWebhook")
    if webhook is not None and "slackWebhook" not in secret:
        raise ConfigError("gitops:slackWebhook must be a secret: pulumi config set --secret gitops:slackWebhook <url>")
    return GateSecrets(
        ci_variables={k: pulumi.Output.secret(v) for k, v in values.items()},
        slack_webhook=pulumi.Output.secret(webhook) if webhook is not None else None,
    )


def _report(event: ReleaseEvent | None, env: Environment, result: Plan, state_notes: list[str]) -> None:
    pulumi.log.info(event.describe(env) if event else f"no release event: re-applying the {env.name} state")
    for removal in result.removed:
        pulumi.log.info(f"preview {removal.preview} removed: {removal.reason}")
    for note in [*state_notes, *result.notes]:
        pulumi.log.info(note)


def _register(
    env: Environment,
    settings: StackSettings,
    stack: str,
    kubeconfigs: Mapping[str, Any],
    workloads: list[Workload],
    credentials: Mapping[str, AppCredentials],
    state: StackState,
) -> None:
    """Translate the desired state into components, once per cluster (each at what it runs: ``on_cluster``)."""
    component: type[AppEnvironment] = PreviewEnvironment if env.is_preview else AppEnvironment
    for target in cluster_targets(settings, stack, kubeconfigs, protect=not env.is_preview):
        for workload in on_cluster(workloads, state, target.name):
            component(
                component_name(target.name, workload.key),
                workload,
                settings,
                credentials[workload.spec.name],
                target.provider,
            )


async def main(
    now: datetime | None = None, environ: Mapping[str, str] | None = None, root: Path | None = None
) -> dict[str, Any]:
    """Entry point for ``pulumi.run``; user errors become a clean RunError (no traceback)."""
    try:
        return await release(
            now=now or datetime.now(UTC),
            environ=os.environ if environ is None else environ,
            root=root or Path.cwd(),
        )
    except GitOpsError as exc:
        raise pulumi.RunError(f"{REFUSAL_MARK} {exc}") from None


def tune_gc() -> None:
    """Fewer collections while the program registers thousands of resources: everything it builds lives
    until the update ends, so frequent young-generation scans find nothing to free. Measured in
    benchmarks/bench_evaluation.py."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
