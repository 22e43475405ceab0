"""The admin commands of ``python -m gitops``: each command group lives in its own module (audit,
lifecycle, releases, deploy_repo) and is wired to its sub-command here, imported only when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitops.core.lazy import command


def add_admin_commands(sub: Any) -> None:
    message = sub.add_parser("message", help="print the update message CI passes to pulumi up -m")
    message.add_argument("--action", default="deploy")
    message.add_argument("--app", required=True)
    message.add_argument("--commit")
    message.add_argument("--branch")
    message.add_argument("--actor")
    message.add_argument("--pipeline")
    message.add_argument("--reason")
    message.set_defaults(func=command("gitops.admin.deploy_repo", "cmd_message"))

    history = sub.add_parser("history", help="the release ledger of a stack (all pages)")
    history.add_argument("--stack", required=True)
    history.add_argument("--app")
    history.add_argument("--limit", type=int)
    history.add_argument("--json", action="store_true")
    history.set_defaults(func=command("gitops.admin.audit", "cmd_history"), needs_cli=True)

    rollback = sub.add_parser("rollback", help="roll an app back to its previous good release")
    rollback.add_argument("--stack", required=True)
    rollback.add_argument("--app")
    target = rollback.add_mutually_exclusive_group()
    target.add_argument("--to", help="a commit released successfully here before")
    target.add_argument("--steps", type=int, default=1)
    rollback.add_argument("--reason", required=True)
    rollback.add_argument("--cluster", help="roll back this cluster only; the others keep the current release")
    rollback.add_argument("--repo", help="local clone of the app (default: $CI_PROJECT_DIR)")
    rollback.add_argument("--dry-run", action="store_true")
    rollback.add_argument("--yes", action="store_true")
    rollback.set_defaults(func=command("gitops.admin.audit", "cmd_rollback"), needs_cli=True)

    status = sub.add_parser("status", help="what each app runs, holds and previews")
    status.add_argument("--stack", required=True)
    status.set_defaults(func=command("gitops.admin.audit", "cmd_status"), needs_cli=True)

    hold = sub.add_parser("hold", help="manage rollback holds")
    hold_sub = hold.add_subparsers(dest="hold_command", required=True)
    clear = hold_sub.add_parser("clear", help="allow deploys of an app again after a rollback")
    clear.add_argument("--stack", required=True)
    clear.add_argument("--app", required=True)
    clear.add_argument("--reason", required=True)
    clear.set_defaults(func=command("gitops.admin.audit", "cmd_hold_clear"), needs_cli=True)

    drift = sub.add_parser("drift", help="exit 3 when a refresh would change resources")
    drift.add_argument("--stack", required=True)
    drift.add_argument("--lock-wait", type=float, help="seconds to wait for a locked stack ($GITOPS_LOCK_WAIT_SECONDS)")
    drift.set_defaults(func=command("gitops.admin.audit", "cmd_drift"), needs_cli=True)

    unlock = sub.add_parser("unlock", help="show a stack's lock and its holder; break it after a confirmation")
    unlock.add_argument("--stack", required=True)
    unlock.add_argument("--yes", action="store_true", help="break it without asking")
    unlock.set_defaults(func=command("gitops.admin.repair", "cmd_unlock"), needs_cli=True)

    init = sub.add_parser("init", help="record an empty state in a new staging/prod stack")
    init.add_argument("--stack", required=True)
    init.set_defaults(func=command("gitops.admin.lifecycle", "cmd_init"), needs_cli=True)

    migrate = sub.add_parser("migrate", help="rename state resources still named by position (from what they record)")
    migrate.add_argument("--stack", required=True)
    migrate.add_argument("--dry-run", action="store_true", help="print the renames only")
    migrate.set_defaults(func=command("gitops.admin.lifecycle", "cmd_migrate"), needs_cli=True)

    retire = sub.add_parser("retire", help="delete an app from staging/prod (explicit; two updates)")
    retire.add_argument("--stack", required=True)
    retire.add_argument("--app", required=True)
    retire.add_argument("--reason", required=True)
    retire.add_argument("--yes", action="store_true")
    retire.set_defaults(func=command("gitops.admin.lifecycle", "cmd_retire"), needs_cli=True)

    sweep = sub.add_parser("sweep", help="scheduled: remove previews of gone/merged branches, idle ones, the excess")
    sweep.add_argument("--repo", action="append", default=[], help="<app>=<path of its clone>, once per app")
    sweep.add_argument("--dry-run", action="store_true")
    sweep.add_argument(
        "--memo", type=Path, help="file carrying what a sweep learnt to the next (the sweep job's CI cache)"
    )
    sweep.add_argument("--lock-wait", type=float, help="seconds to wait for a locked stack ($GITOPS_LOCK_WAIT_SECONDS)")
    sweep.set_defaults(func=command("gitops.admin.releases", "cmd_sweep"), needs_cli=True)

    plan = sub.add_parser("plan", help="deploy-repo MR: what applying the settings would change in a stack")
    plan.add_argument("--stack", required=True)
    plan.add_argument("--out", required=True, help="markdown file for plan-note")
    plan.set_defaults(func=command("gitops.admin.deploy_repo", "cmd_plan"), needs_cli=True)

    plan_note = sub.add_parser("plan-note", help="deploy-repo MR: post the plans as one MR note, edited in place")
    plan_note.add_argument("--plans", required=True, help="directory of <stack>.md files written by plan")
    plan_note.set_defaults(func=command("gitops.admin.deploy_repo", "cmd_plan_note"), needs_cli=True)

    apply = sub.add_parser("apply", help="deploy-repo master: pulumi up of one stack with no release event")
    apply.add_argument("--stack", required=True)
    apply.add_argument("--lock-wait", type=float, help="seconds to wait for a locked stack ($GITOPS_LOCK_WAIT_SECONDS)")
    apply.set_defaults(func=command("gitops.admin.deploy_repo", "cmd_apply"), needs_cli=True)

    dashboard = sub.add_parser("dashboard", help="write the release dashboard page (read-only state URLs)")
    dashboard.add_argument("--out", required=True, help="directory for index.html (GitLab Pages: public)")
    dashboard.add_argument("--now", help="ISO timestamp to use as the current time")
    dashboard.add_argument(
        "--repo", action="append", default=[], help="<app>=<path of its clone>: the merge requests each release shipped"
    )
    dashboard.set_defaults(func=command("gitops.dashboard.command", "cmd_dashboard"))

    release = sub.add_parser("release", help="CI: deploy or stop one release; restores the last good one on failure")
    release.add_argument("--stack", required=True)
    release.add_argument("--app", required=True)
    release.add_argument("--branch", required=True)
    release.add_argument("--action", choices=["deploy", "stop"], default="deploy")
    release.add_argument("--commit")
    release.add_argument("--digest", help="sha256:<hex> of the image the build job pushed (required on staging/prod)")
    release.add_argument("--repo", help="the app's clone (the small baseline checks the commit against it)")
    release.add_argument("--dotenv", help="append DEPLOY_RESULT (and GITOPS_REASON) to this file")
    release.add_argument(
        "--lock-wait",
        type=float,
        help="seconds to wait while another update holds the stack lock (default $GITOPS_LOCK_WAIT_SECONDS or 1800)",
    )
    release.set_defaults(func=command("gitops.admin.releases", "cmd_release"), needs_cli=True)
