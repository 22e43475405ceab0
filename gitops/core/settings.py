"""Per-stack settings (``Pulumi.<stack>.yaml``, namespace ``gitops:``), validated into one object."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from gitops.core.catalog import Autoscaling, Catalog, EnvVars, Resources
from gitops.core.environments import Environment, environment_for_stack
from gitops.core.errors import ConfigError, listing
from gitops.core.stackfile import load_stack_config
from gitops.core.validation import ROTATION, Quantity, StrictModel, parse_model, require_dns_label

NAMESPACE = "gitops"
KUBECONFIG_PREFIX = "kubeconfig-"

# Keys of the release event, set per `pulumi up` by CI or the rollback tool (the contract).
EVENT_KEYS = ("app", "commit", "branch", "action", "reason", "digest", "targeted", "wave", "cluster")
# Secret settings (must be set with --secret): CI/CD variable values, the Slack webhook, app secrets, and
# registry pull credentials where GitLab is managed elsewhere.
SECRET_KEYS = ("ciVariables", "slackWebhook", "appSecrets", "registryCredentials")
# Keys holding structured settings (JSON objects/lists in the engine's config map).
SETTING_KEYS = (
    "domain",
    "clusters",
    "renderDir",
    "catalog",
    "overrides",
    "preview",
    "access",
    "ingress",
    "sourceRepo",
    "sourceRepos",
    "gitlab",
    "notify",
    "rolloutTimeoutSeconds",
    "waves",
    "verify",
)


class Cluster(StrictModel):
    """One Kubernetes cluster of the stack, reached through its own provider."""

    name: str
    context: str | None = None
    cluster_identifier: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return require_dns_label(value, max_len=30)

    @property
    def identifier(self) -> str:
        return self.cluster_identifier or self.name


class Wave(StrictModel):
    """Clusters a release reaches together; the next wave starts after they are verified and baked."""

    clusters: list[str] = Field(min_length=1, max_length=20)
    bakeSeconds: int = Field(default=0, ge=0, le=3600)  # watched for restarts of the app's pods before the next


class Verify(StrictModel):
    """What each wave of a release must pass after the engine's await, before its bake. Unset: the await
    alone, as a release always did; the app's smoke command (apps.yaml) runs wherever it is set."""

    # the app's health path must answer 2xx on every cluster of the wave within this many seconds; 0: not asked
    healthSeconds: int = Field(default=0, ge=0, le=3600)
    # how the cluster's ingress controller is reached: https on 443 where gitops:ingress sets a TLS issuer,
    # else http on 80, unless set here
    ingressScheme: Literal["https", "http"] | None = None
    ingressPort: int | None = Field(default=None, ge=1, le=65535)


class AppOverride(StrictModel):
    """Per-environment knobs that override the catalog (env values are merged over the catalog's)."""

    replicas: int | None = Field(default=None, ge=1, le=50)
    resources: Resources | None = None
    env: EnvVars = {}
    autoscaling: Autoscaling | None = None


class Quota(StrictModel):
    """Ceiling for one preview namespace."""

    cpu: Quantity = "2"
    memory: Quantity = "4Gi"
    pods: int = Field(default=20, ge=1)


class PreviewPolicy(StrictModel):
    """How long previews live and how many may run at once."""

    ttl_hours: int = Field(default=72, ge=1)
    max_previews: int = Field(default=20, ge=1)
    replicas: int = Field(default=1, ge=1, le=5)
    quota: Quota = Quota()


class Access(StrictModel):
    """Who may see what inside the cluster (Kubernetes RBAC group names)."""

    developers_group: str = "gitlab:developers"
    admins_group: str = "gitlab:admins"
    ingress_namespace: str = "ingress-nginx"


class Ingress(StrictModel):
    """How apps are exposed."""

    class_name: str = "nginx"
    tls_issuer: str | None = None


def _valid_cron(value: str) -> str:
    from croniter import croniter  # here: only stacks with schedules or freezes pay its import

    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron expression such as '0 18 * * 5'")
    return value


def _valid_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as UTC or Europe/Berlin") from None
    return value


Cron = Annotated[str, AfterValidator(_valid_cron)]
TimeZone = Annotated[str, AfterValidator(_valid_timezone)]


class Freeze(StrictModel):
    """A deploy freeze: GitLab freeze period + refusal of prod deploys inside it."""

    start: Cron
    end: Cron
    timezone: TimeZone = "UTC"


class Schedule(StrictModel):
    """A GitLab pipeline schedule in the deploy project."""

    cron: Cron
    timezone: TimeZone = "UTC"
    ref: str = "master"


class Slack(StrictModel):
    """GitLab's native Slack integration (the webhook is the secret gitops:slackWebhook)."""

    channel: str
    username: str = "gitops"


class GitLabSettings(StrictModel):
    """What this stack manages in GitLab; see the ownership table in the README."""

    # false: GitLab is managed elsewhere (or not reachable, as in the end-to-end tests); this stack then
    # declares no GitLab resource, and pull credentials come from the secret gitops:registryCredentials
    managed: bool = True
    base_url: str = Field(default="https://gitlab.com/api/v4", pattern=r"^https://")
    deploy_project: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
    deploy_project_id: int | None = None
    pipeline_file: str = "ci/pipeline.yml"
    premium: bool = False
    required_approvals: int = Field(default=1, ge=1, le=10)
    approver_group_ids: list[int] = []
    freezes: list[Freeze] = []
    prune_schedule: Schedule | None = None
    drift_schedule: Schedule | None = None
    dashboard_schedule: Schedule | None = None  # prod: the release dashboard page, besides after every release
    slack: Slack | None = None
    pipeline_email_recipients: list[str] = []
    # part of each registry deploy token's name: change it to rotate every pull credential of the stack
    registry_token_rotation: str = Field(default="1", pattern=ROTATION)
    # staging/prod: the rotation being replaced, kept (unprotected, unused) for the one update that moves the
    # pull Secrets to the new tokens; the next apply without it deletes the old tokens
    retiring_registry_token_rotation: str | None = Field(default=None, pattern=ROTATION)

    @model_validator(mode="after")
    def _retiring_is_another_rotation(self) -> GitLabSettings:
        if self.retiring_registry_token_rotation == self.registry_token_rotation:
            raise ValueError(
                f"retiring_registry_token_rotation {self.retiring_registry_token_rotation!r} is the rotation in use; "
                "it names the one being replaced (or remove it)"
            )
        return self


class EmailSettings(StrictModel):
    """SMTP delivery of release mails (the password is the masked CI variable SMTP_PASSWORD)."""

    smtp_host: str
    smtp_port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    sender: str
    recipients: list[str] = Field(min_length=1)


class ChatUser(StrictModel):
    """Who a GitLab user is in chat, so a red release can mention them (never derived from data)."""

    dingtalk_mobile: str | None = Field(default=None, pattern=r"^\+?[0-9]{6,15}$")
    slack_user_id: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,20}$")


class NotifySettings(StrictModel):
    """Which channels the report step uses; webhook URLs and tokens are masked CI variables."""

    gitlab_card: bool = True
    dingtalk: bool = False
    slack: bool = False
    email: EmailSettings | None = None
    timeout_seconds: float = Field(default=10, gt=0, le=60)  # one request
    deadline_seconds: float = Field(default=60, gt=0, le=600)  # the whole report: the process exits by then
    chat_users: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")], ChatUser] = {}
    rollback_doc_url: str | None = Field(default=None, pattern=r"^https://")  # a "how to roll back" button


class StackSettings(StrictModel):
    """Everything one stack knows about where and how it deploys."""

    environment: str
    domain: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
    clusters: list[Cluster] = []
    renderDir: str | None = None
    catalog: str = "apps.yaml"
    overrides: dict[str, AppOverride] = {}
    preview: PreviewPolicy = PreviewPolicy()
    access: Access = Access()
    ingress: Ingress = Ingress()
    sourceRepo: str | None = None
    sourceRepos: dict[str, str] = {}
    gitlab: GitLabSettings | None = None
    notify: NotifySettings = NotifySettings()
    # how long a rollout may take before the release counts as failed (the Deployment's progress
    # deadline and the engine's wait for it): the restore of a bad release starts after this
    rolloutTimeoutSeconds: int = Field(default=600, ge=30, le=3600)
    # ordered rollout: wave 1's clusters first; none set means one wave of every cluster (no bake)
    waves: list[Wave] = Field(default=[], max_length=20)
    verify: Verify = Verify()

    @field_validator("waves")
    @classmethod
    def _waves_cover_each_cluster_once(cls, waves: list[Wave], info: ValidationInfo) -> list[Wave]:
        if not waves:
            return waves
        named = [c for wave in waves for c in wave.clusters]
        known = {c.name for c in info.data.get("clusters", [])}
        unknown = sorted(set(named) - known)
        repeated = sorted({c for c in named if named.count(c) > 1})
        missing = sorted(known - set(named))
        if unknown or repeated or missing:
            problems = [
                *([f"names unknown cluster(s) {', '.join(unknown)}"] if unknown else []),
                *([f"repeats {', '.join(repeated)}"] if repeated else []),
                *([f"leaves out {', '.join(missing)}"] if missing else []),
            ]
            raise ValueError(
                f"must list each cluster of gitops:clusters ({', '.join(sorted(known)) or 'none'}) exactly once; "
                f"it {'; '.join(problems)}"
            )
        return waves

    def rollout_waves(self) -> list[Wave]:
        """The waves a release goes through: as set, or one wave of every cluster."""
        if self.waves or not self.clusters:
            return list(self.waves)
        return [Wave(clusters=[c.name for c in self.clusters])]

    @model_validator(mode="after")
    def _unique_clusters(self) -> StackSettings:
        names = [c.name for c in self.clusters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"cluster names must be unique; repeated: {', '.join(duplicates)}")
        if self.clusters and self.renderDir is not None:
            raise ValueError("set either clusters (deploy) or renderDir (render YAML to a directory), not both")
        return self

    def check_targets(self, env: Environment, *, source: str) -> None:
        """Where this stack deploys must be said: no clusters never silently means 'render instead'."""
        if not env.is_preview and self.gitlab is None:
            raise ConfigError(
                f"{source}: {NAMESPACE}:gitlab is missing, but it is {env.name}'s release gate (branch protection, "
                "protected variables); an update without it would remove them. Restore it from git"
            )
        if self.clusters:
            return
        if not env.is_preview:
            raise ConfigError(
                f"{source}: {NAMESPACE}:clusters is empty, but {env.name} must deploy to its clusters; "
                "an update without them would stop declaring (and so delete) every live object. "
                f"Restore {NAMESPACE}:clusters; to look at manifests offline use `python -m gitops render`"
            )
        if self.renderDir is None:
            raise ConfigError(
                f"{source}: {NAMESPACE}:clusters is empty; name the clusters to deploy to, or set "
                f"{NAMESPACE}:renderDir to render YAML to a directory instead"
            )

    def replicas_for(self, app: str, default: int) -> int:
        override = self.overrides.get(app)
        return override.replicas if override and override.replicas else default

    def resources_for(self, app: str, default: Resources) -> Resources:
        override = self.overrides.get(app)
        return override.resources if override and override.resources else default

    def env_for(self, app: str, default: Mapping[str, str]) -> dict[str, str]:
        override = self.overrides.get(app)
        return {**default, **(override.env if override else {})}

    def autoscaling_for(self, app: str, default: Autoscaling | None) -> Autoscaling | None:
        override = self.overrides.get(app)
        return override.autoscaling if override and override.autoscaling else default

    def check_catalog(self, catalog: Catalog, *, source: str) -> None:
        """Overrides and repo paths may only name apps that exist."""
        for key in ("overrides", "sourceRepos"):
            for app in getattr(self, key):
                if app not in catalog.apps:
                    raise ConfigError(
                        f"{source}: {NAMESPACE}:{key} names app {app!r}, which is not in the catalog "
                        f"(known: {listing(catalog.apps)})"
                    )


def _decode(key: str, value: Any) -> Any:
    """The engine passes structured config as JSON text; plain strings stay strings."""
    if isinstance(value, str) and key not in {"domain", "renderDir", "catalog", "sourceRepo"}:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def settings_from_config(env: Environment, raw: Mapping[str, Any], *, source: str) -> StackSettings:
    """Validate the ``gitops:`` config of a stack; unknown keys are refused by name."""
    known = set(EVENT_KEYS) | set(SETTING_KEYS) | set(SECRET_KEYS)
    for key in sorted(raw):
        if key not in known and not key.startswith(KUBECONFIG_PREFIX):
            raise ConfigError(
                f"{source}: unknown config key {NAMESPACE}:{key}; known keys: "
                f"{', '.join(NAMESPACE + ':' + k for k in sorted(known))}, "
                f"{NAMESPACE}:{KUBECONFIG_PREFIX}<cluster> (check the spelling)"
            )
    data = {key: _decode(key, raw[key]) for key in SETTING_KEYS if raw.get(key) is not None}
    if "domain" not in data:
        raise ConfigError(f"{source}: {NAMESPACE}:domain is required (e.g. staging.example.com)")
    return parse_model(StackSettings, {"environment": env.name, **data}, source=source, prefix=NAMESPACE + ":")


def stack_settings(root: Path, stack: str) -> StackSettings:
    """A stack's settings as its stack file in the deploy repo gives them (secure values stay encrypted)."""
    config = load_stack_config(root, stack)
    raw = {k.removeprefix(f"{NAMESPACE}:"): v for k, v in config.values.items() if k.startswith(f"{NAMESPACE}:")}
    return settings_from_config(environment_for_stack(stack), raw, source=f"Pulumi.{stack}.yaml")
