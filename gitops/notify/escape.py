"""Escaping of untrusted text (branch names, commit messages, authors, test names and messages) per channel.

A valid git branch may be called ``feat/x<!channel>`` and a failing test's message may say ``@all``: from
data, nothing may mention anyone, run a GitLab quick action, inject HTML or break out of a code span.
Mentions the notifier means to make (the author of a failed MR) are added after escaping, never from data.
"""

from __future__ import annotations

import html
import re

ZWSP = "\u200b"  # breaks a mention or a quick action without changing what a person reads
MAX_TEXT = 300
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
_MENTION = re.compile(r"@(?=[\w.-])")


def one_line(text: str, limit: int = MAX_TEXT) -> str:
    """Control characters (newlines too: a quick action needs a line of its own) become spaces; bounded."""
    flat = "".join(c if c.isprintable() else " " for c in str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def slack(text: str) -> str:
    """Slack mrkdwn: &, < and > are the only characters to escape; that also defuses <!channel> and <@U…>."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def gitlab(text: str) -> str:
    """GitLab-flavoured markdown in a note: no HTML, no markdown, no @mention, no /quick-action."""
    escaped = _MARKDOWN.sub(r"\\\1", html.escape(one_line(text), quote=False))
    escaped = _MENTION.sub("@" + ZWSP, escaped)
    return ZWSP + escaped if escaped.startswith("/") else escaped


def gitlab_code(text: str) -> str:
    """A code span that survives backticks in the text (CommonMark: a longer run of backticks as fence)."""
    flat = one_line(text).replace("@", "@" + ZWSP)
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def dingtalk(text: str) -> str:
    """DingTalk markdown: no documented escape for HTML, so < and > become single angle quotation marks
    (U+2039, U+203A); markdown is backslash-escaped; an @ from data never names anyone."""
    flat = one_line(text).replace("<", "\u2039").replace(">", "\u203a")
    return _MENTION.sub("@" + ZWSP, _MARKDOWN.sub(r"\\\1", flat))


def email_html(text: str) -> str:
    return html.escape(one_line(text))
