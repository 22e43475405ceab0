"""``ReleaseGate``: the GitLab side of one environment (variables, protection, environments, ...).

Which stack owns which resource is decided in ``gitops.core.gitlab_gate``; this component only
registers what its environment owns. Every resource is named from what it is (environment, project,
key), never from a position, so adding or reordering catalog apps renames nothing. The prod stack
adopts every catalog app project (``import``, a minimal managed surface: ``RELEASE_SETTINGS`` only;
protected and retained, so no change here can delete a project) and the deploy project itself.
"""

from __future__ import annotations

import pulumi
import pulumi_gitlab as gitlab

from components.gate_inputs import GateSecrets, PullToken
from gitops.core.catalog import AppSpec, Catalog
from gitops.core.environments import Environment
from gitops.core.gitlab_gate import ENVIRONMENT_SCOPE, owns_project_settings, owns_sweep
from gitops.core.migrations import freeze_name, variable_name
from gitops.core.naming import app_host
from gitops.core.registry import token_username
from gitops.core.settings import GitLabSettings, Schedule

MAINTAINER = "maintainer"
NO_ONE = "no one"


def release_settings(pipeline: str) -> dict[str, object]:
    """The project settings the release model relies on, and the only ones the stack changes."""
    return {
        "ci_config_path": pipeline,  # the deploy repo's pipeline, not the app's own
        "ci_forward_deployment_enabled": True,  # GitLab's "prevent outdated deployment jobs"
        "ci_forward_deployment_rollback_allowed": False,  # going back is `gitops rollback`, not a job retry
        "ci_pipeline_variables_minimum_override_role": MAINTAINER,  # developers cannot set GITOPS_STACK & co.
        "only_allow_merge_if_pipeline_succeeds": True,
        "remove_source_branch_after_merge": True,  # the merged branch's preview is then stopped
    }


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
        *,
        only_app: str | None = None,
        live: frozenset[str] = frozenset(),
    ) -> None:
        """``only_app``: a targeted release of that app registers only its pull token (the one value it
        needs); every other GitLab resource is untargeted, so the engine keeps it as it is.

        ``live``: the apps that run in this environment and are not being retired. What guards their release
        gate (branch protection, approval rules, environments, protected environments, CI/CD variables) is
        ``protect``ed in staging/prod like their Kubernetes objects, and so is the deploy repo's: the engine
        refuses to delete it, so a program that stops registering it (a catalog or settings edit, a lost
        state) cannot silently open the gate. ``gitops retire`` unprotects an app's (it leaves ``live``) before
        anything of it may go. Its registry deploy tokens are protected too (deleting one revokes what the pods'
        next image pull needs); a rotation keeps the old ones, unprotected, for one update
        (``retiring_registry_token_rotation``) and deletes them in the next."""
        super().__init__("gitops:gitlab:ReleaseGate", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self, provider=provider)
        self._env, self._settings, self._live = env, settings, live
        if only_app is not None:
            self.pull_tokens = self._pull_tokens(catalog, only=only_app)
            self.register_outputs({"environment_scope": ENVIRONMENT_SCOPE[env.name]})
            return
        projects = self._app_projects(catalog)
        self.pull_tokens = self._pull_tokens(catalog)
        paths = {app: spec.gitlab_project for app, spec in catalog.apps.items()}
        self._variables(secrets, {paths[app]: (app, project) for app, project in projects.items()})
        if owns_project_settings(env):
            self._deploy_project()
        for app, project in projects.items():
            if env.deploy_branch is not None:
                self._protect_branch(app, project, env.deploy_branch)
                self._environment(app, project, app_host(app, domain))
            if owns_project_settings(env):
                self._project_settings(app, project, secrets)
            if owns_sweep(env) and settings.deploy_project_id is not None:  # the sweep clones every app
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
        if owns_project_settings(env) and settings.dashboard_schedule:
            schedule = settings.dashboard_schedule
            self._schedule(f"{name}-dashboard", "gitops: release dashboard", schedule, {"GITOPS_JOB": "dashboard"})
        self.register_outputs({"environment_scope": ENVIRONMENT_SCOPE[env.name]})

    def _guarded(self, app: str | None) -> pulumi.ResourceOptions:
        """Options of a gate resource: protected in staging/prod, for the deploy repo (``app`` None) and for
        every live app."""
        protect = not self._env.is_preview and (app is None or app in self._live)
        return pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(protect=protect))

    def _pull_tokens(self, catalog: Catalog, only: str | None = None) -> dict[str, PullToken]:
        """One read_registry deploy token per app project for this environment. Its name carries
        ``registry_token_rotation``: change that to rotate (the new token is created and the pull Secrets
        updated before the old token is deleted)."""
        rotation, retiring = self._settings.registry_token_rotation, self._settings.retiring_registry_token_rotation
        tokens = {}
        for app, spec in sorted(catalog.apps.items()):
            if only is not None and app != only:
                continue
            username = token_username(self._env.name, app)
            token = self._pull_token(app, spec.gitlab_project, rotation, username, self._guarded(app))
            tokens[app] = PullToken(username, token.token)
            if retiring is not None and only is None and not self._env.is_preview:
                self._pull_token(app, spec.gitlab_project, retiring, username, self._child)  # kept one update, unused
        return tokens

    def _pull_token(
        self, app: str, project: str, rotation: str, username: str, opts: pulumi.ResourceOptions
    ) -> gitlab.ProjectDeployToken:
        return gitlab.ProjectDeployToken(
            f"{self._env.name}-{app}-registry-pull-{rotation}",
            project=project,
            name=f"gitops {self._env.name} image pulls ({rotation})",
            username=username,
            scopes=["read_registry"],
            opts=opts,
        )

    def _app_projects(self, catalog: Catalog) -> dict[str, pulumi.Input[str]]:
        """Project references by app. prod adopts each existing project (or creates it where the catalog
        says so) with the release settings; the other stacks refer to it by path."""
        projects: dict[str, pulumi.Input[str]] = {}
        for app, spec in sorted(catalog.apps.items()):
            projects[app] = spec.gitlab_project
            if not owns_project_settings(self._env):
                continue
            project = self._created(app, spec.gitlab_project) if spec.create_project else self._adopted(app, spec)
            if spec.create_project:
                projects[app] = project.path_with_namespace
            gitlab.ProjectJobTokenScope(  # app jobs pull the engine image from the deploy project's registry
                f"prod-deploy-project-allows-{app}",
                project=self._settings.deploy_project,
                target_project_id=project.id.apply(int),
                opts=self._child,
            )
        return projects

    def _adopted(self, app: str, spec: AppSpec) -> gitlab.Project:
        """An existing project, imported by path: only ``release_settings`` are declared, so nothing else
        about it (name, members, visibility, default branch, ...) is ever changed by this stack."""
        return gitlab.Project(
            f"prod-{app}-project",
            **release_settings(self._pipeline),
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(import_=spec.gitlab_project, protect=True, retain_on_delete=True)
            ),
        )

    def _created(self, app: str, full_path: str) -> gitlab.Project:
        namespace, path = full_path.rsplit("/", 1)
        group = gitlab.get_group_output(
            full_path=namespace, opts=pulumi.InvokeOptions(parent=self, provider=self._child.provider)
        )
        return gitlab.Project(
            f"prod-{app}-project",
            name=path,
            path=path,
            namespace_id=group.group_id,
            default_branch="master",
            visibility_level="private",
            **release_settings(self._pipeline),
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(protect=True, retain_on_delete=True)),
        )

    @property
    def _pipeline(self) -> str:
        return f"{self._settings.pipeline_file}@{self._settings.deploy_project}"

    def _deploy_project(self) -> None:
        """This repo: merge-only master (its pipeline applies every stack), maintainers-only pipeline variables."""
        deploy = self._settings.deploy_project
        settings = {k: v for k, v in release_settings(self._pipeline).items() if not k.startswith("ci_forward")}
        del settings["ci_config_path"]  # the deploy repo runs its own .gitlab-ci.yml
        settings["pages_access_level"] = "private"  # the release dashboard (its `pages` job): members only
        gitlab.Project(
            "prod-deploy-project",
            **settings,
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(import_=deploy, protect=True, retain_on_delete=True)
            ),
        )
        gitlab.BranchProtection(
            "prod-deploy-project-protect-master",
            project=deploy,
            branch="master",
            push_access_level=NO_ONE,
            merge_access_level=MAINTAINER,
            allow_force_push=False,
            opts=self._guarded(None),
        )

    def _variables(self, secrets: GateSecrets, projects: dict[str, tuple[str, pulumi.Input[str]]]) -> None:
        """This environment's credentials: masked; protected outside preview; scoped to its environment.
        Named by environment, project path and key, so no catalog change renames another variable."""
        scope = ENVIRONMENT_SCOPE[self._env.name]
        targets: dict[str, tuple[str | None, pulumi.Input[str]]] = {
            **projects,
            self._settings.deploy_project: (None, self._settings.deploy_project),
        }
        # Named by position until 2026-12: gitops.core.migrations renames those in the state, from what it recorded.
        for path, (app, project) in sorted(targets.items()):
            for key, value in secrets.ci_variables.items():
                gitlab.ProjectVariable(
                    variable_name(self._env.name, path, key),
                    project=project,
                    key=key,
                    value=value,
                    masked=True,
                    protected=not self._env.is_preview,
                    environment_scope=scope,
                    raw=True,
                    variable_type="env_var",
                    description=f"gitops {self._env.name} credential (managed by the {self._env.name} stack)",
                    # GitLab keeps one (project, key, scope): a replacement must delete before it creates
                    opts=pulumi.ResourceOptions.merge(
                        self._guarded(app), pulumi.ResourceOptions(delete_before_replace=True)
                    ),
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
            opts=self._guarded(app),
        )
        if self._settings.premium:
            gitlab.ProjectApprovalRule(
                f"{self._env.name}-{app}-approval-{branch}",
                project=project,
                name=f"release approval ({branch})",
                approvals_required=self._settings.required_approvals,
                group_ids=self._settings.approver_group_ids or None,
                protected_branch_ids=[protection.branch_protection_id],
                opts=self._guarded(app),
            )

    def _environment(self, app: str, project: pulumi.Input[str], host: str) -> None:
        name = ENVIRONMENT_SCOPE[self._env.name]
        gitlab.ProjectEnvironment(
            f"{self._env.name}-{app}-environment",
            project=project,
            name=name,
            tier=name,
            external_url=f"https://{host}",
            opts=self._guarded(app),
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
                opts=self._guarded(app),
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
            opts=self._guarded(app),  # the app's pipeline finds its app by it
        )
        for freeze in self._settings.freezes:  # named by position until 2026-12: see gitops.core.migrations
            gitlab.ProjectFreezePeriod(
                freeze_name(app, freeze.start, freeze.end, freeze.timezone),
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
