"""Where names are decided: GitLab ref slugs, preview namespaces, hosts and instances."""

from __future__ import annotations

import hashlib
import re

MAX_LABEL = 63
HASH_LEN = 8
PREVIEW_STACK_PREFIX = "preview-"
PREVIEW_ID = re.compile(rf"^[a-z0-9][-a-z0-9]*-[0-9a-f]{{{HASH_LEN}}}$")


def ref_slug(ref: str) -> str:
    """GitLab's CI_COMMIT_REF_SLUG: lowercase, [^a-z0-9] -> '-', at most 63 bytes, no edge '-'."""
    slug = re.sub(r"[^a-z0-9]", "-", ref.lower())[:MAX_LABEL]
    return slug.strip("-")


def short_hash(*parts: str) -> str:
    """A stable tag that keeps names distinct when their slugs collide."""
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:HASH_LEN]


def preview_id(app: str, branch: str) -> str:
    """The preview's key in state and its namespace name: readable, deterministic, distinct.

    ``<app>-<slug of branch>-<hash of app and branch>``, cut to a DNS-1123 label. The hash keeps
    ``feature/ABC`` and ``feature-abc`` apart; the slug keeps it readable.
    """
    suffix = "-" + short_hash(app, branch)
    room = MAX_LABEL - len(app) - len(suffix) - 1
    slug = ref_slug(branch)[: max(room, 0)].strip("-")
    return f"{app}-{slug}{suffix}" if slug else f"{app}{suffix}"


def preview_stack(app: str, branch: str) -> str:
    """Each live preview is its own Pulumi stack, so one preview's deploy never re-registers another's."""
    return PREVIEW_STACK_PREFIX + preview_id(app, branch)


def preview_of_stack(stack: str) -> str | None:
    """The preview id a ``preview-<id>`` stack holds, or None for any other stack name."""
    key = stack.removeprefix(PREVIEW_STACK_PREFIX)
    if stack.startswith(PREVIEW_STACK_PREFIX) and len(key) <= MAX_LABEL and PREVIEW_ID.match(key):
        return key
    return None


def preview_host(namespace: str, domain: str) -> str:
    return f"{namespace}.{domain}"


def app_host(app: str, domain: str) -> str:
    return f"{app}.{domain}"


def short_commit(commit: str) -> str:
    return commit[:8]


APP_ENVIRONMENT_TYPE = "gitops:env:AppEnvironment"


def release_key(app: str, environment: str) -> str:
    """A staging/prod release's key (its resources' name part): ``<app>-<environment>``."""
    return f"{app}-{environment}"


def component_name(cluster: str, key: str) -> str:
    """The name of one app's component on one cluster: every resource of it is named below it."""
    return f"{cluster}-{key}"


def app_component_urns(stack: str, project: str, clusters: list[str], app: str, environment: str) -> list[str]:
    """The URNs of one staging/prod app's components, one per cluster: what a release targets
    (``pulumi up --target <urn> --target-dependents`` reaches every resource below them)."""
    key = release_key(app, environment)
    return [f"urn:pulumi:{stack}::{project}::{APP_ENVIRONMENT_TYPE}::{component_name(c, key)}" for c in clusters]
