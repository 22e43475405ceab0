"""Turn pydantic validation errors into one message that names source, key and fix."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from gitops.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class StrictModel(BaseModel):
    """Immutable, and unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def require_dns_label(value: str, max_len: int = 63) -> str:
    """Kubernetes object names used here must be DNS-1123 labels."""
    if len(value) > max_len or not DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} must be lowercase letters, digits and '-', start and end with a letter "
            f"or digit, at most {max_len} characters"
        )
    return value


def _location(prefix: str, loc: tuple[int | str, ...]) -> str:
    text = prefix
    for item in loc:
        if isinstance(item, int):
            text += f"[{item}]"
        else:
            text += ("" if not text or text.endswith(":") else ".") + str(item)
    return text


def parse_model(model: type[M], data: Any, *, source: str, prefix: str = "") -> M:
    """Validate ``data`` into ``model`` or raise one ConfigError listing every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = _location(prefix, err["loc"]) or "(top level)"
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                known = ", ".join(sorted(model_fields_at(model, err["loc"][:-1])))
                message = f"unknown key; expected one of: {known}"
            shown = "" if err["type"] in {"missing", "extra_forbidden"} else f" (got {err['input']!r})"
            lines.append(f"  {where}: {message}{shown}")
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines)) from None


def model_fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys a model accepts at a location, to suggest the right spelling."""
    current: Any = model
    for item in loc:
        fields = current.model_fields if isinstance(current, type) and issubclass(current, BaseModel) else {}
        if isinstance(item, int) or item not in fields:
            continue  # a list index or a mapping key: the model stays the same
        annotation = fields[item].annotation
        args = getattr(annotation, "__args__", ())
        candidates = [a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        current = candidates[0] if candidates else None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []
