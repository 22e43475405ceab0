"""GitLab resources per stack under mocks: access levels, protection, variable scopes, secrets, owners."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gitops.offline.engine import ProgramRefused, Registered, RunResult
from tests.gitutil import GitRepo
from tests.harness import run

Repo = tuple[GitRepo, dict[str, str]]
KUBE = "a3ViZWNvbmZpZy1zZWNyZXQtdmFsdWU="  # base64, maskable
TOKEN = "pul-0123456789abcdef"
WEBHOOK = "https://hooks.slack.example.com/services/T000/B000/XXXXSECRET"
SECRETS = {"gitops:ciVariables": json.dumps({"KUBECONFIG_B64": KUBE, "PULUMI_ACCESS_TOKEN": TOKEN})}
SECRET_KEYS = ["gitops:ciVariables"]


def gate(
    stack: str, *, extra: dict[str, str] | None = None, secret_keys: list[str] | None = None, **kw: Any
) -> RunResult:
    return run(stack, extra={**SECRETS, **(extra or {})}, secret_keys=[*SECRET_KEYS, *(secret_keys or [])], **kw)


def of(result: RunResult, kind: str) -> list[Registered]:
    return [r for r in result.resources if r.type.split(":")[-1] == kind and r.type.startswith("gitlab:")]


def with_premium(stack: str) -> str:
    settings = {
        "base_url": "https://gitlab.example.com/api/v4",
        "deploy_project": "platform/deploy",
        "premium": True,
        "required_approvals": 2,
        "approver_group_ids": [7],
    }
    return json.dumps(settings)


def test_preview_variables_are_masked_unprotected_and_scoped_to_review_apps() -> None:
    result = gate("preview")
    variables = of(result, "ProjectVariable")
    assert {(v.inputs["project"], v.inputs["key"]) for v in variables} == {
        (p, k) for p in ("shop/web", "shop/api", "platform/deploy") for k in ("KUBECONFIG_B64", "PULUMI_ACCESS_TOKEN")
    }
    for variable in variables:
        assert variable.inputs["masked"] is True and variable.inputs["protected"] is False
        assert variable.inputs["environmentScope"] == "review/*"
        assert variable.secret_paths == ["value"]
    assert not of(result, "BranchProtection") and not of(result, "ProjectEnvironment")
    scopes = of(result, "ProjectJobTokenScope")
    assert sorted(s.inputs["project"] for s in scopes) == ["shop/api", "shop/web"]
    assert all(s.inputs["targetProjectId"] == 42 for s in scopes)
    (schedule,) = of(result, "PipelineSchedule")
    assert schedule.inputs["project"] == "platform/deploy" and schedule.inputs["cron"] == "17 * * * *"
    (variable,) = of(result, "PipelineScheduleVariable")
    assert (variable.inputs["key"], variable.inputs["value"]) == ("GITOPS_JOB", "prune")
    assert isinstance(variable.inputs["pipelineScheduleId"], int)


def test_staging_protects_latest_and_owns_its_protected_scoped_credentials() -> None:
    result = gate("staging")
    for variable in of(result, "ProjectVariable"):
        assert variable.inputs["protected"] is True and variable.inputs["masked"] is True
        assert variable.inputs["environmentScope"] == "staging"
    protections = of(result, "BranchProtection")
    assert {(p.inputs["project"], p.inputs["branch"]) for p in protections} == {
        ("shop/web", "latest"),
        ("shop/api", "latest"),
    }
    for protection in protections:
        assert protection.inputs["pushAccessLevel"] == "no one"
        assert protection.inputs["mergeAccessLevel"] == "maintainer"
        assert protection.inputs["allowForcePush"] is False
    environments = {e.inputs["project"]: e.inputs for e in of(result, "ProjectEnvironment")}
    assert environments["shop/web"]["name"] == "staging"
    assert environments["shop/web"]["externalUrl"] == "https://web.staging.example.com"
    assert not of(result, "ProjectApprovalRule") and not of(result, "ProjectProtectedEnvironment")


def test_prod_owns_master_production_freezes_and_project_wide_settings() -> None:
    result = gate(
        "prod",
        extra={
            "gitops:slackWebhook": WEBHOOK,
            "gitops:gitlab": json.dumps(
                {
                    "base_url": "https://gitlab.example.com/api/v4",
                    "deploy_project": "platform/deploy",
                    "freezes": [{"start": "0 18 * * 5", "end": "0 7 * * 1"}],
                    "slack": {"channel": "#releases"},
                    "pipeline_email_recipients": ["b@example.com", "a@example.com"],
                }
            ),
        },
        secret_keys=["gitops:slackWebhook"],
    )
    assert {p.inputs["branch"] for p in of(result, "BranchProtection")} == {"master"}
    assert {e.inputs["name"] for e in of(result, "ProjectEnvironment")} == {"production"}
    scopes = {v.inputs["environmentScope"] for v in of(result, "ProjectVariable") if v.inputs["key"] != "GITOPS_APP"}
    assert scopes == {"production"}
    app_names = {v.inputs["project"]: v for v in of(result, "ProjectVariable") if v.inputs["key"] == "GITOPS_APP"}
    assert app_names["shop/web"].inputs["value"] == "web" and app_names["shop/web"].secret_paths == []
    freeze = of(result, "ProjectFreezePeriod")[0].inputs
    assert (freeze["freezeStart"], freeze["freezeEnd"], freeze["cronTimezone"]) == ("0 18 * * 5", "0 7 * * 1", "UTC")
    slack = of(result, "IntegrationSlack")
    assert len(slack) == 2 and all(s.secret_paths == ["webhook"] for s in slack)
    assert slack[0].inputs["pipelineEvents"] is True and slack[0].inputs["pipelineChannel"] == "#releases"
    emails = of(result, "ProjectIntegrationPipelinesEmail")[0].inputs
    assert emails["recipients"] == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize(
    ("stack", "branch", "environment"), [("staging", "latest", "staging"), ("prod", "master", "production")]
)
def test_premium_adds_approval_rules_and_protected_environments(stack: str, branch: str, environment: str) -> None:
    free = gate(stack)
    premium = gate(stack, extra={"gitops:gitlab": with_premium(stack)})
    assert not of(free, "ProjectApprovalRule") and not of(free, "ProjectProtectedEnvironment")
    rules = of(premium, "ProjectApprovalRule")
    protection_ids = {p.inputs["branch"]: p for p in of(premium, "BranchProtection")}
    assert len(rules) == 2 and branch in protection_ids
    for rule in rules:
        assert rule.inputs["approvalsRequired"] == 2 and rule.inputs["groupIds"] == [7]
        assert len(rule.inputs["protectedBranchIds"]) == 1 and isinstance(rule.inputs["protectedBranchIds"][0], int)
    envs = of(premium, "ProjectProtectedEnvironment")
    assert {e.inputs["environment"] for e in envs} == {environment}
    assert envs[0].inputs["approvalRules"] == [{"groupId": 7, "requiredApprovals": 2}]
    assert envs[0].inputs["deployAccessLevelsAttributes"] == [{"accessLevel": "maintainer"}]


def identity(resource: Registered) -> tuple[Any, ...]:
    """What makes a GitLab object the same object, whichever stack declares it."""
    i = resource.inputs
    kind = resource.type.split(":")[-1]
    if kind == "ProjectVariable":
        return kind, i["project"], i["key"], i["environmentScope"]
    if kind == "PipelineSchedule":
        return kind, i["project"], i["description"]
    if kind == "Project":  # adopted by import (its path) or created (its path in the catalog)
        return kind, resource.import_id or i.get("path")
    if kind == "ProjectJobTokenScope":
        return kind, i["project"], i["targetProjectId"]
    if kind == "PipelineScheduleVariable":
        return kind, i["project"], i["pipelineScheduleId"], i["key"]
    return kind, i.get("project"), i.get("branch") or i.get("name") or i.get("environment") or i.get("freezeStart")


def test_every_gitlab_resource_has_exactly_one_owning_stack() -> None:
    owners: dict[tuple[Any, ...], list[str]] = {}
    for stack in ("preview", "staging", "prod"):
        premium = json.loads(with_premium(stack))
        premium.update(
            {
                "freezes": [{"start": "0 18 * * 5", "end": "0 7 * * 1"}],
                "deploy_project_id": 42,
                "drift_schedule": {"cron": "0 6 * * *"},
                "prune_schedule": {"cron": "17 * * * *"},
                "dashboard_schedule": {"cron": "*/30 * * * *"},
            }
        )
        result = gate(stack, extra={"gitops:gitlab": json.dumps(premium)})
        for resource in result.resources:
            if resource.custom and resource.type.startswith("gitlab:index/"):
                owners.setdefault(identity(resource), []).append(stack)
        (provider,) = result.of_type("pulumi:providers:gitlab")
        assert (
            provider.inputs["earlyAuthCheck"] == "false" and "token" not in provider.inputs
        )  # provider config is text
        for resource in result.resources:
            if resource.custom and resource.type.startswith("gitlab:index/"):
                assert resource.provider.rsplit("::", 1)[0] == provider.urn, "explicit provider, never a default"
    shared = {k: v for k, v in owners.items() if len(v) > 1}
    assert not shared, shared
    assert {s for v in owners.values() for s in v} == {"preview", "staging", "prod"}
    assert [v for k, v in owners.items() if k[0] == "PipelineSchedule" and "prune" in str(k[2])] == [["preview"]]
    assert [v for k, v in owners.items() if k[0] == "PipelineSchedule" and "dashboard" in str(k[2])] == [["prod"]]


def test_prod_publishes_the_dashboard_to_members_only_on_its_schedule() -> None:
    settings = {**json.loads(with_premium("prod")), "dashboard_schedule": {"cron": "*/30 * * * *"}}
    result = gate("prod", extra={"gitops:gitlab": json.dumps(settings)})
    (deploy,) = [p for p in of(result, "Project") if p.import_id == "platform/deploy"]
    assert deploy.inputs["pagesAccessLevel"] == "private", "GitLab Pages of the deploy project: members only"
    (schedule,) = [s for s in of(result, "PipelineSchedule") if "dashboard" in s.inputs["description"]]
    assert schedule.inputs["cron"] == "*/30 * * * *" and schedule.inputs["project"] == "platform/deploy"
    variables = [v for v in of(result, "PipelineScheduleVariable") if v.name.startswith("prod-gitlab-dashboard")]
    assert [(v.inputs["key"], v.inputs["value"]) for v in variables] == [("GITOPS_JOB", "dashboard")]


def test_plain_ci_variables_are_refused() -> None:
    with pytest.raises(ProgramRefused, match="gitops:ciVariables must be a secret") as err:
        run("staging", extra=SECRETS)
    assert err.value.registered == []


def test_unmaskable_value_is_refused_without_echoing_it() -> None:
    value = "apiVersion: v1\nclusters: []\n"
    with pytest.raises(ProgramRefused) as err:
        run("staging", extra={"gitops:ciVariables": json.dumps({"KUBECONFIG": value})}, secret_keys=SECRET_KEYS)
    assert "gitops:ciVariables.KUBECONFIG (staging) cannot be masked" in str(err.value)
    assert "KUBECONFIG_B64" in str(err.value) and "clusters" not in str(err.value)


def test_secret_values_appear_only_under_secret_paths() -> None:
    for stack in ("preview", "staging", "prod"):
        result = gate(stack)
        for resource in result.resources:
            plain = json.dumps({k: v for k, v in resource.inputs.items() if k not in resource.secret_paths})
            assert KUBE not in plain and TOKEN not in plain, resource.urn
        assert KUBE not in json.dumps(result.outputs) and KUBE not in "\n".join(result.logs)


def test_catalog_can_ask_prod_to_create_a_project(tmp_path: Path) -> None:
    catalog = tmp_path / "apps.yaml"
    catalog.write_text(
        "apps:\n  shopfront:\n    gitlab_project: shop/frontend\n    image: registry.example.com/shop/frontend\n"
        "    port: 8080\n    create_project: true\n"
    )
    prod = gate("prod", extra={"gitops:catalog": str(catalog), "gitops:overrides": "{}"})
    (project,) = [p for p in of(prod, "Project") if not p.import_id]
    assert project.inputs["ciConfigPath"] == "ci/pipeline.yml@platform/deploy"
    assert project.protect and project.retain_on_delete
    assert project.inputs["path"] == "frontend" and isinstance(project.inputs["namespaceId"], int)
    (protection,) = [p for p in of(prod, "BranchProtection") if p.inputs["project"] != "platform/deploy"]
    assert protection.inputs["project"] == "group-{}/frontend".format(project.inputs["namespaceId"])
    staging = gate("staging", extra={"gitops:catalog": str(catalog), "gitops:overrides": "{}"})
    assert not of(staging, "Project"), "only prod creates projects; staging refers to it by path"
    assert of(staging, "BranchProtection")[0].inputs["project"] == "shop/frontend"


FRIDAY_NIGHT = datetime(2026, 3, 6, 20, 0)  # inside the sample freeze (Fri 18:00 .. Mon 07:00 Europe/Berlin)


def test_prod_deploy_during_a_freeze_is_refused_at_deploy_time(web_repo: Repo) -> None:
    git, shas = web_repo
    with pytest.raises(ProgramRefused, match=r"refused: deploy of web@.* to prod during a deploy freeze") as err:
        run("prod", repo=git.path, now=FRIDAY_NIGHT, app="web", commit=shas["master"])
    assert "ends at 2026-03-09 06:00 UTC" in str(err.value) and err.value.registered == []
    staging = run("staging", repo=git.path, now=FRIDAY_NIGHT, app="web", commit=shas["latest"])
    assert staging.outputs["releases"]["web"]["commit"] == shas["latest"]


def test_rollback_is_allowed_during_a_freeze(tmp_path: Path) -> None:
    git = GitRepo(tmp_path / "web")
    first, second = git.head(), git.commit("second")
    state = run("prod", repo=git.path, app="web", commit=first).outputs
    state = run("prod", repo=git.path, previous=state, app="web", commit=second).outputs
    rolled = run(
        "prod",
        repo=git.path,
        previous=state,
        now=FRIDAY_NIGHT,
        app="web",
        commit=first,
        action="rollback",
        reason="errors",
    )
    assert rolled.outputs["releases"]["web"]["commit"] == first


RELEASE_SETTINGS = {
    "ciConfigPath": "ci/pipeline.yml@platform/deploy",
    "ciForwardDeploymentEnabled": True,
    "ciForwardDeploymentRollbackAllowed": False,
    "ciPipelineVariablesMinimumOverrideRole": "maintainer",
    "onlyAllowMergeIfPipelineSucceeds": True,
    "removeSourceBranchAfterMerge": True,
}


def test_prod_adopts_every_app_project_with_only_the_release_settings() -> None:
    result = gate("prod")
    projects = {p.import_id: p for p in of(result, "Project")}
    assert set(projects) == {"shop/web", "shop/api", "platform/deploy"}
    for path in ("shop/web", "shop/api"):
        project = projects[path]
        assert project.inputs == RELEASE_SETTINGS, "nothing else of an adopted project is declared"
        assert project.protect and project.retain_on_delete, "no update can delete an adopted project"
    deploy = projects["platform/deploy"].inputs
    assert "ciConfigPath" not in deploy and deploy["ciPipelineVariablesMinimumOverrideRole"] == "maintainer"
    (master,) = [p.inputs for p in of(result, "BranchProtection") if p.inputs["project"] == "platform/deploy"]
    assert (master["branch"], master["pushAccessLevel"], master["mergeAccessLevel"]) == (
        "master",
        "no one",
        "maintainer",
    )
    allowed = {s.inputs["targetProjectId"] for s in of(result, "ProjectJobTokenScope")}
    assert len(allowed) == 2 and all(isinstance(i, int) for i in allowed), "app project ids, both apps"
    assert {s.inputs["project"] for s in of(result, "ProjectJobTokenScope")} == {"platform/deploy"}
    for stack in ("preview", "staging"):
        assert not of(gate(stack), "Project"), f"{stack} refers to projects by path; only prod adopts them"


def gitlab_names(stack: str, catalog_text: str, tmp_path: Path) -> set[str]:
    catalog = tmp_path / f"{stack}-{abs(hash(catalog_text))}.yaml"
    catalog.write_text(catalog_text, encoding="utf-8")
    result = gate(stack, extra={"gitops:catalog": str(catalog), "gitops:overrides": "{}"})
    return {f"{r.type}::{r.name}" for r in result.resources if r.type.startswith("gitlab:")}


def app_block(name: str) -> str:
    return f"  {name}:\n    gitlab_project: shop/{name}\n    image: registry.example.com/shop/{name}\n    port: 8080\n"


@pytest.mark.parametrize("stack", ["preview", "staging", "prod"])
def test_adding_removing_or_reordering_apps_renames_no_other_resource(stack: str, tmp_path: Path) -> None:
    before = gitlab_names(stack, "apps:\n" + app_block("web") + app_block("api"), tmp_path)
    grown = gitlab_names(stack, "apps:\n" + app_block("aaa") + app_block("api") + app_block("web"), tmp_path)
    shrunk = gitlab_names(stack, "apps:\n" + app_block("web"), tmp_path)
    assert {n for n in grown if "aaa" not in n} == before, "a new app (sorted first) renames nothing else"
    assert shrunk <= before and shrunk, "removing an app renames nothing else"
    assert any("shop/web" in n for n in before), "variables are named by project path"


def test_no_alias_is_derived_from_todays_configuration() -> None:
    """Positional names are migrated in the state (gitops.core.migrations, tests/test_migrations.py): an alias
    computed from today's catalog or freeze list would point at another resource's old state."""
    result = gate("prod", extra={"gitops:gitlab": json.dumps({**json.loads(GITLAB_PROD), "freezes": FREEZES})})
    named = of(result, "ProjectVariable") + of(result, "ProjectFreezePeriod")
    assert len(of(result, "ProjectFreezePeriod")) == 4 and all(r.alias_names == [] for r in named)
    variables = {(v.inputs["project"], v.inputs["key"]): v for v in of(gate("staging"), "ProjectVariable")}
    assert all(v.delete_before_replace for v in variables.values()), "GitLab keeps one (project, key, scope)"
    assert variables[("shop/web", "KUBECONFIG_B64")].name == "staging-var-shop/web-kubeconfig_b64"


GITLAB_PROD = json.dumps({"base_url": "https://gitlab.example.com/api/v4", "deploy_project": "platform/deploy"})
FREEZES = [{"start": "0 18 * * 5", "end": "0 7 * * 1"}, {"start": "0 0 24 12 *", "end": "0 0 2 1 *"}]
