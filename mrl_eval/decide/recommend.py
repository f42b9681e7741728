"""Pick the smallest swept dimension that meets the rule, and say why.

The bar is `--min` (an absolute score, e.g. nDCG@10 >= 0.82), `--max-drop` (at most this far below the
full-dim score: absolute, or relative with `%`), or the higher of the two when both are given. The rule says
what must clear it (`--rule`):

- `point`: the mean score over the queries is at or above the bar;
- `lower-bound`: the lower end of the score's bootstrap confidence interval is at or above `--min`; a
  `--max-drop` bar is checked on the paired delta instead (the lower end of its interval is at or above
  -max_drop), because a bar relative to the full dim must let the full dim itself pass, and the full dim's own
  interval always starts below its mean;
- `non-inferior`: the lower end of the confidence interval of the paired delta (dim minus full dim, per query)
  is at or above -max_drop: with the stated confidence, the drop is no larger than `--max-drop`.

So every rule passes the full dim whenever the bar is relative to it (`--max-drop`): its paired delta is zero
for every query. An absolute bar (`--min`) can fail the full dim, and then nothing is recommended.

The recommendation is the smallest swept dim that meets the rule; if none does, there is none (exit code 3).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

from mrl_eval.errors import UsageError
from mrl_eval.evaluate.results import DimResult
from mrl_eval.evaluate.stats import interval_warning
from mrl_eval.methods.pca import deploy_cost

RULES = ("point", "lower-bound", "non-inferior")

STORAGE_SCALES = {"1M": 1_000_000, "10M": 10_000_000}


@dataclass(frozen=True)
class CheckedRule:
    metric: str = "ndcg@10"
    kind: str = "point"
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

    def margin(self, full_value: float) -> float:
        """The allowed drop from the full-dim score (non-inferior rule)."""
        return full_value - self.threshold(full_value)

    def allowed_drop(self, full_value: float) -> float | None:
        """The drop from the full dim that the `--max-drop` bar allows (the tighter form when both are given), or
        None when the bar is absolute only."""
        drops = []
        if self.max_drop is not None:
            drops.append(self.max_drop)
        if self.max_drop_relative is not None:
            drops.append(full_value * self.max_drop_relative)
        return min(drops) if drops else None

    def passes(self, result: DimResult, full_value: float) -> bool:
        if self.kind == "point":
            return result.metrics[self.metric] >= self.threshold(full_value)
        stats = result.stats[self.metric]
        if self.kind == "lower-bound":
            drop = self.allowed_drop(full_value)
            meets_min = self.min_value is None or stats.ci[0] >= self.min_value
            return meets_min and (drop is None or stats.delta_ci[0] >= -drop)
        return stats.delta_ci[0] >= -self.margin(full_value)

    def describe(self) -> str:
        parts = [f"{self.kind}:"]
        on_delta = " (lower end of the paired delta's CI)" if self.kind == "lower-bound" else ""
        if self.min_value is not None:
            parts.append(f"{self.metric} >= {self.min_value:g}" + (" (lower end of its CI)" if on_delta else ""))
        if self.max_drop is not None:
            parts.append(f"drop from full dim <= {self.max_drop:g}{on_delta}")
        if self.max_drop_relative is not None:
            parts.append(f"drop from full dim <= {self.max_drop_relative * 100:g}%{on_delta}")
        return parts[0] + " " + " and ".join(parts[1:])


def make_rule(metric: str, min_value: float | None, max_drop: str | None, kind: str = "point") -> CheckedRule:
    """Check the bar options; `max_drop` is '0.02' (absolute) or '2%' (relative)."""
    if kind not in RULES:
        raise UsageError(f"--rule {kind!r}: choose one of {', '.join(RULES)}")
    if kind == "non-inferior" and (max_drop is None or min_value is not None):
        raise UsageError("--rule non-inferior bounds the drop from the full dim: give --max-drop (and no --min)")
    if min_value is None and max_drop is None:
        raise UsageError("recommend needs a bar: --min-ndcg 0.82, --metric M --min X, or --max-drop 0.02 / 2%")
    if min_value is not None and not 0 <= min_value <= 1:
        raise UsageError(f"--min {min_value:g}: metric values lie in [0, 1]")
    absolute = relative = None
    if max_drop is not None:
        absolute, relative = parse_max_drop(max_drop)
    return CheckedRule(metric, kind, min_value, absolute, relative)


def parse_max_drop(text: str, flag: str = "--max-drop") -> tuple[float | None, float | None]:
    """'0.02' -> (0.02, None), an absolute drop; '2%' -> (None, 0.02), a share of the reference score."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(%?)", text.strip())
    if not match:
        raise UsageError(f"{flag} {text!r}: give an absolute drop like 0.02 or a relative one like 2%")
    value = float(match.group(1))
    if match.group(2):
        if value > 100:
            raise UsageError(f"{flag} {text!r}: a relative drop is at most 100%")
        return None, value / 100
    if value > 1:
        raise UsageError(f"{flag} {text!r}: an absolute drop is at most 1 (did you mean {value:g}%?)")
    return value, None


@dataclass(frozen=True)
class Choice:
    dim: int | None
    metric: str
    threshold: float
    value: float | None
    rule: str
    rule_kind: str
    full_dim: int
    full_value: float
    smaller_dim: int | None  # the next smaller swept dim, which did not meet the bar (None if dim is the smallest)
    smaller_value: float | None
    storage: dict  # bytes per vector and for the corpus / 1M / 10M docs, at the chosen and the full dim
    evidence: dict  # dim (or cell label) -> the numbers the rule looked at: the chosen, the next smaller, the full
    optimize: str = "dim"  # "dim": the smallest float32 dim; "bytes": the fewest bytes per vector
    method: str = "prefix"  # "prefix" (truncation) or "pca"
    precision: str = "float32"
    label: str | None = None  # evidence keys are cell labels ("prefix:128:int8") when cells were compared
    smaller_label: str | None = None
    full_label: str | None = None
    note: str | None = None  # e.g. what choosing PCA means for deployment
    warning: str | None = None  # e.g. too few queries for the interval rules to mean anything

    def warn_if_few_queries(self, n_queries: int) -> Choice:
        """This recommendation, flagged when an interval rule decided it on too few queries."""
        warning = interval_warning(n_queries) if self.rule_kind != "point" else None
        return replace(self, warning=warning) if warning else self

    def to_dict(self) -> dict:
        return asdict(self)


def storage(dim: int | None, full_dim: int, bytes_per_value: int, n_docs: int) -> dict:
    chosen = dim if dim is not None else full_dim
    return storage_bytes(chosen * bytes_per_value, full_dim * bytes_per_value, n_docs)


def storage_bytes(bytes_per_vector: int, full_bytes_per_vector: int, n_docs: int) -> dict:
    sizes = {"corpus": n_docs, **STORAGE_SCALES}
    return {
        "bytes_per_vector": bytes_per_vector,
        "full_bytes_per_vector": full_bytes_per_vector,
        "saved_fraction": round(1 - bytes_per_vector / full_bytes_per_vector, 6),
        "n_docs": n_docs,
        "bytes": {name: n * bytes_per_vector for name, n in sizes.items()},
        "full_bytes": {name: n * full_bytes_per_vector for name, n in sizes.items()},
    }


def recommend(results: Sequence[DimResult], full_dim: int, rule: CheckedRule, n_docs: int) -> Choice:
    by_dim = sorted(results, key=lambda r: r.dim)
    full = next(r for r in by_dim if r.dim == full_dim)
    full_value = full.metrics[rule.metric]
    if rule.kind != "point" and rule.metric not in full.stats:
        raise UsageError(f"--rule {rule.kind} needs confidence intervals; they were not computed")
    passing = [r for r in by_dim if rule.passes(r, full_value)]
    chosen = passing[0] if passing else None
    smaller = None
    if chosen is not None:
        below = [r for r in by_dim if r.dim < chosen.dim]
        smaller = below[-1] if below else None
    bytes_per_value = full.bytes_per_vector // full_dim
    sizes = storage(chosen.dim if chosen else None, full_dim, bytes_per_value, n_docs)
    return _recommendation(rule, full_dim, full, chosen, smaller, sizes, key=lambda r: str(r.dim))


def _recommendation(
    rule: CheckedRule, full_dim: int, full, chosen, smaller, sizes: dict, key: Callable, **extra: object
) -> Choice:
    """The recommendation of `chosen` (or of none), with the numbers of the chosen, the next smaller and the full
    result as evidence under `key(result)`. Results are `DimResult`s or `grid.Cell`s."""
    full_value = full.metrics[rule.metric]
    shown = [r for r in (chosen, smaller, full) if r is not None]
    return Choice(
        dim=chosen.dim if chosen else None,
        metric=rule.metric,
        threshold=rule.threshold(full_value),
        value=chosen.metrics[rule.metric] if chosen else None,
        rule=rule.describe(),
        rule_kind=rule.kind,
        full_dim=full_dim,
        full_value=full_value,
        smaller_dim=smaller.dim if smaller else None,
        smaller_value=smaller.metrics[rule.metric] if smaller else None,
        storage=sizes,
        evidence={key(r): _evidence(r, rule.metric) for r in shown},
        **extra,  # type: ignore[arg-type]
    )


def _evidence(result: DimResult, metric: str) -> dict:
    stats = result.stats.get(metric)
    if stats is None:
        return {"value": result.metrics[metric]}
    return {
        "value": result.metrics[metric],
        "ci": list(stats.ci),
        "delta": stats.delta,
        "delta_ci": list(stats.delta_ci),
        "p_value": stats.p_value,
    }


OPTIMIZE = ("dim", "bytes")


def recommend_cell(
    cells: Sequence,
    full_dim: int,
    rule: CheckedRule,
    n_docs: int,
    optimize: str = "dim",
    methods: Sequence[str] = ("prefix",),
) -> Choice:
    """The best cell of the grid that meets the rule. `optimize="bytes"`: the fewest bytes per vector over every
    method and precision (ties: the higher score); `"dim"`: the smallest dim at float32, over `methods` (ties:
    truncation first, as it needs no projection matrix). `cells` are `grid.Cell`s."""
    if optimize not in OPTIMIZE:
        raise UsageError(f"--optimize {optimize!r}: choose one of {', '.join(OPTIMIZE)}")
    full = next(c for c in cells if c.method == "prefix" and c.dim == full_dim and c.precision == "float32")
    full_value = full.metrics[rule.metric]
    if rule.kind != "point" and rule.metric not in full.stats:
        raise UsageError(f"--rule {rule.kind} needs confidence intervals; they were not computed")
    method_rank = {m: i for i, m in enumerate(("prefix", "pca"))}
    pool = [c for c in cells if c.method in methods and (optimize == "bytes" or c.precision == "float32")]
    size = (lambda c: c.bytes_per_vector) if optimize == "bytes" else (lambda c: c.dim)
    # truncation wins a tie in size: PCA is chosen only when it meets the bar at a strictly smaller size
    pool.sort(key=lambda c: (size(c), method_rank[c.method], -c.metrics[rule.metric], c.dim))
    passing = [c for c in pool if rule.passes(c, full_value)]
    chosen = passing[0] if passing else None
    smaller = None
    if chosen is not None:  # the best-scoring cell of the next smaller size, which fails the rule
        below = [c for c in pool if size(c) < size(chosen)]
        if below:
            nearest = max(size(c) for c in below)
            smaller = max((c for c in below if size(c) == nearest), key=lambda c: c.metrics[rule.metric])
    note = None
    if chosen is not None and chosen.method == "pca":
        cost = deploy_cost(full_dim, chosen.dim)
        prefix_pass = [c for c in passing if c.method == "prefix"]
        unit = "bytes/vector" if optimize == "bytes" else "d"
        instead = (
            f"the smallest truncated cell that does is {prefix_pass[0].label} ({size(prefix_pass[0]):,} {unit})"
            if prefix_pass
            else "no truncated cell does"
        )
        note = (
            f"PCA to {chosen.dim} d meets the bar at a smaller size ({size(chosen):,} {unit}); {instead}. Deploying it means a "
            f"{full_dim}x{chosen.dim} float32 matrix ({cost['matrix_bytes_float32']:,} B) applied to every document "
            "at index time and every query at query time."
        )
    sizes = storage_bytes(chosen.bytes_per_vector if chosen else full.bytes_per_vector, full.bytes_per_vector, n_docs)
    return _recommendation(
        rule,
        full_dim,
        full,
        chosen,
        smaller,
        sizes,
        key=lambda c: c.label,
        optimize=optimize,
        method=chosen.method if chosen else "prefix",
        precision=chosen.precision if chosen else "float32",
        label=chosen.label if chosen else None,
        smaller_label=smaller.label if smaller else None,
        full_label=full.label,
        note=note,
    )


@dataclass(frozen=True)
class TwoStageChoice:
    """The cheapest two-stage configuration meeting the rule (`first_stage` None when none does)."""

    rule: str
    threshold: float
    first_stage: str | None = None
    dim: int | None = None
    precision: str | None = None
    shortlist: int | None = None
    value: float | None = None
    metric: str | None = None
    shortlist_recall: float | None = None
    cost: dict | None = None
    evidence: dict | None = None

    def to_dict(self) -> dict:
        if self.first_stage is None:
            return {"first_stage": None, "shortlist": None, "rule": self.rule, "threshold": self.threshold}
        chosen = {"first_stage": self.first_stage, "dim": self.dim, "precision": self.precision}
        chosen |= {"shortlist": self.shortlist, "value": self.value, "metric": self.metric}
        chosen |= {"threshold": self.threshold, "rule": self.rule, "shortlist_recall": self.shortlist_recall}
        return chosen | {"cost": self.cost, "evidence": self.evidence}


def recommend_two_stage(rows: Sequence, full_value: float, rule: CheckedRule) -> TwoStageChoice:
    """The cheapest two-stage configuration that meets the rule: the smallest first-stage index, then the fewest
    full vectors fetched per query. `rows` are `grid.TwoStageRow`s."""
    ordered = sorted(
        rows,
        key=lambda r: (r.cost["first_stage_index_bytes"], r.cost["full_vectors_fetched_per_query"]),
    )
    chosen = next((r for r in ordered if rule.passes(r, full_value)), None)
    if chosen is None:
        return TwoStageChoice(rule.describe(), rule.threshold(full_value))
    return TwoStageChoice(
        rule=rule.describe(),
        threshold=rule.threshold(full_value),
        first_stage=chosen.first_stage,
        dim=chosen.dim,
        precision=chosen.precision,
        shortlist=chosen.shortlist,
        value=chosen.metrics[rule.metric],
        metric=rule.metric,
        shortlist_recall=chosen.shortlist_recall,
        cost=chosen.cost,
        evidence=_evidence(chosen, rule.metric),
    )
