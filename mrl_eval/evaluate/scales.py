"""Corpus sizes as users write them (`--scale 10M`, `250k,1.5B`): the sizes storage and growth are projected to."""

from __future__ import annotations

import re

from mrl_eval.errors import UsageError
from mrl_eval.limits import MAX_SCALE

DEFAULT_SCALES = {"1M": 1_000_000, "10M": 10_000_000}
_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


def parse_scales(spec: str | None) -> dict[str, int]:
    """'10M' or '250k,1.5B' -> {'10M': 10_000_000, ...}; None -> 1M and 10M."""
    if spec is None:
        return dict(DEFAULT_SCALES)
    scales = {}
    for raw in spec.split(","):
        token = raw.strip()
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMbB]?)", token)
        if match and not float(match.group(1)) * _SUFFIX[match.group(2).lower()] <= MAX_SCALE:
            raise UsageError(f"--scale: {token[:24]!r} is more than {MAX_SCALE:.0e} documents")
        if not match or float(match.group(1)) * _SUFFIX[match.group(2).lower()] < 1:
            raise UsageError(f"--scale: {token!r} is not a corpus size; use e.g. --scale 10M or --scale 250k,1.5B")
        scales[token] = int(round(float(match.group(1)) * _SUFFIX[match.group(2).lower()]))
    return scales
