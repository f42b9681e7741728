"""Recommend an engine cell under the rule, by what it costs as measured inside the engine.

`--optimize memory`: the smallest index footprint (serialised FAISS index; pgvector index plus the table);
`latency`: the lowest median one-query latency; `bytes`: the fewest bytes per stored code; `dim`: the smallest dim.
Ties go to the smaller footprint, then the lower latency, then the higher score. Kept apart from `recommend.py`'s
rule logic: a cell here is an `EngineCell`, and the rule is the same `Rule`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from mrl_eval.decide.recommend import CheckedRule
from mrl_eval.engines import engine_names
from mrl_eval.errors import UsageError
from mrl_eval.evaluate.stats import MetricStats
from mrl_eval.methods.precision import bytes_per_vector

ENGINE_OPTIMIZE = ("memory", "latency")


@dataclass(frozen=True)
class EngineChoice:
    """The cheapest engine cell meeting the rule, with its costs and recipe (`label` None when none does)."""

    optimize: str
    rule: str
    metric: str
    threshold: float
    label: str | None = None
    engine: str | None = None
    index: str | None = None
    dim: int | None = None
    precision: str | None = None
    ef_search: int | None = None
    rerank: int | None = None
    value: float | None = None
    neighbour_recall: float | None = None
    memory_bytes: int | None = None
    index_bytes: int | None = None
    latency_ms: tuple[float, float] | None = None  # median, p95
    stats: MetricStats | None = None
    recipe: dict | None = None

    def to_dict(self) -> dict:
        about = {"optimize": self.optimize, "rule": self.rule, "metric": self.metric, "threshold": self.threshold}
        if self.label is None:
            return {**about, "label": None}
        out = asdict(self)
        out["latency_ms"] = {"median": self.latency_ms[0], "p95": self.latency_ms[1]} if self.latency_ms else None
        out["stats"] = None if self.stats is None else {**asdict(self.stats), "ci": list(self.stats.ci)}
        if self.stats is not None:
            out["stats"]["delta_ci"] = list(self.stats.delta_ci)
        return out


def memory_bytes(cell, table_bytes: int) -> int:
    return cell.index_bytes + table_bytes


def recommend_engine(
    cells: Sequence, full_value: float, rule: CheckedRule, optimize: str, table_bytes: int = 0
) -> EngineChoice:
    """The cheapest engine cell that meets `rule` (against exact full-dim search's `full_value`), with its recipe."""
    if not cells:
        raise UsageError(
            f"--optimize {optimize}: needs cells measured inside an engine; add --engine "
            + " or ".join(engine_names()[1:])
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
    about = EngineChoice(optimize, rule.describe(), rule.metric, rule.threshold(full_value))
    if chosen is None:
        return about
    return replace(
        about,
        label=chosen.label,
        engine=chosen.engine,
        index=chosen.index,
        dim=chosen.dim,
        precision=chosen.precision,
        ef_search=chosen.ef_search,
        rerank=chosen.rerank,
        value=chosen.metrics[rule.metric],
        neighbour_recall=chosen.neighbour_recall,
        memory_bytes=memory_bytes(chosen, table_bytes),
        index_bytes=chosen.index_bytes,
        latency_ms=chosen.latency_ms,
        stats=chosen.stats.get(rule.metric),
        recipe=chosen.recipe,
    )
