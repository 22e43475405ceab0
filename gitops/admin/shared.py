"""What every admin command shares: the Pulumi CLI, the stack, who acts, confirmations, exit codes,
the lock wait and the deploy.env the report job reads."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pulumi import automation as auto

from gitops.admin.cli import GuardedCommand
from gitops.admin.stack import Snapshot, StackAdmin, actor_name
from gitops.core.catalog import load_catalog
from gitops.core.environments import environment_for_stack
from gitops.core.errors import ConfigError, GitOpsError
from gitops.core.naming import app_host, preview_host, preview_id
from gitops.core.settings import settings_from_config
from gitops.core.stackfile import load_stack_config
from gitops.core.state import CarriedState, parse_outputs

EXIT_DRIFT = 3
EXIT_ABORTED = 1
EXIT_FAILED_RESTORED = 1  # the release failed; the previous release runs again
EXIT_FAILED = 2
DEFAULT_LOCK_WAIT = 1800.0


def pulumi_cli(args: argparse.Namespace) -> auto.PulumiCommand:
    """The Pulumi CLI behind the Automation API (tests pass a fake); a missing or broken one is one clear line."""
    if getattr(args, "pulumi_command", None) is None:
        try:
            probe = getattr(args, "pulumi_probe", None)  # started by gitops.cli.main
            args.pulumi_command = GuardedCommand(probe.command.result() if probe is not None else auto.PulumiCommand())
        except FileNotFoundError:
            raise ConfigError(
                "the Pulumi CLI is not installed or not on PATH; install it (https://www.pulumi.com/docs/install/) "
                "or run this command in the gitops engine image"
            ) from None
        except (subprocess.CalledProcessError, auto.errors.InvalidVersionError, OSError) as exc:
            detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip().splitlines()
            raise ConfigError(
                f"the Pulumi CLI does not run (`pulumi version`: {(detail or [str(exc)])[-1][:200]}); "
                "reinstall it or fix PATH"
            ) from None
    command: auto.PulumiCommand = args.pulumi_command
    return command


def admin_for(args: argparse.Namespace) -> StackAdmin:
    environment_for_stack(args.stack)
    root: Path = args.root
    return StackAdmin(args.stack, root, pulumi_cli(args))


def actor() -> str:
    return actor_name()


def state_of(admin: StackAdmin) -> CarriedState:
    """The stack's outputs, parsed like the program parses them (corrupted state is a clear error)."""
    return parse_outputs(admin.snapshot().outputs)


def confirmed(args: argparse.Namespace, question: str) -> bool:
    return bool(args.yes) or input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def echo(line: str) -> None:
    print(line, end="")


def lock_wait_from(environ: Mapping[str, str]) -> float:
    text = environ.get("GITOPS_LOCK_WAIT_SECONDS", "")
    if not text:
        return DEFAULT_LOCK_WAIT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= 86_400:
        raise ConfigError(f"GITOPS_LOCK_WAIT_SECONDS={text[:40]!r} must be a number of seconds from 0 to 86400")
    return seconds


def readable_state(admin: StackAdmin) -> tuple[Snapshot | None, CarriedState | None]:
    """What the backend holds before a release (one `stack export`): the snapshot (pending operations of an
    interrupted update) and the state, for a restore; unreadable state means no automatic restore (the
    program itself refuses to deploy over it)."""
    try:
        snapshot = admin.snapshot()
        return snapshot, parse_outputs(snapshot.outputs)
    except auto.StackNotFoundError:
        raise  # no stack at all: nothing to release into (`gitops init`, or the wrong backend)
    except (GitOpsError, auto.CommandError) as exc:
        print(f"warning: the state before this release cannot be read, so no automatic restore is possible: {exc}")
        return None, None


def locked_error(admin: StackAdmin, wait: float) -> str:
    """Why a release gave up on the stack lock, whose lock it was, and the one command that breaks it."""
    holder = f" ({admin.lock_report})" if admin.lock_report else ""
    return (
        f"error: stack {admin.name} was still locked by another update after {int(wait)}s{holder}; nothing changed. "
        f"If that update still runs, retry the job when it ends; if its job is gone (killed, its runner lost), "
        f"an admin breaks the lock: python -m gitops unlock --stack {admin.name}"
    )


def write_dotenv(path: str | None, values: dict[str, str]) -> None:
    """deploy.env for the report job (GitLab dotenv artifact): one KEY=value a line."""
    if path:
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in values.items())


def served_url(root: Path, stack: str, app: str, branch: str | None) -> str:
    """The URL a release of ``app`` is served at in ``stack`` (a preview's: per branch), from the stack file
    and the catalog; ConfigError when they do not name it."""
    env = environment_for_stack(stack)
    config = load_stack_config(root, stack)
    raw = {k.removeprefix("gitops:"): v for k, v in config.values.items() if k.startswith("gitops:")}
    settings = settings_from_config(env, raw, source=f"Pulumi.{stack}.yaml")
    load_catalog(root / settings.catalog).app(app)
    if env.is_preview:
        if not branch:
            raise ConfigError("--branch is required for the preview stack")
        return f"https://{preview_host(preview_id(app, branch), settings.domain)}"
    return f"https://{app_host(app, settings.domain)}"
