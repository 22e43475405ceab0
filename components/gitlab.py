"""``ReleaseGate``: the GitLab side of one environment (variables, protection, environments, ...).

Which stack owns which resource is decided in ``gitops.core.gitlab_gate``; this component only
registers what its environment owns. Existing app projects are referenced by path (looked up by
the provider, never recreated); a catalog app with ``create_project: true`` is created here.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gitlab as gitlab

from gitops.core.catalog import Catalog
from gitops.core.environments import Environment
from gitops.core.gitlab_gate import ENVIRONMENT_SCOPE, owns_project_settings, owns_sweep
from gitops.core.naming import app_host
from gitops.core.settings import GitLabSettings, Schedule

MAINTAINER = "maintainer"
NO_ONE = "no one"


@dataclass(frozen=True)
class GateSecrets:
    """Secret inputs, already wrapped as Pulumi secrets."""

    ci_variables: dict[str, pulumi.Output[str]]
    slack_webhook: pulumi.Output[str] | None = None


class ReleaseGate(pulumi.ComponentResource):
    """GitLab resources owned by one environment's stack."""

    def __init__(
        self,
        name: str,
        env: Environment,
        settings: GitLabSettings,
        catalog: Catalog,
        domain: str,
        secrets: GateSecrets,
        provider: gitlab.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gitops:gitlab:ReleaseGate", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self, provider=provider)
        self._env, self._settings = env, settings
        projects = self._app_projects(catalog)
        self._variables(secrets, [*projects.values(), settings.deploy_project])
        for app, project in projects.items():
            if env.deploy_branch is not None:
                self._protect_branch(app, project, env.deploy_branch)
                self._environment(app, project, app_host(app, domain))
            if owns_project_settings(env):
                self._project_settings(app, project, secrets)
            if owns_sweep(env) and settings.deploy_project_id is not None:
                gitlab.ProjectJobTokenScope(
                    f"{name}-{app}-job-token",
                    project=project,
                    target_project_id=settings.deploy_project_id,
                    opts=self._child,
                )
        if owns_sweep(env) and settings.prune_schedule:
            self._schedule(
                f"{name}-prune", "gitops: prune stale previews", settings.prune_schedule, {"GITOPS_JOB": "prune"}
            )
        if settings.drift_schedule:
            variables = {"GITOPS_JOB": "drift", "GITOPS_STACK": env.name}
            self._schedule(f"{name}-drift", f"gitops: drift check of {env.name}", settings.drift_schedule, variables)
        self.register_outputs({"environment_scope": ENVIRONMENT_SCOPE[env.name]})

    def _app_projects(self, catalog: Catalog) -> dict[str, pulumi.Input[str]]:
        """Project references by app; created only where the catalog says so (and only by prod)."""
        projects: dict[str, pulumi.Input[str]] = {}
        for app, spec in sorted(catalog.apps.items()):
            if spec.create_project and owns_project_settings(self._env):
                namespace, path = spec.gitlab_project.rsplit("/", 1)
                group = gitlab.get_group_output(
                    full_path=namespace, opts=pulumi.InvokeOptions(parent=self, provider=self._child.provider)
                )
                created = gitlab.Project(
                    f"{self._env.name}-{app}-project",
                    name=path,
                    path=path,
                    namespace_id=group.group_id,
                    ci_config_path=f"{self._settings.pipeline_file}@{self._settings.deploy_project}",
                    only_allow_merge_if_pipeline_succeeds=True,
                    remove_source_branch_after_merge=True,
                    default_branch="master",
                    visibility_level="private",
                    opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(protect=True)),
                )
                projects[app] = created.path_with_namespace
            else:
                projects[app] = spec.gitlab_project
        return projects

    def _variables(self, secrets: GateSecrets, projects: list[pulumi.Input[str]]) -> None:
        """This environment's credentials: masked; protected outside preview; scoped to its environment."""
        scope = ENVIRONMENT_SCOPE[self._env.name]
        for index, project in enumerate(projects):
            for key, value in secrets.ci_variables.items():
                gitlab.ProjectVariable(
                    f"{self._env.name}-var-{index}-{key.lower()}",
                    project=project,
                    key=key,
                    value=value,
                    masked=True,
                    protected=not self._env.is_preview,
                    environment_scope=scope,
                    raw=True,
                    variable_type="env_var",
                    description=f"gitops {self._env.name} credential (managed by the {self._env.name} stack)",
                    opts=self._child,
                )

    def _protect_branch(self, app: str, project: pulumi.Input[str], branch: str) -> None:
        """Nobody pushes; only maintainers (admins) merge: the merge is the release approval."""
        protection = gitlab.BranchProtection(
            f"{self._env.name}-{app}-protect-{branch}",
            project=project,
            branch=branch,
            push_access_level=NO_ONE,
            merge_access_level=MAINTAINER,
            allow_force_push=False,
            opts=self._child,
        )
        if self._settings.premium:
            gitlab.ProjectApprovalRule(
                f"{self._env.name}-{app}-approval-{branch}",
                project=project,
                name=f"release approval ({branch})",
                approvals_required=self._settings.required_approvals,
                group_ids=self._settings.approver_group_ids or None,
                protected_branch_ids=[protection.branch_protection_id],
                opts=self._child,
            )

    def _environment(self, app: str, project: pulumi.Input[str], host: str) -> None:
        name = ENVIRONMENT_SCOPE[self._env.name]
        gitlab.ProjectEnvironment(
            f"{self._env.name}-{app}-environment",
            project=project,
            name=name,
            tier=name,
            external_url=f"https://{host}",
            opts=self._child,
        )
        if self._settings.premium:
            required = self._settings.required_approvals
            rule = gitlab.ProjectProtectedEnvironmentApprovalRuleArgs
            approvers = [rule(group_id=g, required_approvals=required) for g in self._settings.approver_group_ids] or [
                rule(access_level=MAINTAINER, required_approvals=required)
            ]
            gitlab.ProjectProtectedEnvironment(
                f"{self._env.name}-{app}-protected-environment",
                project=project,
                environment=name,
                deploy_access_levels_attributes=[{"access_level": MAINTAINER}],
                approval_rules=approvers,
                opts=self._child,
            )

    def _project_settings(self, app: str, project: pulumi.Input[str], secrets: GateSecrets) -> None:
        """Project-wide pieces (prod): the app's name for the pipeline, freezes, chat and email."""
        gitlab.ProjectVariable(
            f"prod-{app}-gitops-app",
            project=project,
            key="GITOPS_APP",
            value=app,
            masked=False,
            protected=False,
            environment_scope="*",
            raw=True,
            description="catalog app name used by the gitops pipeline",
            opts=self._child,
        )
        for index, freeze in enumerate(self._settings.freezes):
            gitlab.ProjectFreezePeriod(
                f"prod-{app}-freeze-{index}",
                project=project,
                freeze_start=freeze.start,
                freeze_end=freeze.end,
                cron_timezone=freeze.timezone,
                opts=self._child,
            )
        slack = self._settings.slack
        if slack is not None and secrets.slack_webhook is not None:
            gitlab.IntegrationSlack(
                f"prod-{app}-slack",
                project=project,
                webhook=secrets.slack_webhook,
                username=slack.username,
                pipeline_events=True,
                pipeline_channel=slack.channel,
                notify_only_broken_pipelines=False,
                branches_to_be_notified="all",
                push_events=False,
                issues_events=False,
                confidential_issues_events=False,
                merge_requests_events=True,
                merge_request_channel=slack.channel,
                tag_push_events=False,
                note_events=False,
                confidential_note_events=False,
                wiki_page_events=False,
                opts=self._child,
            )
        if self._settings.pipeline_email_recipients:
            gitlab.ProjectIntegrationPipelinesEmail(
                f"prod-{app}-pipeline-emails",
                project=project,
                recipients=sorted(self._settings.pipeline_email_recipients),
                notify_only_broken_pipelines=False,
                branches_to_be_notified="all",
                opts=self._child,
            )

    def _schedule(self, name: str, description: str, schedule: Schedule, variables: dict[str, str]) -> None:
        created = gitlab.PipelineSchedule(
            name,
            project=self._settings.deploy_project,
            description=description,
            ref=schedule.ref,
            cron=schedule.cron,
            cron_timezone=schedule.timezone,
            active=True,
            opts=self._child,
        )
        for key, value in sorted(variables.items()):
            gitlab.PipelineScheduleVariable(
                f"{name}-{key.lower()}",
                project=self._settings.deploy_project,
                pipeline_schedule_id=created.pipeline_schedule_id,
                key=key,
                value=value,
                opts=self._child,
            )
