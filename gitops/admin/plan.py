"""A deploy-repo MR shows, per stack, what applying it would change: one MR note, edited in place.

Pure rendering here; ``gitops.admin.commands`` runs ``pulumi preview`` per stack (``plan``) and posts the
note (``plan-note``) through the notifier's GitLab helper.
"""

from __future__ import annotations

from collections.abc import Mapping

MARKER = "<!-- gitops-plan -->"
MAX_DIFF = 20_000  # characters of `pulumi preview --diff` kept per stack (GitLab notes hold 1,000,000)
ORDER = ("preview", "staging", "prod")


def summary_line(changes: Mapping[str, int]) -> str:
    shown = {op: n for op, n in sorted(changes.items()) if n and op != "same"}
    if not shown:
        return f"no changes ({changes.get('same', 0)} unchanged)"
    return ", ".join(f"{n} to {op}" for op, n in shown.items()) + f" ({changes.get('same', 0)} unchanged)"


def stack_plan(stack: str, changes: Mapping[str, int], diff: str) -> str:
    """One stack's section: the counts, and the preview's diff folded away (Pulumi shows secrets as [secret])."""
    text = diff if len(diff) <= MAX_DIFF else diff[:MAX_DIFF] + f"\n... ({len(diff) - MAX_DIFF} more characters)"
    fence = "~~~~"  # a pulumi diff cannot close it: it never contains four tildes at a line start
    text = text.replace("\n~~~~", "\n ~~~~")
    folded = f"<details><summary>pulumi preview --diff</summary>\n\n{fence}\n{text}\n{fence}\n\n</details>\n"
    return f"### `{stack}`: {summary_line(changes)}\n\n{folded}"


def note_body(plans: Mapping[str, str], commit: str, pipeline_url: str) -> str:
    """The note: a marker to find it again, what was planned, then each stack in a fixed order."""
    stacks = sorted(plans, key=lambda s: (ORDER.index(s) if s in ORDER else len(ORDER), s))
    head = f"{MARKER}\n## What merging this MR applies\n\nPlanned at `{commit[:8]}`"
    head += f" ([pipeline]({pipeline_url}))" if pipeline_url.startswith("https://") else ""
    missing = [s for s in ORDER if s not in plans]
    notes = f"\n\nNot planned: {', '.join(missing)} (see the pipeline)." if missing else ""
    return head + notes + "\n\n" + "\n".join(plans[s] for s in stacks)


def is_plan_note(body: str) -> bool:
    return body.startswith(MARKER)
