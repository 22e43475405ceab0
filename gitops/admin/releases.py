"""CI's releases: deploy or stop one release (restoring the last good one when a deploy fails), and the
scheduled sweep of previews."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pulumi import automation as auto

from gitops.admin.cli import Cancellation, JobCancelled, forwarding_sigterm
from gitops.admin.messages import update_message
from gitops.admin.previews import SHARED_STACK, PreviewFleet, preview_policy
from gitops.admin.recovery import restore_after_failure
from gitops.admin.repair import not_restored, repair_interruption, require_reachable
from gitops.admin.rollout import app_spec, goes_in_waves, release_in_waves
from gitops.admin.shared import (
    EXIT_FAILED,
    EXIT_FAILED_RESTORED,
    actor,
    admin_for,
    echo,
    lock_wait_from,
    locked_error,
    pulumi_cli,
    readable_state,
    served_url,
    write_dotenv,
)
from gitops.admin.stack import StackAdmin
from gitops.core.environments import environment_for_stack
from gitops.core.errors import BackendError, ConfigError, GitOpsError
from gitops.core.gitrepo import clone_argument
from gitops.core.naming import preview_of_stack, short_commit


def cmd_release(args: argparse.Namespace) -> int:
    """CI's deploy/stop: wait out the stack lock; restore the last good release if a deploy failed or the job
    was cancelled (SIGTERM) while its update ran."""
    if args.action == "deploy":  # the report's link, written first: a refused or failed release has it too
        with contextlib.suppress(GitOpsError):  # the release refuses what names no URL, and says why
            write_dotenv(args.dotenv, {"DEPLOY_URL": served_url(args.root, args.stack, args.app, args.branch)})
    with forwarding_sigterm() as cancel:
        try:
            return _release(args, cancel)
        except JobCancelled:
            print("cancelled (SIGTERM) before an update of the stack started: nothing changed")
            write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": "cancelled: nothing changed"})
            return EXIT_FAILED
        except BackendError as exc:
            print(f"error: {exc}")
            write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": "the state backend fails"})
            return EXIT_FAILED


def _release(args: argparse.Namespace, cancel: Cancellation) -> int:
    if args.stack != SHARED_STACK and preview_of_stack(args.stack) is not None:
        raise ConfigError(f"use --stack preview: {args.stack} is chosen from --app and --branch")
    env = environment_for_stack(args.stack)
    event = {"app": args.app, "branch": args.branch, "action": args.action}
    if args.commit:
        event["commit"] = args.commit
    if args.digest:
        event["digest"] = args.digest
    if args.repo:
        event["sourceRepo"] = str(Path(args.repo).resolve())
    wait = args.lock_wait if args.lock_wait is not None else lock_wait_from(os.environ)
    pipeline = os.environ.get("CI_PIPELINE_URL", "")
    message = update_message(
        args.action, args.app, actor=actor(), pipeline=pipeline, commit=args.commit, branch=args.branch
    )
    if env.is_preview:
        return _release_preview(args, event, message, wait)
    admin = admin_for(args)
    probe = getattr(args, "pulumi_probe", None)
    if probe is not None and probe.config is not None:  # read while this module was imported (gitops.cli)
        with contextlib.suppress(auto.CommandError, ValueError):  # read again below, and then it says why
            admin.seed_config(probe.config.result())
    with ThreadPoolExecutor(max_workers=1) as pool:  # two reads at once: the state and the preflight's kubeconfigs
        kubeconfigs = pool.submit(admin.kubeconfigs)
        snapshot, before = readable_state(admin)
        kubeconfigs.result()
    live = before.state.releases.get(args.app) if before is not None else None
    settings = admin.settings()
    # every cluster of the stack (every wave) answers before the first object changes anywhere
    clusters = [c.name for c in settings.clusters]
    require_reachable(admin, settings, clusters)
    notes: dict[str, str] = {}
    try:
        if snapshot is not None and snapshot.pending:  # interrupted, or another update's steps in flight
            note = repair_interruption(admin, env, settings, releasing=args.app, wait=wait, pipeline=pipeline)
            if note:
                notes["GITOPS_REASON"] = note
        if args.action == "deploy" and goes_in_waves(settings, app_spec(args.root, settings, args.app)):
            return release_in_waves(args, env, admin, event, before, settings, wait=wait, pipeline=pipeline)
        admin.release_when_unlocked(event, message, echo, wait_seconds=wait, target_app=args.app)
        # the release notes of the report: what this release brings since the one before it
        previous = {"PREVIOUS_COMMIT": live.commit} if live is not None and live.commit != args.commit else {}
        write_dotenv(args.dotenv, {"DEPLOY_RESULT": "success", **previous, **notes})
        return 0
    except auto.ConcurrentUpdateError:
        print(locked_error(admin, wait))
        write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": "stack locked: nothing changed"})
        return EXIT_FAILED
    except auto.CommandError as exc:
        error = f"{exc}"
    what = "was cancelled (the job got SIGTERM)" if cancel.cancelled else "failed"
    print(f"error: the {args.action} of {args.app} to {args.stack} {what}:{error}")
    restore = restore_after_failure(env, event, before, error)
    if restore is None:
        write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", **({"GITOPS_REASON": what} if cancel.cancelled else {})})
        return EXIT_FAILED
    print(f"restoring {args.app} in {args.stack} to {restore.commit}, the release before the failed one")
    restore_message = update_message(
        "restore",
        args.app,
        actor=actor(),
        pipeline=pipeline,
        commit=restore.commit,
        from_commit=restore.failed_commit,
        reason=restore.reason,
    )
    restore_event = {**restore.event(args.branch), **({"sourceRepo": event["sourceRepo"]} if args.repo else {})}
    try:
        # refresh first: a cancelled or failed update may have changed an object the state still records as
        # before (the provider reports no new state for a cancelled operation), and a restore diffed against
        # that record would change nothing while the cluster keeps the failed release
        admin.release_when_unlocked(
            restore_event, restore_message, echo, wait_seconds=wait, target_app=args.app, refresh=True
        )
    except auto.CommandError as exc:
        print(f"error: the restore of {args.app} to {restore.commit} failed too; an admin must act:{exc}")
        reason = f"failed; restoring {short_commit(restore.commit)} failed too: an admin must act"
        write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": reason})
        return EXIT_FAILED
    shown = not_restored(admin, settings, args.app, clusters, restore.commit, echo)  # read back, not the record
    if shown:
        print(f"error: after the restore of {args.app} to {restore.commit}, {shown}; an admin must act")
        reason = f"failed; the restore of {short_commit(restore.commit)} did not take everywhere ({shown})"
        write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": reason})
        return EXIT_FAILED
    print(f"{args.app} in {args.stack} runs {restore.commit} again; the failed release is recorded in the history")
    reason = f"{'cancelled' if cancel.cancelled else 'failed'}; {short_commit(restore.commit)} restored automatically"
    write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": reason})
    return EXIT_FAILED_RESTORED


def _release_preview(args: argparse.Namespace, event: dict[str, str], message: str, wait: float) -> int:
    """A preview is its own stack: deploy it (then enforce TTL and cap on the others), or tear it down."""
    fleet = PreviewFleet(args.root, pulumi_cli(args), wait_seconds=wait)
    try:
        if args.action == "stop":
            fleet.stop(args.app, args.branch, message, echo)
            return 0
        stack = fleet.deploy(event, message, echo)
    except auto.ConcurrentUpdateError:
        print(f"error: the preview stack was still locked by another update after {int(wait)}s; nothing changed")
        write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": "stack locked: nothing changed"})
        return EXIT_FAILED
    except auto.CommandError as exc:
        print(f"error: the {args.action} of {args.app} ({args.branch}) failed:{exc}")
        write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed"})
        return EXIT_FAILED
    write_dotenv(args.dotenv, {"DEPLOY_RESULT": "success"})
    print(f"preview deployed to stack {stack}")
    fleet.enforce_limits(preview_of_stack(stack) or "", preview_policy(args.root), "limits after deploy", echo)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Scheduled: remove previews whose branch is gone or merged, idle ones and the excess; then re-apply
    the shared preview stack (GitLab side, and any previews it still holds from before per-preview stacks)."""
    repos = dict(clone_argument(text) for text in args.repo)
    wait = args.lock_wait if args.lock_wait is not None else lock_wait_from(os.environ)
    fleet = PreviewFleet(args.root, pulumi_cli(args), wait_seconds=wait)
    message = f"sweep previews by {actor()} (pipeline {os.environ.get('CI_PIPELINE_URL') or '-'})"
    removed = fleet.sweep(repos, preview_policy(args.root), message, echo, dry_run=args.dry_run, memo=args.memo)
    print(f"sweep: {len(removed)} preview(s) {'to remove' if args.dry_run else 'removed'}")
    if not args.dry_run:
        shared = StackAdmin(SHARED_STACK, args.root, pulumi_cli(args))
        shared.release_when_unlocked(
            {"sourceRepos": json.dumps(repos, sort_keys=True)}, message, echo, wait_seconds=wait
        )
    return 0
