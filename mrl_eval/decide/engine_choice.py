"""Recommend an engine cell under the rule, by what it costs as measured inside the engine.

`--optimize memory`: the smallest index footprint (serialised FAISS index; pgvector index plus the table);
`latency`: the lowest median one-query latency; `bytes`: the fewest bytes per stored code; `dim`: the smallest dim.
Ties go to the smaller footprint, then the lower latency, then the higher score. Kept apart from `recommend.py`'s
rule logic: a cell here is an `EngineCell`, and the rule is the same `Rule`.
"""

from __future__ import annotations

from collections.abc import Sequence

from mrl_eval.decide.recommend import Rule
from mrl_eval.errors import UsageError
from mrl_eval.methods.precision import bytes_per_vector

ENGINE_OPTIMIZE = ("memory", "latency")


def _stats(cell, metric: str) -> dict | None:
    stats = cell.stats.get(metric)
    if stats is None:
        return None
    return {"ci": list(stats.ci), "delta": stats.delta, "delta_ci": list(stats.delta_ci), "p_value": stats.p_value}


def memory_bytes(cell, table_bytes: int) -> int:
    return cell.index_bytes + table_bytes


def recommend_engine(cells: Sequence, full_value: float, rule: Rule, optimize: str, table_bytes: int = 0) -> dict:
    """The cheapest engine cell that meets `rule` (against exact full-dim search's `full_value`), with its recipe."""
    if not cells:
        raise UsageError(
            f"--optimize {optimize}: needs cells measured inside an engine; add --engine faiss or pgvector"
        )
    if rule.kind != "point" and any(rule.metric not in c.stats for c in cells):
        raise UsageError(f"--rule {rule.kind} needs confidence intervals; they were not computed")
    size = {
        "memory": lambda c: memory_bytes(c, table_bytes),
        "latency": lambda c: c.latency_ms[0],
        "bytes": lambda c: bytes_per_vector(c.dim, c.precision),
        "dim": lambda c: c.dim,
    }[optimize]
    ordered = sorted(
        cells, key=lambda c: (size(c), memory_bytes(c, table_bytes), c.latency_ms[0], -c.metrics[rule.metric])
    )
    chosen = next((c for c in ordered if rule.passes(c, full_value)), None)
    about = {
        "optimize": optimize,
        "rule": rule.describe(),
        "metric": rule.metric,
        "threshold": rule.threshold(full_value),
    }
    if chosen is None:
        return {**about, "label": None}
    return {
        **about,
        "label": chosen.label,
        "engine": chosen.engine,
        "index": chosen.index,
        "dim": chosen.dim,
        "precision": chosen.precision,
        "ef_search": chosen.ef_search,
        "rerank": chosen.rerank,
        "value": chosen.metrics[rule.metric],
        "neighbour_recall": chosen.neighbour_recall,
        "memory_bytes": memory_bytes(chosen, table_bytes),
        "index_bytes": chosen.index_bytes,
        "latency_ms": {"median": chosen.latency_ms[0], "p95": chosen.latency_ms[1]},
        "stats": _stats(chosen, rule.metric),
        "recipe": chosen.recipe,
    }
