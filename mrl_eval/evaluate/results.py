"""The result of one swept dim (`DimResult`): means over the evaluated queries, with their statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mrl_eval.evaluate.stats import MetricStats, StatsSettings, summarize

BYTES_PER_FLOAT32 = 4


@dataclass(frozen=True)
class DimResult:
    dim: int
    fraction: float
    bytes_per_vector: int
    metrics: dict[str, float]  # mean over the evaluated queries
    stats: dict[str, MetricStats] = field(default_factory=dict)  # CIs and the paired comparison with the full dim
    precision: str = "float32"  # the sweep's own results; other precisions and PCA are grid cells (methods/grid.py)
    method: str = "prefix"


def dim_results(
    per_query: dict[int, dict[str, dict[str, float]]],
    full_dim: int,
    query_ids: list[str],
    settings: StatsSettings | None = None,
) -> list[DimResult]:
    """Means over `query_ids` for every dim and metric, with their statistics when `settings` are given."""
    stats = summarize(per_query, full_dim, query_ids, settings) if settings else {}
    return [
        DimResult(
            dim=dim,
            fraction=round(dim / full_dim, 6),
            bytes_per_vector=dim * BYTES_PER_FLOAT32,
            metrics={m: float(np.mean([values[q] for q in query_ids])) for m, values in per_query[dim].items()},
            stats=stats.get(dim, {}),
        )
        for dim in sorted(per_query)
    ]
