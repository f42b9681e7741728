"""What every section of the report model shares at the file boundary: per-query values, and mapping fields kept
as the JSON file holds them (so that a section read back equals the one written)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PerQuery = dict[str, dict[str, dict[str, float]]]  # label or dim -> metric -> query id -> value


def plain(value: Any) -> Any:
    """A JSON-ready deep copy: mappings as dicts, tuples as lists (a CI is a `[low, high]` pair in the file)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def as_saved(section: object, *names: str) -> None:
    """Keep the mapping fields `names` of a frozen section as the file holds them (lists, not tuples; a private
    copy), so that a section read back from its JSON equals the one written."""
    for name in names:
        value = getattr(section, name)
        if value is not None:
            object.__setattr__(section, name, plain(value))
