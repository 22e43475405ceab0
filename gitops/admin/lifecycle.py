"""A staging/prod stack's beginning, its state's migrations and an app's end: init, migrate and retire."""

from __future__ import annotations

import argparse

from gitops.admin.messages import update_message
from gitops.admin.shared import (
    EXIT_ABORTED,
    actor,
    admin_for,
    confirmed,
    echo,
    state_of,
)
from gitops.core.environments import environment_for_stack
from gitops.core.errors import ConfigError


def cmd_init(args: argparse.Namespace) -> int:
    """Record an empty state in a new staging/prod stack (the program refuses to guess one)."""
    env = environment_for_stack(args.stack)
    if env.is_preview:
        raise ConfigError("the preview stack needs no init: previews start from an empty state")
    admin = admin_for(args)
    message = update_message("init", args.stack, actor=actor())
    admin.release({"action": "init"}, message, on_output=echo)
    print(f"stack {args.stack} initialized: it records an empty state; releases can now be deployed")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Rename what the state still names by position (every untargeted update does it first, too)."""
    environment_for_stack(args.stack)
    renames = admin_for(args).migrate_state(echo, dry_run=args.dry_run)
    print(f"stack {args.stack}: {len(renames)} resource(s) {'to rename' if args.dry_run else 'renamed'}")
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    """Remove an app from staging/prod: unprotect its objects (update 1), then delete them (update 2)."""
    env = environment_for_stack(args.stack)
    if env.is_preview:
        raise ConfigError("retire is for staging and prod; a preview is stopped instead")
    admin = admin_for(args)
    release = state_of(admin).state.releases.get(args.app)
    if release is None:
        raise ConfigError(f"{args.app} does not run in {args.stack}: nothing to retire")
    print(f"retire {args.app} from {args.stack}: it runs {release.commit} since {release.released_at}")
    print(f"  every Kubernetes object of {args.app} on every cluster of {args.stack} will be DELETED")
    print(f"  reason: {args.reason}")
    if not confirmed(args, f"delete {args.app} from {args.stack}?"):
        print("aborted: nothing changed")
        return EXIT_ABORTED
    event = {"app": args.app, "action": "retire", "reason": args.reason}
    message = update_message("retire", args.app, actor=actor(), reason=args.reason)
    steps = ("unprotect", "delete") if not release.retiring else ("delete",)
    for step in steps:
        print(f"retire {args.app}: {step}")
        admin.release(event, message, on_output=echo)
    print(f"{args.app} retired from {args.stack}; it may now be removed from apps.yaml")
    return 0
