"""Which dims a sweep scores: `--dims` as written (sizes and percentages) and resolved against a model's full dim."""

from __future__ import annotations

import re
from typing import Literal, overload

from mrl_eval import defaults
from mrl_eval.errors import UsageError
from mrl_eval.limits import whole_number

DEFAULT_DIMS = defaults.DIMS


def parse_dims(spec: str | None) -> list[tuple[str, float]]:
    """'64,128,25%' -> [('abs', 64), ('abs', 128), ('pct', 25.0)]; anything else is a usage error."""
    items = []
    for raw in (spec or DEFAULT_DIMS).split(","):
        token = raw.strip()
        pct = token.endswith("%")
        number = token[:-1].strip() if pct else token
        if not re.fullmatch(r"\d+(\.\d+)?" if pct else r"\d+", number or "x") or float(number) <= 0:
            raise UsageError(
                f"--dims: {token!r} is not a positive whole number of dims or a percentage; "
                "use e.g. --dims 64,128,25%,50%"
            )
        if pct and float(number) > 100:
            raise UsageError(f"--dims: {token!r} is over 100% of the full dim")
        items.append(("pct", float(number)) if pct else ("abs", whole_number(number, "--dims")))
    return items


@overload
def resolve_dims(spec: str | None, full_dim: int) -> list[int]: ...


@overload
def resolve_dims(spec: str | None, full_dim: int, *, skip_larger: Literal[True]) -> tuple[list[int], list[int]]: ...


def resolve_dims(
    spec: str | None, full_dim: int, *, skip_larger: bool = False
) -> list[int] | tuple[list[int], list[int]]:
    """Sorted distinct dims; percentages round to the nearest dim (at least 1); the full dim is always in. An
    absolute dim above the full dim is a usage error, or with `skip_larger` (a run of several models, each with its
    own full dim) left out: then the dims and the ones left out are returned."""
    dims, skipped = {full_dim}, set()
    for kind, value in parse_dims(spec):
        dim = max(1, int(value * full_dim / 100 + 0.5)) if kind == "pct" else int(value)
        if dim > full_dim:
            if not skip_larger:
                raise UsageError(f"--dims: {dim} is larger than the model's full dim {full_dim}")
            skipped.add(dim)
            continue
        dims.add(dim)
    return (sorted(dims), sorted(skipped)) if skip_larger else sorted(dims)
