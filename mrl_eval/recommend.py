"""Pick the smallest swept dimension that meets the bar, and say why.

The rule: the bar is `--min` (an absolute score, e.g. nDCG@10 >= 0.82), `--max-drop` (at most this far below
the full-dim score: absolute, or relative with `%`), or the higher of the two when both are given. The
recommendation is the smallest swept dim whose score is at or above the bar; if none is, there is none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from mrl_eval.errors import UsageError
from mrl_eval.sweep import DimResult

STORAGE_SCALES = {"1M": 1_000_000, "10M": 10_000_000}


@dataclass(frozen=True)
class Rule:
    metric: str = "ndcg@10"
    min_value: float | None = None
    max_drop: float | None = None  # absolute drop from the full-dim score
    max_drop_relative: float | None = None  # fraction of the full-dim score, from "2%"

    def threshold(self, full_value: float) -> float:
        bars = []
        if self.min_value is not None:
            bars.append(self.min_value)
        if self.max_drop is not None:
            bars.append(full_value - self.max_drop)
        if self.max_drop_relative is not None:
            bars.append(full_value * (1 - self.max_drop_relative))
        return max(bars)

    def describe(self) -> str:
        parts = []
        if self.min_value is not None:
            parts.append(f"{self.metric} >= {self.min_value:g}")
        if self.max_drop is not None:
            parts.append(f"drop from full dim <= {self.max_drop:g}")
        if self.max_drop_relative is not None:
            parts.append(f"drop from full dim <= {self.max_drop_relative * 100:g}%")
        return " and ".join(parts)


def make_rule(metric: str, min_value: float | None, max_drop: str | None) -> Rule:
    """Check the bar options; `max_drop` is '0.02' (absolute) or '2%' (relative)."""
    if min_value is None and max_drop is None:
        raise UsageError("recommend needs a bar: --min-ndcg 0.82, --metric M --min X, or --max-drop 0.02 / 2%")
    if min_value is not None and not 0 <= min_value <= 1:
        raise UsageError(f"--min {min_value:g}: metric values lie in [0, 1]")
    absolute = relative = None
    if max_drop is not None:
        text = max_drop.strip()
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(%?)", text)
        if not match:
            raise UsageError(f"--max-drop {max_drop!r}: give an absolute drop like 0.02 or a relative one like 2%")
        value = float(match.group(1))
        if match.group(2):
            if value > 100:
                raise UsageError(f"--max-drop {max_drop!r}: a relative drop is at most 100%")
            relative = value / 100
        else:
            if value > 1:
                raise UsageError(f"--max-drop {max_drop!r}: an absolute drop is at most 1 (did you mean {value:g}%?)")
            absolute = value
    return Rule(metric, min_value, absolute, relative)


@dataclass(frozen=True)
class Recommendation:
    dim: int | None
    metric: str
    threshold: float
    value: float | None
    rule: str
    full_dim: int
    full_value: float
    smaller_dim: int | None  # the next smaller swept dim, which did not meet the bar (None if dim is the smallest)
    smaller_value: float | None
    storage: dict  # bytes per vector and for the corpus / 1M / 10M docs, at the chosen and the full dim

    def to_dict(self) -> dict:
        return asdict(self)


def storage(dim: int | None, full_dim: int, bytes_per_value: int, n_docs: int) -> dict:
    chosen = dim if dim is not None else full_dim
    sizes = {"corpus": n_docs, **STORAGE_SCALES}
    return {
        "bytes_per_vector": chosen * bytes_per_value,
        "full_bytes_per_vector": full_dim * bytes_per_value,
        "saved_fraction": round(1 - chosen / full_dim, 6),
        "n_docs": n_docs,
        "bytes": {name: n * chosen * bytes_per_value for name, n in sizes.items()},
        "full_bytes": {name: n * full_dim * bytes_per_value for name, n in sizes.items()},
    }


def recommend(results: Sequence[DimResult], full_dim: int, rule: Rule, n_docs: int) -> Recommendation:
    by_dim = sorted(results, key=lambda r: r.dim)
    full = next(r for r in by_dim if r.dim == full_dim)
    full_value = full.metrics[rule.metric]
    bar = rule.threshold(full_value)
    passing = [r for r in by_dim if r.metrics[rule.metric] >= bar]
    chosen = passing[0] if passing else None
    smaller = None
    if chosen is not None:
        below = [r for r in by_dim if r.dim < chosen.dim]
        smaller = below[-1] if below else None
    bytes_per_value = full.bytes_per_vector // full_dim
    return Recommendation(
        dim=chosen.dim if chosen else None,
        metric=rule.metric,
        threshold=bar,
        value=chosen.metrics[rule.metric] if chosen else None,
        rule=rule.describe(),
        full_dim=full_dim,
        full_value=full_value,
        smaller_dim=smaller.dim if smaller else None,
        smaller_value=smaller.metrics[rule.metric] if smaller else None,
        storage=storage(chosen.dim if chosen else None, full_dim, bytes_per_value, n_docs),
    )
