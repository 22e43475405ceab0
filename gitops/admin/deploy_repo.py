"""The deploy repo's own pipeline: plan every stack on an MR, post the plans, apply on merge; and the
update message CI uses."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import gitlab

from gitops.admin.messages import update_message
from gitops.admin.plan import is_plan_note, note_body, stack_plan, summary_line
from gitops.admin.repair import clear_interruption
from gitops.admin.shared import (
    actor,
    admin_for,
    echo,
    lock_wait_from,
)
from gitops.core.environments import environment_for_stack
from gitops.core.errors import ConfigError
from gitops.notify.channels import upsert_marked_note
from gitops.notify.dispatch import redactor


def cmd_plan(args: argparse.Namespace) -> int:
    """Deploy-repo MR: what `pulumi up` with no release event would change in one stack."""
    environment_for_stack(args.stack)
    admin = admin_for(args)
    changes, diff = admin.preview()
    text = stack_plan(args.stack, changes, redactor(os.environ)(diff))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"stack {args.stack}: {summary_line(changes)}")
    return 0


def cmd_plan_note(args: argparse.Namespace) -> int:
    """Post the plans of every stack as one note on the deploy-repo MR (edited in place on each push)."""
    plans = {p.stem: p.read_text(encoding="utf-8") for p in sorted(Path(args.plans).glob("*.md"))}
    env = os.environ
    missing = [
        k for k in ("CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", "GITOPS_NOTIFY_TOKEN") if not env.get(k)
    ]
    if missing:
        raise ConfigError(f"plan-note runs in an MR pipeline of the deploy repo; missing: {', '.join(missing)}")
    body = note_body(plans, env.get("CI_COMMIT_SHA", ""), env.get("CI_PIPELINE_URL", ""))
    client = gitlab.Gitlab(
        env["CI_API_V4_URL"].removesuffix("/api/v4"), private_token=env["GITOPS_NOTIFY_TOKEN"], timeout=10
    )
    client.auth()
    mr = client.projects.get(env["CI_PROJECT_ID"], lazy=True).mergerequests.get(
        int(env["CI_MERGE_REQUEST_IID"]), lazy=True
    )
    upsert_marked_note(mr, client.user.username if client.user else None, is_plan_note, lambda _: body)
    print(f"plan of {len(plans)} stack(s) posted on !{env['CI_MERGE_REQUEST_IID']}")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    """Deploy-repo master: apply the merged settings to one stack (`pulumi up` with no release event)."""
    environment_for_stack(args.stack)
    admin = admin_for(args)
    wait = args.lock_wait if args.lock_wait is not None else lock_wait_from(os.environ)
    commit = os.environ.get("CI_COMMIT_SHA", "")
    pipeline = os.environ.get("CI_PIPELINE_URL") or "-"
    message = f"apply deploy repo {commit[:8] or 'settings'} by {actor()} (pipeline {pipeline})"
    if admin.snapshot().pending:  # interrupted (its pending creates need a refresh), or a live update's steps
        clear_interruption(
            admin, environment_for_stack(args.stack), admin.settings(),
            message=f"{message}: clear an interrupted update", wait=wait, on_output=echo,
        )  # fmt: skip
    # with a refresh first: every app is reconciled, objects changed by hand included
    admin.release_when_unlocked({}, message, echo, wait_seconds=wait, refresh=True)
    print(f"stack {args.stack}: settings applied")
    return 0


def cmd_message(args: argparse.Namespace) -> int:
    """The agreed update message, for `pulumi up -m "$(python -m gitops message ...)"` in CI."""
    print(
        update_message(
            args.action,
            args.app,
            actor=args.actor or actor(),
            pipeline=args.pipeline or os.environ.get("CI_PIPELINE_URL", ""),
            commit=args.commit,
            branch=args.branch,
            reason=args.reason,
        )
    )
    return 0
