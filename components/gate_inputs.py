"""The plain inputs and outputs of ``ReleaseGate``, in a module of their own.

Stacks that declare no GitLab resource (every preview stack, and staging/prod where GitLab is managed
elsewhere) use them too; keeping them here spares those stacks the import of ``pulumi_gitlab``
(about a quarter of a preview deploy's start-up: benchmarks/bench_preview_fixed_cost.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class PullToken:
    """A registry deploy token: its username and its (secret) token."""

    username: str
    token: pulumi.Output[str]


@dataclass(frozen=True)
class GateSecrets:
    """Secret inputs, already wrapped as Pulumi secrets."""

    ci_variables: dict[str, pulumi.Output[str]]
    slack_webhook: pulumi.Output[str] | None = None
