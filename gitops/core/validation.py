"""Shared validation: strict models, typed values (quantities, DNS labels), and one readable error."""

from __future__ import annotations

import os
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

import pygit2
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from gitops.core.errors import ConfigError, bounded

M = TypeVar("M", bound=BaseModel)
# No third-party pydantic plugin may hook our validation, and looking for one scans every installed
# package's entry points at each start (benchmarks/bench_preview_fixed_cost.py).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
ROTATION = r"^[a-z0-9][a-z0-9-]{0,19}$"  # a registry token rotation name (part of the token names)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_BRANCH = 255
# Kubernetes resource.Quantity: <number><suffix>, suffix binary (Ki..Ei), decimal (n u m k M G T P E) or exponent.
QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": "1e-9", "u": "1e-6", "m": "1e-3", "": "1", "k": "1e3", "M": "1e6", "G": "1e9", "T": "1e12"}
_DECIMAL |= {"P": "1e15", "E": "1e18"}


class StrictModel(BaseModel):
    """Immutable, strictly typed (no 'yes' as 1, no 5 as '5'), and unknown keys are errors. Validators are
    built on first use, so a run pays only for the models it validates."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


def require_dns_label(value: str, max_len: int = 63) -> str:
    """Kubernetes object names used here must be DNS-1123 labels."""
    if len(value) > max_len or not DNS_LABEL.match(value):
        raise ValueError(
            f"{bounded(repr(value), 80)} must be lowercase letters, digits and '-', start and end with a letter "
            f"or digit, at most {max_len} characters"
        )
    return value


def require_branch_name(value: str) -> str:
    """A name git accepts for a branch (``git check-ref-format``), of bounded length."""
    if len(value) > MAX_BRANCH or not pygit2.reference_is_valid_name(f"refs/heads/{value}"):
        raise ValueError(f"{bounded(repr(value), 80)} is not a valid git branch name")
    return value


def quantity_value(text: str) -> Decimal:
    """The numeric value of a Kubernetes quantity (``250m`` -> 0.25, ``1Gi`` -> 1073741824)."""
    match = QUANTITY.match(text)
    if not match:
        raise ValueError(f"{bounded(repr(text), 40)} is not a Kubernetes quantity such as 250m, 1, 512Mi or 2Gi")
    number, suffix = Decimal(match["number"]), match["suffix"] or ""
    try:
        if suffix in _BINARY:
            return number * _BINARY[suffix]
        if suffix in _DECIMAL:
            return number * Decimal(_DECIMAL[suffix])
        return number * Decimal(10) ** int(suffix[1:])
    except (InvalidOperation, OverflowError):
        raise ValueError(f"{bounded(repr(text), 40)} is out of range for a Kubernetes quantity") from None


def _quantity(value: Any) -> str:
    """Accept ``"500m"`` or a plain YAML number such as ``2``; never a bool, never free text."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"a Kubernetes quantity must be text such as '250m' or '1Gi', not {type(value).__name__}")
    text = str(value)
    if quantity_value(text) <= 0:
        raise ValueError(f"{text!r} must be greater than zero")
    return text


Quantity = Annotated[str, BeforeValidator(_quantity)]


def _location(prefix: str, loc: tuple[int | str, ...]) -> str:
    text = prefix
    for item in loc:
        if isinstance(item, int):
            text += f"[{item}]"
        else:
            text += ("" if not text or text.endswith(":") else ".") + bounded(str(item), 60)
    return text


MAX_ERRORS = 10


def parse_model(model: type[M], data: Any, *, source: str, prefix: str = "") -> M:
    """Validate ``data`` into ``model`` or raise one ConfigError listing the problems (bounded)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        errors = exc.errors()
        for err in errors[:MAX_ERRORS]:
            where = _location(prefix, err["loc"]) or "(top level)"
            message = bounded(err["msg"].removeprefix("Value error, "), 300)
            if err["type"] == "extra_forbidden":
                known = ", ".join(sorted(model_fields_at(model, err["loc"][:-1])))
                message = f"unknown key; expected one of: {known}"
            shown = "" if err["type"] in {"missing", "extra_forbidden"} else f" (got {bounded(repr(err['input']))})"
            lines.append(f"  {where}: {message}{shown}")
        if len(errors) > MAX_ERRORS:
            lines.append(f"  ... and {len(errors) - MAX_ERRORS} more")
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
