"""Strict YAML for every file the engine reads: no duplicate keys, no anchors/aliases, bounded size.

PyYAML's ``safe_load`` lets a second ``web:`` silently replace the first and expands aliases without
bound ("billion laughs"); both are refused here, with line numbers and messages of bounded size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

from gitops.core.errors import ConfigError, bounded

MAX_BYTES = 1_000_000  # a catalog or stack file of a thousand apps is far below this


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and duplicate mapping keys."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                None, None, "YAML aliases (*name) are not allowed here; write the value out", event.start_mark
            )
        event = self.peek_event()  # type: ignore[no-untyped-call]
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.MarkedYAMLError(
                None, None, f"YAML anchors (&{bounded(anchor, 40)}) are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:
                raise yaml.MarkedYAMLError(
                    None, None, "mapping keys must be plain scalars", key_node.start_mark
                ) from None
            if first is not None:
                raise yaml.MarkedYAMLError(
                    None,
                    None,
                    f"duplicate key {bounded(repr(key), 60)} (first on line {first}, again on line {line}); "
                    "each key may appear once",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _describe(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        return where + bounded(" ".join(str(p) for p in (exc.context, exc.problem) if p), 300)
    return bounded(str(exc), 300)


def load_text(text: str, *, source: str) -> Any:
    """Parse one YAML document strictly; every error is one bounded ConfigError naming ``source``."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise ConfigError(f"{source} is larger than {MAX_BYTES} bytes; is it the right file?")
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {_describe(exc)}") from None


def load_file(path: Path, *, what: str, hint: str) -> Any:
    """Read and parse ``path``; an unreadable file is a ConfigError with ``hint`` as the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"cannot read {what} {path}: {reason} ({hint})") from None
    return load_text(text, source=str(path))
