"""Hostile and broken inputs, each through the whole program under Pulumi's mock engine.

Every case must end in one clear refusal that names what was wrong (and is bounded in size), with no
traceback and not a single mutating registration: a refused `pulumi up` changes no infrastructure.
The corpus covers the release event, the catalog (apps.yaml), the stack settings and the carried
state (the stack's previous outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gitops.core.errors import REFUSAL_MARK
from gitops.core.naming import preview_id
from gitops.offline.engine import STACK_REFERENCE, ProgramRefused
from tests.gitutil import GitRepo
from tests.harness import INITIALIZED, MISSING, run

Repo = tuple[GitRepo, dict[str, str]]
SHA = "1" * 40  # a well-formed commit that no repository has
WEB = {"gitlab_project": "shop/web", "image": "registry.example.com/shop/web", "port": "8080"}
API = "  api:\n    gitlab_project: shop/api\n    image: registry.example.com/shop/api\n    port: 9000\n"


def app_yaml(**fields: str) -> str:
    """A catalog of web and api, with web's settings changed or added (values are raw YAML)."""
    return "apps:\n  web:\n" + "".join(f"    {k}: {v}\n" for k, v in {**WEB, **fields}.items()) + API


GOOD_APPS = app_yaml()
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


def release(commit: str, *, branch: str = "master", **extra: Any) -> dict[str, Any]:
    return {"commit": commit, "branch": branch, "action": "deploy", "released_at": "2026-03-01T10:00:00Z", **extra}


def state(**sections: Any) -> dict[str, Any]:
    return {**INITIALIZED, **sections}


def preview_entry(app: str, branch: str, **extra: Any) -> dict[str, Any]:
    key = preview_id(app, branch)
    entry = {
        "app": app,
        "branch": branch,
        "commit": "f" * 40,
        "namespace": key,
        "url": f"https://{key}.preview.example.com",
        "last_deployed": "2026-03-04T11:00:00Z",
    }
    return {**entry, **extra}


@dataclass(frozen=True)
class Case:
    id: str
    stack: str
    expect: str
    event: dict[str, str] = field(default_factory=dict)  # values may name "{master}", "{latest}", "{feature}"
    extra: dict[str, str] = field(default_factory=dict)  # gitops:* config as the engine passes it
    previous: dict[str, Any] | None = None
    catalog: str | None = None  # apps.yaml text
    secret_keys: tuple[str, ...] = ()
    now: datetime | None = None


DEPLOY_WEB = {"app": "web", "commit": "{master}"}
CASES = [
    # --- the release event ---
    Case("short-sha", "prod", "not a full 40-hex commit SHA", {"app": "web", "commit": "1a2b3c4"}),
    Case("sha-injection", "prod", "not a full 40-hex", {"app": "web", "commit": "not-a-sha; rm -rf /"}),
    Case("unknown-app", "prod", "known apps: api, web", {"app": "shop", "commit": SHA}),
    Case("path-app", "prod", "is not in the app catalog", {"app": "../../etc/passwd", "commit": SHA}),
    Case("unknown-action", "prod", "is not one of: deploy, stop", {"app": "web", "action": "destroy"}),
    Case("rollback-no-reason", "prod", "gitops:reason is required for rollback", {**DEPLOY_WEB, "action": "rollback"}),
    Case(
        "reason-newline",
        "prod",
        "gitops:reason must be one line",
        {**DEPLOY_WEB, "action": "rollback", "reason": "x\n@all"},
    ),
    Case("reason-huge", "prod", "at most 300 characters", {**DEPLOY_WEB, "action": "rollback", "reason": "x" * 10_000}),
    Case("branch-dotdot", "preview", "not a valid git branch name", {"app": "web", "commit": SHA, "branch": "a..b"}),
    Case("branch-space", "preview", "not a valid git branch name", {"app": "web", "commit": SHA, "branch": "a b"}),
    Case("preview-master", "preview", "does not deploy branch 'master'", {**DEPLOY_WEB, "branch": "master"}),
    Case(
        "prod-from-latest",
        "prod",
        "deploys only branch 'master'",
        {"app": "web", "commit": "{latest}", "branch": "latest"},
    ),
    Case("prod-feature-commit", "prod", "not reachable from 'master'", {"app": "web", "commit": "{feature}"}),
    Case("unknown-commit", "prod", "the commit does not exist", {"app": "web", "commit": SHA}),
    Case("stop-on-prod", "prod", "gitops:action=stop is for preview only", {"app": "web", "action": "stop"}),
    Case(
        "rollback-on-preview", "preview", "is for staging and prod", {**DEPLOY_WEB, "branch": "f", "action": "rollback"}
    ),
    Case("init-on-preview", "preview", "init is for staging and prod", {"action": "init"}),
    Case("init-with-app", "prod", "init takes no gitops:app", {"app": "web", "action": "init"}),
    Case("init-twice", "prod", "already has a recorded state", {"action": "init"}),
    Case("retire-no-reason", "prod", "gitops:reason is required for retire", {"app": "web", "action": "retire"}),
    Case("retire-not-live", "prod", "web does not run in prod", {"app": "web", "action": "retire", "reason": "x"}),
    Case(
        "stop-with-commit",
        "preview",
        "gitops:commit and gitops:digest are not used by stop",
        {**DEPLOY_WEB, "branch": "f", "action": "stop"},
    ),
    Case(
        "restore-elsewhere",
        "prod",
        "a restore only puts back the release before a failed one",
        {**DEPLOY_WEB, "action": "restore"},
        previous=state(releases={"web": release("e" * 40)}),
    ),
    Case(
        "outdated-pipeline",
        "prod",
        "outdated pipeline: web runs",
        DEPLOY_WEB,
        previous=state(releases={"web": release("{latest}")}),
    ),
    Case("deploy-in-freeze", "prod", "during a deploy freeze", DEPLOY_WEB, now=datetime(2026, 3, 6, 19, 0)),
    # --- the catalog ---
    Case(
        "dup-app",
        "prod",
        "duplicate key 'web' (first on line 2, again on line",
        DEPLOY_WEB,
        catalog=GOOD_APPS + "  web:\n    gitlab_project: evil/web\n    image: evil.example.com/web\n    port: 1\n",
    ),
    Case("billion-laughs", "prod", "anchors (&a) are not allowed", DEPLOY_WEB, catalog=LAUGHS),
    Case("alias-only", "prod", "aliases (*name) are not allowed", DEPLOY_WEB, catalog="apps:\n  web: *x\n"),
    Case(
        "replicas-yes",
        "prod",
        "apps.web.replicas: Input should be a valid integer",
        DEPLOY_WEB,
        catalog=app_yaml(replicas="yes"),
    ),
    Case(
        "port-text",
        "prod",
        "apps.web.port: Input should be a valid integer",
        DEPLOY_WEB,
        catalog=app_yaml(port='"8080"'),
    ),
    Case("port-zero", "prod", "apps.web.port", DEPLOY_WEB, catalog=app_yaml(port="0")),
    Case(
        "image-injection",
        "prod",
        "must be an image repository",
        DEPLOY_WEB,
        catalog=app_yaml(image='"Registry.Example.com/shop/web; rm -rf /"'),
    ),
    Case(
        "image-tag",
        "prod",
        "no tag or digest",
        DEPLOY_WEB,
        catalog=app_yaml(image="registry.example.com/shop/web:latest"),
    ),
    Case(
        "image-digest",
        "prod",
        "no tag or digest",
        DEPLOY_WEB,
        catalog=app_yaml(image="registry.example.com/shop/web@sha256:" + "a" * 64),
    ),
    Case("image-no-registry", "prod", "a registry host first", DEPLOY_WEB, catalog=app_yaml(image="web")),
    Case(
        "env-number",
        "prod",
        "apps.web.env.LOG_LEVEL: Input should be a valid string",
        DEPLOY_WEB,
        catalog=app_yaml(env="{LOG_LEVEL: 1}"),
    ),
    Case("env-bad-name", "prod", "environment variable name", DEPLOY_WEB, catalog=app_yaml(env='{"A-B": x}')),
    Case(
        "cpu-lots",
        "prod",
        "'lots' is not a Kubernetes quantity",
        DEPLOY_WEB,
        catalog=app_yaml(resources="{cpu_request: lots}"),
    ),
    Case(
        "request-over-limit",
        "prod",
        "cpu_request 2 is above cpu_limit 500m",
        DEPLOY_WEB,
        catalog=app_yaml(resources='{cpu_request: "2"}'),
    ),
    Case("unknown-app-key", "prod", "apps.web.replica: unknown key", DEPLOY_WEB, catalog=app_yaml(replica="2")),
    Case("apps-list", "prod", "must have a non-empty mapping", DEPLOY_WEB, catalog="apps:\n  - web\n"),
    Case("app-name", "prod", "must be lowercase letters", DEPLOY_WEB, catalog=GOOD_APPS.replace("  web:", "  Web_1:")),
    Case("name-key", "prod", "an app's name is its key", DEPLOY_WEB, catalog=app_yaml(name="api")),
    Case(
        "hpa-min-over-max",
        "prod",
        "min_replicas 5 is above max_replicas 2",
        DEPLOY_WEB,
        catalog=app_yaml(autoscaling="{min_replicas: 5, max_replicas: 2}"),
    ),
    Case(
        "migration-no-command",
        "prod",
        "apps.web.migration.command",
        DEPLOY_WEB,
        catalog=app_yaml(migration="{command: []}"),
    ),
    Case("secret-twice", "prod", "secret names must be unique", DEPLOY_WEB, catalog=app_yaml(secrets="[A, A]")),
    Case(
        "secret-and-env",
        "prod",
        "is both a plain env value and a secret",
        DEPLOY_WEB,
        catalog=app_yaml(env="{TOKEN: x}", secrets="[TOKEN]"),
    ),
    Case("root-user", "prod", "apps.web.run_as_user", DEPLOY_WEB, catalog=app_yaml(run_as_user="0")),
    Case("digest-garbage", "prod", "is not an image digest", {**DEPLOY_WEB, "digest": "sha256:nope; rm -rf /"}),
    Case("not-yaml", "prod", "is not valid YAML: line", DEPLOY_WEB, catalog="apps: [\n"),
    Case("bool-key", "prod", "app names must be text", DEPLOY_WEB, catalog="apps:\n  true: {}\n"),
    # --- the stack settings ---
    Case(
        "prod-no-clusters",
        "prod",
        "gitops:clusters is empty, but prod must deploy",
        DEPLOY_WEB,
        {"gitops:clusters": "[]"},
    ),
    Case(
        "staging-no-clusters",
        "staging",
        "but staging must deploy",
        {"app": "web", "commit": "{latest}"},
        {"gitops:clusters": "[]"},
    ),
    Case(
        "prod-no-gitlab",
        "prod",
        "gitops:gitlab is missing, but it is prod's release gate",
        DEPLOY_WEB,
        {"gitops:gitlab": "null"},
    ),
    Case("render-and-clusters", "prod", "not both", DEPLOY_WEB, {"gitops:renderDir": "out"}),
    Case(
        "quota-lots",
        "preview",
        "gitops:preview.quota.cpu",
        {"app": "web", "commit": "{feature}", "branch": "feature/login"},
        {"gitops:preview": '{"quota": {"cpu": "lots"}}'},
    ),
    Case(
        "ttl-text",
        "preview",
        "gitops:preview.ttl_hours: Input should be a valid integer",
        {"app": "web", "commit": "{feature}", "branch": "feature/login"},
        {"gitops:preview": '{"ttl_hours": "72"}'},
    ),
    Case(
        "replicas-bool",
        "prod",
        "gitops:overrides.web.replicas",
        DEPLOY_WEB,
        {"gitops:overrides": '{"web": {"replicas": true}}'},
    ),
    Case("unknown-setting", "prod", "unknown config key gitops:clustrs", DEPLOY_WEB, {"gitops:clustrs": "[]"}),
    Case("dup-cluster", "prod", "repeated: a", DEPLOY_WEB, {"gitops:clusters": '[{"name": "a"}, {"name": "a"}]'}),
    Case("domain-case", "prod", "gitops:domain", DEPLOY_WEB, {"gitops:domain": "Example.COM"}),
    Case("plain-kubeconfig", "prod", "must be a secret", DEPLOY_WEB, {"gitops:kubeconfig-prod-eu": "x"}),
    Case(
        "override-unknown-app",
        "prod",
        "names app 'shop'",
        DEPLOY_WEB,
        {"gitops:overrides": '{"shop": {"replicas": 2}}'},
    ),
    Case(
        "bad-cron",
        "prod",
        "is not a cron expression",
        DEPLOY_WEB,
        {"gitops:gitlab": '{"deploy_project": "p/d", "freezes": [{"start": "never", "end": "0 7 * * 1"}]}'},
    ),
    # --- the carried state (the stack's previous outputs) ---
    Case("lost-state", "prod", "the prod stack has no recorded state", DEPLOY_WEB, previous=MISSING),
    Case("lost-state-reapply", "staging", "the staging stack has no recorded state", previous=MISSING),
    Case("incomplete-state", "prod", "holds missing", previous={"releases": {}, "previews": {}}),
    Case(
        "commit-injection",
        "prod",
        "releases.web.commit: must be a full 40-hex",
        previous=state(releases={"web": release("not-a-sha; rm -rf /")}),
    ),
    Case(
        "commit-number",
        "prod",
        "releases.web.commit: Input should be a valid string",
        previous=state(releases={"web": release(5)}),  # type: ignore[arg-type]
    ),
    Case("releases-list", "prod", "stack output releases is list, not a mapping", previous=state(releases=["web"])),
    Case(
        "release-extra-key",
        "prod",
        "releases.web.evil: unknown key",
        previous=state(releases={"web": release(SHA, evil=1)}),
    ),
    Case(
        "release-other-branch",
        "prod",
        "releases.web.branch is 'latest'",
        previous=state(releases={"web": release(SHA, branch="latest")}),
    ),
    Case(
        "live-app-not-in-catalog",
        "prod",
        "app 'api' runs in prod but is not in the catalog",
        previous=state(releases={"api": release(SHA)}),
        catalog=GOOD_APPS.split("  api:")[0],
    ),
    Case(
        "actor-huge", "prod", "releases.web.actor", previous=state(releases={"web": release(SHA, actor="x\n" * 5000)})
    ),
    Case(
        "kube-system",
        "preview",
        "is not the one the naming rules give web",
        previous=state(previews={preview_id("web", "f"): preview_entry("web", "f", namespace="kube-system")}),
    ),
    Case(
        "foreign-key",
        "preview",
        "is not the one the naming rules give web",
        previous=state(previews={"kube-system": preview_entry("web", "f", namespace="kube-system")}),
    ),
    Case(
        "preview-yesterday",
        "preview",
        "last_deployed: must be a UTC timestamp",
        previous=state(previews={preview_id("web", "f"): preview_entry("web", "f", last_deployed="yesterday")}),
    ),
    Case(
        "preview-time-number",
        "preview",
        "last_deployed: Input should be a valid string",
        previous=state(previews={preview_id("web", "f"): preview_entry("web", "f", last_deployed=5)}),
    ),
    Case(
        "preview-of-master",
        "preview",
        "never deploys to preview",
        previous=state(previews={preview_id("web", "master"): preview_entry("web", "master")}),
    ),
    Case(
        "hold-numbers",
        "prod",
        "holds.web.commits.0: Input should be a valid string",
        previous=state(
            holds={"web": {"commits": [1, 2], "rolled_back_to": SHA, "reason": "x", "since": "2026-03-01T10:00:00Z"}}
        ),
    ),
    Case(
        "releases-in-preview",
        "preview",
        "stack output releases (web) cannot exist in the preview stack",
        previous=state(releases={"web": release(SHA)}),
    ),
    Case(
        "previews-in-prod", "prod", "stack output previews", previous=state(previews={"x": preview_entry("web", "f")})
    ),
]


def _materialize(value: Any, shas: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, key in (("{master}", "master"), ("{latest}", "latest"), ("{feature}", "feature/login")):
            value = value.replace(name, shas[key])
        return value
    if isinstance(value, dict):
        return {k: _materialize(v, shas) for k, v in value.items()}
    if isinstance(value, list):
        return [_materialize(v, shas) for v in value]
    return value


def test_the_corpus_is_large_and_covers_every_input() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(c.catalog is not None for c in CASES) >= 10
    assert sum(bool(c.extra) for c in CASES) >= 10
    assert sum(c.previous is not None and not c.event for c in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_one_clear_refusal_that_changes_nothing(case: Case, web_repo: Repo, tmp_path: Path) -> None:
    git, shas = web_repo
    extra = dict(case.extra)
    if case.catalog is not None:
        catalog = tmp_path / "apps.yaml"
        catalog.write_text(case.catalog, encoding="utf-8")
        extra["gitops:catalog"] = str(catalog)
    previous = INITIALIZED if case.previous is None else _materialize(case.previous, shas)
    if case.id == "init-twice":
        previous = state()
    kwargs: dict[str, Any] = {"now": case.now} if case.now else {}
    with pytest.raises(ProgramRefused) as err:
        run(
            case.stack,
            repo=git.path,
            previous=previous,
            extra=extra,
            secret_keys=list(case.secret_keys),
            **kwargs,
            **_materialize(case.event, shas),
        )
    message = str(err.value)
    assert case.expect in message, message
    assert message.count(REFUSAL_MARK) == 1 and "Traceback" not in message
    assert len(message) < 2_000, f"unbounded message ({len(message)} characters)"
    mutating = [r for r in err.value.registered if r.type != STACK_REFERENCE]
    assert mutating == [], [r.urn for r in mutating]
