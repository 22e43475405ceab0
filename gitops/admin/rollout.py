"""A staging/prod release in waves: wave 1's clusters first, verified and baked, then the next.

Each wave is one targeted update (``gitops:wave``, ``--target`` on the app's components on that wave's
clusters). Verification of a wave: the engine's await (every object rolled out and ready within
``rolloutTimeoutSeconds``), the app's health path answering on each cluster (``gitops:verify``), the app's
smoke command passing against each (apps.yaml), then ``bakeSeconds`` with no restart of the app's pods.
A stack of one wave goes this way too where a check is configured. A wave that fails
stops the release: the clusters it reached get the previous release back, later waves are never touched.
A refusal before a later wave (a deploy freeze) holds the waves not yet started; ``status`` shows the
rollout mid-way and the next release (or the same one again) completes it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import yaml
from pulumi import automation as auto

from gitops.admin.bake import BakeError, bake
from gitops.admin.kubeapi import ClusterReader
from gitops.admin.messages import update_message
from gitops.admin.recovery import is_refusal, restore_after_failure
from gitops.admin.repair import not_restored, unreachable
from gitops.admin.shared import EXIT_FAILED, EXIT_FAILED_RESTORED, actor, echo, write_dotenv
from gitops.admin.stack import StackAdmin
from gitops.admin.verify import Reached, VerifyError, check_health, run_smoke, smoke_env
from gitops.core.catalog import AppSpec, load_catalog
from gitops.core.environments import Environment
from gitops.core.naming import app_host, short_commit
from gitops.core.settings import StackSettings, Wave
from gitops.core.state import CarriedState


def release_in_waves(
    args: argparse.Namespace,
    env: Environment,
    admin: StackAdmin,
    event: Mapping[str, str],
    before: CarriedState | None,
    settings: StackSettings,
    *,
    wait: float,
    pipeline: str,
) -> int:
    waves = settings.rollout_waves()
    spec = app_spec(args.root, settings, args.app)
    live = before.state.releases.get(args.app) if before is not None else None
    for number, wave in enumerate(waves, 1):
        label = f"{number}/{len(waves)} ({', '.join(wave.clusters)})"
        print(f"wave {label}: {args.action} of {args.app}@{short_commit(args.commit)}")
        message = update_message(
            "deploy", args.app, actor=actor(), pipeline=pipeline, commit=args.commit, branch=args.branch, wave=label
        )
        try:
            admin.release_when_unlocked(
                {**event, "wave": str(number)}, message, echo, wait_seconds=wait, target_app=args.app,
                clusters=wave.clusters,
            )  # fmt: skip
        except auto.ConcurrentUpdateError:
            return _held(args, number, label, f"stack {args.stack} still locked after {int(wait)}s")
        except auto.CommandError as exc:
            if is_refusal(str(exc)):
                if number == 1:
                    print(f"error: the {args.action} of {args.app} to {args.stack} was refused:{exc}")
                    write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed"})
                    return EXIT_FAILED
                return _held(args, number, label, _first_line(str(exc)))
            check = f"rollout not ready on {', '.join(wave.clusters)}"
            return _stop(args, env, admin, event, before, waves, number, check, str(exc), wait=wait, pipeline=pipeline)
        try:
            _verify(args, admin, settings, spec, wave)
            if wave.bakeSeconds:
                bake(_readers(admin, settings, wave), args.app, wave.bakeSeconds, on_output=echo)
        except (VerifyError, BakeError) as exc:
            return _stop(
                args, env, admin, event, before, waves, number, str(exc), str(exc), wait=wait, pipeline=pipeline
            )
        print(f"wave {label}: verified")
    previous = {"PREVIOUS_COMMIT": live.commit} if live is not None and live.commit != args.commit else {}
    write_dotenv(args.dotenv, {"DEPLOY_RESULT": "success", **previous})
    return 0


def goes_in_waves(settings: StackSettings, spec: AppSpec) -> bool:
    """A deploy goes wave by wave where there are several waves, or a check beyond the await to pass."""
    return len(settings.rollout_waves()) > 1 or bool(settings.verify.healthSeconds) or spec.smoke is not None


def app_spec(root: Path, settings: StackSettings, app: str) -> AppSpec:
    return load_catalog(root / settings.catalog).app(app)


def _verify(args: argparse.Namespace, admin: StackAdmin, settings: StackSettings, spec: AppSpec, wave: Wave) -> None:
    """The health check, then the smoke command per cluster; VerifyError names the first that fails."""
    host = app_host(args.app, settings.domain)
    if settings.verify.healthSeconds:
        views = _readers(admin, settings, wave)
        reached = check_health(
            views, spec, host, settings.verify, tls=settings.ingress.tls_issuer is not None, on_output=echo
        )
    else:
        reached = [Reached(cluster, "", "not asked") for cluster in wave.clusters]
    if spec.smoke is not None:
        for where in reached:
            env = smoke_env(where, args.app, args.stack, args.commit, host)
            run_smoke(spec.smoke, where.cluster, env, args.root, echo)


def _readers(admin: StackAdmin, settings: StackSettings, wave: Wave) -> dict[str, ClusterReader]:
    kubeconfigs = admin.kubeconfigs()
    contexts = {c.name: c.context for c in settings.clusters}
    readers = {}
    for cluster in wave.clusters:
        if cluster not in kubeconfigs:
            raise BakeError(f"cannot watch {cluster}: the stack has no gitops:kubeconfig-{cluster} to read it with")
        try:
            readers[cluster] = ClusterReader(kubeconfigs[cluster], contexts.get(cluster))
        except (ValueError, OSError, yaml.YAMLError) as exc:  # a kubeconfig it cannot use: not a passed bake
            raise BakeError(f"cannot watch {cluster}: its kubeconfig cannot be used ({exc})") from None
    return readers


def _held(args: argparse.Namespace, number: int, label: str, why: str) -> int:
    """A later wave could not start (a freeze, a lock): the earlier waves run the release, verified."""
    print(
        f"wave {label} held: {why}. {args.app} is mid-rollout (python -m gitops status --stack {args.stack}); "
        "the next release of it, or this one run again, completes it"
    )
    reason = f"held before wave {label}: {why}; mid-rollout"
    write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": reason})
    return EXIT_FAILED


def _stop(
    args: argparse.Namespace,
    env: Environment,
    admin: StackAdmin,
    event: Mapping[str, str],
    before: CarriedState | None,
    waves: list[Wave],
    number: int,
    check: str,
    error: str,
    *,
    wait: float,
    pipeline: str,
) -> int:
    """Wave ``number`` failed: the clusters the release reached get the previous release back, those that can
    be reached; a cluster that died on the way is named as not restored (the next release completes it)."""
    reached = [c for wave in waves[:number] for c in wave.clusters]
    failed = ", ".join(waves[number - 1].clusters)
    print(f"error: wave {number} ({failed}) of {args.app}@{short_commit(args.commit)} failed: {_first_line(check)}")
    restore = restore_after_failure(env, event, before, error)
    dead = unreachable(admin, admin.settings(), reached) if restore is not None else {}
    lost = "; ".join(f"{cluster} could not be restored: {why}" for cluster, why in sorted(dead.items()))
    reached = [c for c in reached if c not in dead]
    if restore is None or not reached:
        reason = f"wave {number} ({failed}) failed: {_first_line(check)}" + (f"; {lost}" if lost else "")
        print(f"error: {reason}")
        write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": reason})
        return EXIT_FAILED
    if lost:
        print(f"error: {lost}; the next release of {args.app} completes it")
    print(f"restoring {args.app} to {restore.commit} on {', '.join(reached)}; later waves were never touched")
    message = update_message(
        "restore", args.app, actor=actor(), pipeline=pipeline, commit=restore.commit,
        from_commit=restore.failed_commit, reason=restore.reason,
    )  # fmt: skip
    restore_event = {**restore.event(args.branch), "wave": str(number)}
    if "sourceRepo" in event:
        restore_event["sourceRepo"] = event["sourceRepo"]
    try:
        admin.release_when_unlocked(
            restore_event, message, echo, wait_seconds=wait, target_app=args.app, clusters=reached, refresh=True
        )
    except auto.CommandError as exc:
        print(f"error: the restore of {args.app} to {restore.commit} failed too; an admin must act:{exc}")
        reason = f"wave {number} ({failed}) failed: {_first_line(check)}; the restore failed too: an admin must act"
        write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": reason})
        return EXIT_FAILED
    shown = not_restored(admin, admin.settings(), args.app, reached, restore.commit, echo)  # read back
    if shown:
        print(f"error: after the restore of {args.app} to {restore.commit}, {shown}; an admin must act")
        restored = short_commit(restore.commit)
        reason = f"wave {number} ({failed}) failed; the restore of {restored} did not take ({shown})"
        write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": reason})
        return EXIT_FAILED
    reason = (
        f"wave {number} ({failed}) failed: {_first_line(check)}; {short_commit(restore.commit)} restored on "
        f"{', '.join(reached)}; later waves untouched" + (f"; {lost}" if lost else "")
    )
    print(f"{args.app} runs {restore.commit} again on {', '.join(reached)}")
    write_dotenv(args.dotenv, {"DEPLOY_RESULT": "failed", "GITOPS_REASON": reason})
    return EXIT_FAILED_RESTORED


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[0] if lines else "")[:200]
