"""Compare two saved runs dim by dim, and gate on how far the current one may fall below the baseline.

Only dims present in both runs are compared. For each dim and metric the delta is current minus baseline (the
means of the two reports). Where both runs evaluated the same queries, each delta also gets a paired bootstrap CI
and a p-value from the paired sign-flip test (the definitions of `mrl_eval.evaluate.stats`, applied to the per-query
differences between the runs instead of between a dim and the full dim). Different query sets allow no pairing:
the comparison says why; the `point` gate then checks the mean delta, and an interval gate (`non-inferior`,
`lower-bound`) refuses to run (exit 1) rather than silently weaken to the mean.

The gate (`--max-drop`, absolute 0.02 or relative 2% of the baseline's score at that dim) under `--rule`:

- `point`: the mean delta is at least -max_drop;
- `non-inferior` (or `lower-bound`, the same here): the lower end of the delta's CI is at least -max_drop, i.e. with
  the stated confidence the current run is no more than max_drop worse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from mrl_eval import defaults
from mrl_eval.decide.recommend import RULES, parse_max_drop
from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.evaluate.stats import StatsSettings, bootstrap_means, confidence_intervals, paired_p_values

PAIRED_TEST = "two-sided paired sign-flip randomization test of mean delta (current - baseline) = 0"
# Float noise must not fail a drop exactly at the limit (0.80 - 0.78 is 0.0200000000000000018).
_TOLERANCE = 1e-12


@dataclass(frozen=True)
class CheckedGate:
    metric: str = "ndcg@10"
    rule: str = "point"
    max_drop: str = (
        defaults.MAX_DROP_VS_BASELINE
    )  # as given: "0.02" (absolute) or "2%" (relative to the baseline's score)

    def check(self, flag: str = "--max-drop") -> CheckedGate:
        if self.rule not in RULES:
            raise UsageError(f"--rule {self.rule!r}: choose one of {', '.join(RULES)}")
        parse_max_drop(self.max_drop, flag)
        return self

    def allowed_drop(self, baseline_value: float) -> float:
        absolute, relative = parse_max_drop(self.max_drop)
        return absolute if absolute is not None else baseline_value * (relative or 0.0)

    @property
    def uses_interval(self) -> bool:
        return self.rule != "point"


@dataclass(frozen=True)
class RunDescription:
    """One side of a comparison: which report, on what data, with what model."""

    path: str
    data: str | None
    qrels_sha256: str | None
    model: str | None
    model_fingerprint: str | None
    created: str | None
    queries_evaluated: int | None


@dataclass(frozen=True)
class MetricDelta:
    """One metric at one dim: both runs' means and the delta (current - baseline), with its paired CI and p-value
    when the runs evaluated the same queries."""

    baseline: float
    current: float
    delta: float
    delta_ci: tuple[float, float] | None = None
    p_value: float | None = None

    def to_dict(self) -> dict:
        out: dict = {"baseline": self.baseline, "current": self.current, "delta": self.delta}
        if self.delta_ci is not None:
            out["delta_ci"] = list(self.delta_ci)
        if self.p_value is not None:
            out["p_value"] = self.p_value
        return out


@dataclass(frozen=True)
class GateCheck:
    """The gate at one dim: the allowed drop, what was checked (the mean delta or the CI's lower end), the verdict."""

    allowed_drop: float
    checked: str
    value: float
    passed: bool
    regressed: bool  # a drop worth a warning: below zero, and beyond noise where a paired test can tell


@dataclass(frozen=True)
class DimComparison:
    dim: int
    metrics: dict[str, MetricDelta]
    gate: GateCheck

    def to_dict(self) -> dict:
        metrics = {m: v.to_dict() for m, v in self.metrics.items()}
        return {"dim": self.dim, "metrics": metrics, "gate": asdict(self.gate)}


@dataclass(frozen=True)
class Pairing:
    """Whether a paired test was possible (and why not), and its settings."""

    available: bool
    reason: str | None
    queries: int | None
    test: str
    interval: str
    confidence: float
    resamples: int
    seed: int


@dataclass(frozen=True)
class RunComparison:
    """Two runs compared dim by dim under a gate: what `compare` prints, the reports show and `--json` writes."""

    baseline: RunDescription
    current: RunDescription
    gate: CheckedGate
    dims: tuple[int, ...]
    only_in_baseline: tuple[int, ...]
    only_in_current: tuple[int, ...]
    metrics: tuple[str, ...]
    paired: Pairing
    by_dim: tuple[DimComparison, ...]
    failed_dims: tuple[int, ...]
    passed: bool
    notes: tuple[str, ...]

    def to_dict(self) -> dict:
        """The comparison as the JSON holds it (`compare --json`, a report's `baseline`)."""
        return {
            "baseline": asdict(self.baseline),
            "current": asdict(self.current),
            "gate": {"metric": self.gate.metric, "rule": self.gate.rule, "max_drop": self.gate.max_drop},
            "dims": list(self.dims),
            "only_in_baseline": list(self.only_in_baseline),
            "only_in_current": list(self.only_in_current),
            "metrics": list(self.metrics),
            "paired": asdict(self.paired),
            "by_dim": [row.to_dict() for row in self.by_dim],
            "failed_dims": list(self.failed_dims),
            "passed": self.passed,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ComparedRun:
    """One side of a comparison, as the comparison reads it: what the run is, its means per dim and metric, and its
    per-query values (dim -> metric -> query id -> value; None when the run kept none)."""

    description: RunDescription
    means: Mapping[int, Mapping[str, float]]
    per_query: Mapping[int, Mapping[str, Mapping[str, float]]] | None


def _query_ids(run: ComparedRun, dims: list[int], metrics: list[str]) -> list[str] | None:
    """The evaluated query ids, if every compared dim and metric has per-query values for the same ones."""
    per_query = run.per_query
    if per_query is None:
        return None
    try:
        first = list(per_query[dims[0]][metrics[0]])
        ids = set(first)
        if any(set(per_query[d][m]) != ids for d in dims for m in metrics):
            return None
    except KeyError:
        return None
    return first


def _pairing(
    baseline: ComparedRun, current: ComparedRun, dims: list[int], metrics: list[str]
) -> tuple[list[str] | None, str]:
    """The shared query ids, or None and the reason there is no paired test."""
    base, cur = _query_ids(baseline, dims, metrics), _query_ids(current, dims, metrics)
    if base is None or cur is None:
        missing = [name for name, ids in (("baseline", base), ("current", cur)) if ids is None]
        return (
            None,
            f"the {' and the '.join(missing)} run{'s have' if len(missing) == 2 else ' has'} no per-query values",
        )
    if set(base) != set(cur):
        reason = f"different query sets: {len(base)} vs {len(cur)} queries"
        if len(base) == len(cur):
            reason += f" ({len(set(base) - set(cur))} ids differ)"
        return None, reason
    return base, ""


def compare_runs(
    baseline: ComparedRun, current: ComparedRun, gate: CheckedGate, settings: StatsSettings
) -> RunComparison:
    """Every shared dim and metric: baseline, current, delta (and its CI and p when paired), and the gate's verdict."""
    paths = (baseline.description.path, current.description.path)
    base_means, cur_means = baseline.means, current.means
    dims = sorted(set(base_means) & set(cur_means))
    if not dims:
        raise MrlEvalError(
            f"{paths[0]} (dims {sorted(base_means)}) and {paths[1]} (dims {sorted(cur_means)}) share no dim; "
            "sweep the same --dims in both runs"
        )
    base_metrics = list(next(iter(base_means.values())))
    cur_metrics = set(next(iter(cur_means.values())))
    metrics = [m for m in base_metrics if m in cur_metrics]
    for path, have in ((paths[0], base_metrics), (paths[1], cur_metrics)):
        if gate.metric not in have:
            raise MrlEvalError(
                f"{path}: has no {gate.metric} (it has: {', '.join(sorted(have))}); pass --metric or rerun with --metrics"
            )
    query_ids, reason = _pairing(baseline, current, dims, metrics)
    if query_ids is None and gate.uses_interval:
        # A gate that silently weakens is worse than none: the interval rule needs pairs, so no pairs is an error.
        raise MrlEvalError(
            f"--rule {gate.rule} needs a paired test of {paths[0]} against {paths[1]}, and there is none: {reason}. "
            "Sweep both runs on the same queries (per-query values are saved by default), or pass --rule point to "
            "gate on the mean delta alone"
        )
    stats: dict[tuple[int, str], tuple[tuple[float, float], float]] = {}
    if query_ids is not None:
        columns = [(d, m) for d in dims for m in metrics]
        bq, cq = baseline.per_query or {}, current.per_query or {}
        deltas = np.array(
            [[cq[d][m][q] - bq[d][m][q] for d, m in columns] for q in query_ids],
            dtype=np.float64,
        )
        boot = bootstrap_means(deltas, settings.resamples, settings.seed)
        low, high = confidence_intervals(deltas, boot, settings.confidence, settings.method)
        p = paired_p_values(deltas, settings.resamples, settings.seed)
        stats = {col: ((float(low[j]), float(high[j])), float(p[j])) for j, col in enumerate(columns)}

    alpha = 1 - settings.confidence
    by_dim = []
    for d in dims:
        values = {}
        for m in metrics:
            ci, p_value = stats.get((d, m), (None, None))
            base, cur = base_means[d][m], cur_means[d][m]
            values[m] = MetricDelta(base, cur, cur - base, ci, p_value)
        g = values[gate.metric]
        allowed = gate.allowed_drop(g.baseline)
        on_interval = gate.uses_interval and g.delta_ci is not None
        checked = g.delta_ci[0] if on_interval and g.delta_ci is not None else g.delta
        check = GateCheck(
            allowed_drop=allowed,
            checked="lower end of the delta's CI" if on_interval else "mean delta",
            value=checked,
            passed=checked >= -allowed - _TOLERANCE,
            regressed=g.delta < 0 and (g.p_value if g.p_value is not None else 0.0) < alpha,
        )
        by_dim.append(DimComparison(d, values, check))

    notes = []
    if query_ids is None:
        notes.append(f"No paired test: {reason}.")
    base_info, cur_info = baseline.description, current.description
    if base_info.data != cur_info.data:
        notes.append(f"The runs are on different data ({base_info.data} vs {cur_info.data}).")
    elif base_info.qrels_sha256 and cur_info.qrels_sha256 and base_info.qrels_sha256 != cur_info.qrels_sha256:
        notes.append(
            "The qrels differ between the runs (sha256): the deltas mix a change of model with a change of judgments."
        )
    failed = tuple(row.dim for row in by_dim if not row.gate.passed)
    pairing = Pairing(
        available=query_ids is not None,
        reason=reason or None,
        queries=len(query_ids) if query_ids is not None else None,
        test=PAIRED_TEST,
        interval=f"bootstrap over queries ({settings.method})",
        confidence=settings.confidence,
        resamples=settings.resamples,
        seed=settings.seed,
    )
    return RunComparison(
        baseline=base_info,
        current=cur_info,
        gate=gate,
        dims=tuple(dims),
        only_in_baseline=tuple(sorted(set(base_means) - set(cur_means))),
        only_in_current=tuple(sorted(set(cur_means) - set(base_means))),
        metrics=tuple(metrics),
        paired=pairing,
        by_dim=tuple(by_dim),
        failed_dims=failed,
        passed=not failed,
        notes=tuple(notes),
    )


def verdict(comparison: RunComparison) -> str:
    """The gate's outcome in one sentence, shared by the terminal, the step summary and the HTML report."""
    g = comparison.gate
    checked = sorted({row.gate.checked for row in comparison.by_dim})
    how = f"rule {g.rule}: {' / '.join(checked)}"
    if comparison.passed:
        return (
            f"Baseline gate passed: at every compared dim {g.metric} stays within {g.max_drop} of the baseline ({how})."
        )
    rows = {row.dim: row.gate for row in comparison.by_dim}
    worst = "; ".join(
        f"dim {d}: {rows[d].value:+.4f} against an allowed -{rows[d].allowed_drop:.4f}" for d in comparison.failed_dims
    )
    return f"Baseline gate failed: {g.metric} fell more than {g.max_drop} below the baseline at {worst} ({how})."


def missing_dims(comparison: RunComparison) -> str | None:
    parts = []
    if comparison.only_in_baseline:
        parts.append(f"only in the baseline: {', '.join(map(str, comparison.only_in_baseline))}")
    if comparison.only_in_current:
        parts.append(f"only in the current run: {', '.join(map(str, comparison.only_in_current))}")
    return ("Dims not compared (" + "; ".join(parts) + ").") if parts else None
