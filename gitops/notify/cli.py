"""``python -m gitops notify`` (the pipeline's report step) and notifications of admin commands."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from gitops.core.catalog import load_catalog
from gitops.core.environments import environment_for_stack
from gitops.core.settings import NotifySettings, StackSettings, settings_from_config
from gitops.core.stackfile import load_stack_config
from gitops.core.timebox import within
from gitops.core.validation import parse_model
from gitops.notify.dispatch import Outcome, channels_from, deliver, exit_code, health_of, redactor
from gitops.notify.render import plain_title
from gitops.notify.report import ReleaseReport, report_from_ci

OVERRIDE_ENV = "GITOPS_NOTIFY_CONFIG"


def stack_settings(root: Path, stack: str, override: str | None) -> tuple[NotifySettings, StackSettings]:
    """The stack's ``gitops:notify``, unless replaced by JSON (flag, or $GITOPS_NOTIFY_CONFIG)."""
    config = load_stack_config(root, stack)
    raw = {k.removeprefix("gitops:"): v for k, v in config.values.items() if k.startswith("gitops:")}
    settings = settings_from_config(environment_for_stack(stack), raw, source=f"Pulumi.{stack}.yaml")
    notify = settings.notify
    if override:
        notify = parse_model(NotifySettings, json.loads(override), source="notify config override")
    return notify, settings


def send(
    report: ReleaseReport,
    notify: NotifySettings,
    environ: Mapping[str, str],
    now: datetime,
    deadline: float | None = None,
) -> list[Outcome]:
    """Deliver to every configured channel and print one line per channel (secrets redacted); ``deadline``:
    what is left of the report's one deadline (all of ``deadline_seconds`` unless the caller spent some)."""
    redact = redactor(environ)
    channels = channels_from(notify, environ, report)
    print(redact(f"notify: {plain_title(report)}; tests: {report.tests.line()}"))
    left = notify.deadline_seconds if deadline is None else deadline
    outcomes = deliver(report, channels, now, deadline=left, redact=redact)
    for outcome in outcomes:
        print(f"notify: {outcome.channel} " + ("delivered" if outcome.ok else f"FAILED: {outcome.detail}"))
    if not channels:
        print("notify: no channel configured for this environment")
    return outcomes


def notify_admin_release(root: Path, stack: str, report: ReleaseReport) -> None:
    """Announce a rollback or hold change from an admin's machine; failures are only reported."""
    environ = dict(os.environ)
    notify, settings = stack_settings(root, stack, environ.get(OVERRIDE_ENV))
    if settings.gitlab is not None:
        environ.setdefault("CI_API_V4_URL", settings.gitlab.base_url)
    send(report, notify, environ, datetime.now(UTC))


def cmd_notify(args: argparse.Namespace) -> int:
    environ = dict(os.environ)
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    reports = Path(args.reports) if args.reports else None
    draft = report_from_ci(environ, reports)  # health is added once the settings say how to probe
    notify, settings = stack_settings(args.root, draft.environment, args.notify_config or environ.get(OVERRIDE_ENV))
    ends = time.monotonic() + notify.deadline_seconds  # one deadline for every network call of the report
    health = ""
    if draft.ok and draft.url:
        spec = load_catalog(args.root / settings.catalog).app(draft.app)
        probe = min(notify.timeout_seconds, ends - time.monotonic())
        health = within(probe, lambda: health_of(draft.url, spec.health_path, notify.timeout_seconds), "no answer")
    report = replace(draft, health=health)
    code = exit_code(report, send(report, notify, environ, now, deadline=max(0.0, ends - time.monotonic())))
    print({0: "notify: done", 3: "notify: the release failed (reported)", 4: "notify: a notification failed"}[code])
    return code
