"""Which model, dim and precision: every model's cells on one footing, compared with one reference on the same
queries, the Pareto frontier of quality against cost, and the cheapest cell that meets the rule.

Every cell of every model (its float32 prefixes, its other precisions and PCA when swept, its engine cells when an
engine was measured) is a `ModelCell`. Their statistics are taken against one reference, paired per query (all
models are evaluated on the same queries): the reference model's full-size float32 cell, where the reference model
is `--reference MODEL` or else the best model at full size on the rule's metric. So a relative bar (`--max-drop`)
is relative to that model's full-size score, and `--rule non-inferior` asks "is model B at 256 dims no worse than
the reference at full size, with the stated confidence?".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

from mrl_eval.decide.recommend import CheckedRule, storage_bytes
from mrl_eval.errors import UsageError
from mrl_eval.evaluate.stats import MetricStats, StatsSettings, summarize

# What a cell costs, by --optimize: its attribute, and how it reads.
COSTS = {
    "bytes": ("bytes_per_vector", "bytes/vector"),
    "dim": ("dim", "dims"),
    "memory": ("memory_bytes", "bytes of index memory"),
    "latency": ("latency_ms", "ms per query"),
}
SEPARATOR = " · "


@dataclass(frozen=True)
class ModelCell:
    """One way to deploy one model: a cell (`prefix:256:int8`, `pca:128:float32`, or an engine cell's label) with
    its cost and its scores; `stats` against the run's reference cell."""

    model: str
    cell: str
    method: str
    dim: int
    precision: str
    full_dim: int
    bytes_per_vector: int
    metrics: Mapping[str, float]
    stats: Mapping[str, MetricStats] = field(default_factory=dict)
    memory_bytes: int | None = None  # engine cells: index plus table, as measured
    latency_ms: float | None = None  # engine cells: median per query, as measured

    @property
    def label(self) -> str:
        return f"{self.model}{SEPARATOR}{self.cell}"

    @property
    def is_full(self) -> bool:
        """The model's own full-size float32 cell (exact search)."""
        return self.cell == f"prefix:{self.full_dim}:float32"

    def cost(self, optimize: str) -> float | None:
        return getattr(self, COSTS[optimize][0])

    def to_dict(self) -> dict:
        out = asdict(self)
        out["label"] = self.label
        out["stats"] = {m: asdict(s) for m, s in self.stats.items()}
        return out


def full_cell(cells: Sequence[ModelCell], model: str) -> ModelCell:
    return next(c for c in cells if c.model == model and c.cell == f"prefix:{c.full_dim}:float32")


def reference_model(cells: Sequence[ModelCell], metric: str, named: str | None = None) -> str:
    """`named` (checked), or the model whose full-size float32 cell scores best on `metric` (ties: the first)."""
    models = list(dict.fromkeys(c.model for c in cells))
    if named is not None:
        if named not in models:
            raise UsageError(f"--reference {named!r}: not a model of this run; choose one of {', '.join(models)}")
        return named
    return max(models, key=lambda m: (full_cell(cells, m).metrics[metric], -models.index(m)))


def with_statistics(
    cells: Sequence[ModelCell],
    values: Mapping[str, Mapping[str, Mapping[str, float]]],
    reference: str,
    query_ids: Sequence[str],
    settings: StatsSettings | None,
) -> list[ModelCell]:
    """The cells with their intervals and their paired comparison with `reference` (a cell label), from the
    per-query values of every cell (`values`: label -> metric -> query id -> value, the same queries for all)."""
    if settings is None:
        return [replace(c, stats={}) for c in cells]
    stats = summarize(dict(values), reference, list(query_ids), settings)
    return [replace(c, stats=stats.get(c.label, {})) for c in cells]


def frontier(cells: Sequence[ModelCell], metric: str, optimize: str = "bytes") -> list[str]:
    """The labels of the cells no other cell beats on both cost and `metric` (the Pareto frontier), cheapest first.
    Cells without that cost (a prefix cell has no measured latency) are left out."""
    priced = [c for c in cells if c.cost(optimize) is not None]
    priced.sort(key=lambda c: (c.cost(optimize), -c.metrics[metric]))
    out, best = [], float("-inf")
    for c in priced:
        if c.metrics[metric] > best:
            out.append(c.label)
            best = c.metrics[metric]
    return out


@dataclass(frozen=True)
class ModelsChoice:
    """The cheapest cell over every model that meets the rule (`label` None when none does), and why each other
    model lost."""

    metric: str
    rule: str
    rule_kind: str
    optimize: str
    reference: str  # the reference cell's label
    reference_value: float
    threshold: float
    label: str | None = None
    model: str | None = None
    cell: str | None = None
    dim: int | None = None
    precision: str | None = None
    value: float | None = None
    cost: float | None = None
    storage: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)  # label -> the numbers the rule looked at
    why_not: dict = field(default_factory=dict)  # model -> why it was not chosen

    @property
    def passed(self) -> bool:
        return self.label is not None

    def to_dict(self) -> dict:
        return asdict(self)


def _evidence(cell: ModelCell, metric: str) -> dict:
    s = cell.stats.get(metric)
    out: dict = {"value": cell.metrics[metric], "bytes_per_vector": cell.bytes_per_vector}
    if s is not None:
        out.update(ci=list(s.ci), delta=s.delta, delta_ci=list(s.delta_ci), p_value=s.p_value)
    return out


def _cost_text(cell: ModelCell, optimize: str) -> str:
    value = cell.cost(optimize)
    unit = COSTS[optimize][1]
    return f"{value:,.3f} {unit}" if optimize == "latency" else f"{int(value or 0):,} {unit}"


def recommend_across(
    cells: Sequence[ModelCell],
    rule: CheckedRule,
    reference: str,
    optimize: str = "bytes",
    n_docs: int = 0,
) -> ModelsChoice:
    """The cheapest cell by `optimize` that meets `rule` (ties: the higher score, then the order given);
    `reference` is the label of the cell relative bars and paired statistics refer to. `optimize="dim"` chooses
    among float32 cells only (a dim at another precision is not the same size)."""
    if optimize not in COSTS:
        raise UsageError(f"--optimize {optimize!r}: choose one of {', '.join(COSTS)}")
    ref = next(c for c in cells if c.label == reference)
    ref_value = ref.metrics[rule.metric]
    if rule.kind != "point" and rule.metric not in ref.stats:
        raise UsageError(f"--rule {rule.kind} needs confidence intervals; they were not computed")
    pool = [c for c in cells if c.cost(optimize) is not None and (optimize != "dim" or c.precision == "float32")]
    if not pool:
        raise UsageError(f"--optimize {optimize}: no cell of this run has that cost (memory and latency need --engine)")
    order = {c.label: i for i, c in enumerate(cells)}
    pool.sort(key=lambda c: (c.cost(optimize), -c.metrics[rule.metric], order[c.label]))
    passing = [c for c in pool if rule.passes(c, ref_value)]  # type: ignore[arg-type]
    chosen = passing[0] if passing else None
    why_not = {}
    for model in dict.fromkeys(c.model for c in cells):
        if chosen is not None and model == chosen.model:
            continue
        own = [c for c in passing if c.model == model]
        if not own:
            best = max((c for c in pool if c.model == model), key=lambda c: c.metrics[rule.metric], default=None)
            shown = f"; its best is {best.cell} at {best.metrics[rule.metric]:.4f}" if best else ""
            why_not[model] = f"meets the bar at no size{shown}"
        elif chosen is not None:
            why_not[model] = (
                f"meets the bar only at {_cost_text(own[0], optimize)} ({own[0].cell}), "
                f"more than {_cost_text(chosen, optimize)}"
            )
    shown = [c for c in (chosen, ref) if c is not None]
    common = dict(
        metric=rule.metric,
        rule=rule.describe().replace("full dim", "the reference"),
        rule_kind=rule.kind,
        optimize=optimize,
        reference=reference,
        reference_value=ref_value,
        threshold=rule.threshold(ref_value),
        evidence={c.label: _evidence(c, rule.metric) for c in shown},
        why_not=why_not,
    )
    if chosen is None:
        return ModelsChoice(**common)
    return ModelsChoice(
        **common,
        label=chosen.label,
        model=chosen.model,
        cell=chosen.cell,
        dim=chosen.dim,
        precision=chosen.precision,
        value=chosen.metrics[rule.metric],
        cost=chosen.cost(optimize),
        storage=storage_bytes(chosen.bytes_per_vector, ref.bytes_per_vector, n_docs) if n_docs else {},
    )
