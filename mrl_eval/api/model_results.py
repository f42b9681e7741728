"""The API's results of a run of several models: `ModelsRun` (every model's run and the comparison across them)
and `ModelsRecommendation` (the cheapest (model, dim, precision[, index]) cell that meets a rule)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrl_eval.api.results import Comparison, SweepRun, from_report
from mrl_eval.api.rules import Rule
from mrl_eval.decide.across_models import COSTS, ModelCell, ModelsChoice, holdout_across, recommend_across
from mrl_eval.decide.holdout import HoldoutCheck
from mrl_eval.errors import GateFailed, MrlEvalError, UsageError
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.pipeline.models import ModelsOutcome
from mrl_eval.pipeline.to_report import build_models_report
from mrl_eval.report.document import restated
from mrl_eval.report.models_files import write_models_reports
from mrl_eval.report.models_report import ModelsReport, cross_model

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, eq=False)
class ModelsRun:
    """Several models swept on the same collection and queries: `runs` holds each model's `SweepRun` (by `names`),
    `report.comparison` every cell of every model against the reference cell, with the frontier."""

    names: tuple[str, ...]
    runs: tuple[SweepRun, ...]
    report: ModelsReport = field(repr=False)
    stats: StatsSettings = field(repr=False, default_factory=StatsSettings)
    path: Path | None = None
    output: ModelsOutcome | None = field(default=None, repr=False)

    @classmethod
    def of(cls, outcome: ModelsOutcome, reference: str | None = None) -> ModelsRun:
        """The run of a finished pipeline run of several models."""
        report = build_models_report(outcome, "sweep", reference=reference)
        runs = tuple(from_report(r, outcome.config.stats, output=o) for r, o in zip(report.runs, outcome.outcomes))
        return cls(outcome.names, runs, report, outcome.config.stats, output=outcome)

    @classmethod
    def saved(cls, report: ModelsReport, stats: StatsSettings, path: Path) -> ModelsRun:
        """A saved report of several models read back: every model's statistics and the comparison recomputed
        from the per-query values under `stats`; the saved decisions dropped."""
        reports = [restated(r, stats) for r in report.runs]
        reference = report.comparison.reference_model if report.comparison.reference_how == "--reference" else None
        has_values = all(r.per_query is not None for r in reports)
        comparison, _ = cross_model(
            report.names, reports, report.comparison.metric, stats if has_values else None, reference
        )
        runs = tuple(from_report(r, stats, path=path) for r in reports)
        fresh = replace(report, runs=tuple(reports), comparison=comparison, recommendation=None, holdout=None)
        return cls(report.names, runs, fresh, stats, path=path)

    @property
    def cells(self) -> list[ModelCell]:
        """Every cell of every model, with its statistics against the reference cell."""
        return list(self.report.comparison.cells)

    @property
    def reference(self) -> str:
        """The reference cell's label (a model's full-size float32 cell)."""
        return self.report.comparison.reference

    @property
    def frontier(self) -> list[str]:
        """The cells on the frontier of quality against bytes per vector, cheapest first."""
        return list(self.report.comparison.frontier)

    def run(self, name: str) -> SweepRun:
        """One model's run, by its name in this run."""
        if name not in self.names:
            raise MrlEvalError(f"{name!r} is not a model of this run; the models are {', '.join(self.names)}")
        return self.runs[self.names.index(name)]

    def with_reference(self, reference: str | None, metric: str | None = None) -> ModelsRun:
        """The comparison against another reference model (or on another metric), statistics recomputed."""
        comparison, _ = cross_model(
            self.names,
            [r.report for r in self.runs],
            metric or self.report.comparison.metric,
            self.stats if all(r.has_statistics for r in self.runs) else None,
            reference,
        )
        return replace(self, report=self.report.restated(comparison))

    def to_dict(self) -> dict:
        return self.report.to_dict()

    def to_frame(self) -> pd.DataFrame:
        """One row per cell of every model: model, cell, dim, precision, bytes per vector, the metrics, and the
        primary metric's interval and delta from the reference."""
        import pandas as pd

        metric = self.report.comparison.metric
        frontier = set(self.frontier)
        rows = []
        for c in self.cells:
            row: dict[str, Any] = {
                "label": c.label,
                "model": c.model,
                "cell": c.cell,
                "dim": c.dim,
                "precision": c.precision,
                "bytes_per_vector": c.bytes_per_vector,
                **c.metrics,
                "on_frontier": c.label in frontier,
            }
            s = c.stats.get(metric)
            if s is not None:
                row |= {
                    f"{metric} ci_low": s.ci[0],
                    f"{metric} ci_high": s.ci[1],
                    f"{metric} delta": s.delta,
                    f"{metric} delta_ci_low": s.delta_ci[0],
                    f"{metric} delta_ci_high": s.delta_ci[1],
                    f"{metric} p_value": s.p_value,
                }
            rows.append(row)
        return pd.DataFrame(rows).set_index("label")

    def save(
        self,
        out_dir: str | Path,
        *,
        plots: bool = True,
        metric: str | None = None,
        name: str | None = None,
        overwrite: bool = False,
    ) -> list[Path]:
        """Write the report of the run into `out_dir` as `<name>.*` (default `<data>__<n>-models`), all files or
        none; a set of that name another run wrote is replaced only with `overwrite`."""
        metric = metric or self.report.comparison.metric
        return write_models_reports(self.report, Path(out_dir), metric, plots, name=name, overwrite=overwrite)


@dataclass(frozen=True, eq=False)
class ModelsRecommendation:
    """The cheapest cell over every model of a `ModelsRun` that meets a `Rule`, and why each other model lost."""

    run: ModelsRun
    rule: Rule
    choice: ModelsChoice
    holdout: HoldoutCheck | None = None  # the choice made on part of the queries, scored on the rest
    baselines: tuple[tuple[str, Comparison], ...] = ()  # each shared model against its run in the baseline

    def __repr__(self) -> str:
        value = f"{self.choice.value:.4f}" if self.choice.value is not None else None
        return f"ModelsRecommendation(label={self.choice.label!r}, {self.choice.metric}={value}, passed={self.passed})"

    @property
    def passed(self) -> bool:
        return self.report.gate_passed

    @property
    def model(self) -> str | None:
        return self.choice.model

    @property
    def dim(self) -> int | None:
        return self.choice.dim

    @property
    def label(self) -> str | None:
        return self.choice.label

    def raise_if_failed(self) -> None:
        if not self.choice.passed:
            raise GateFailed(f"No cell of any model meets the rule ({self.choice.rule}).")
        for _, comparison in self.baselines:
            comparison.raise_if_failed()

    @property
    def report(self) -> ModelsReport:
        baselines = tuple((name, c.body) for name, c in self.baselines)
        return replace(
            self.run.report, command="recommend", recommendation=self.choice, holdout=self.holdout, baselines=baselines
        )

    def to_dict(self) -> dict:
        return self.report.to_dict()

    def save(
        self, out_dir: str | Path, *, plots: bool = True, name: str | None = None, overwrite: bool = False
    ) -> list[Path]:
        """As `ModelsRun.save`, with the recommendation."""
        return write_models_reports(
            self.report, Path(out_dir), self.choice.metric, plots, name=name, overwrite=overwrite
        )


def recommend_models(
    run: ModelsRun,
    rule: Rule,
    *,
    optimize: str = "bytes",
    reference: str | None = None,
    holdout: float | None = None,
) -> ModelsRecommendation:
    """The cheapest cell by `optimize` (bytes, dim, memory or latency) over every model that meets `rule`; a
    relative bar is relative to the reference model's full-size score (`reference`, or the run's own: by default the
    best model at full size on the rule's metric). `holdout=0.5`: also choose on that share of the queries (the
    run's seed) and report how the choice scores on the rest."""
    if optimize not in COSTS:
        raise UsageError(f"--optimize {optimize!r}: choose one of {', '.join(COSTS)}")
    resolved = rule.resolve()
    if resolved.metric not in run.report.metrics:
        raise MrlEvalError(f"the run has no {resolved.metric}; rerun the sweep with --metrics")
    if resolved.kind != "point" and not all(r.has_statistics for r in run.runs):
        raise MrlEvalError(f"--rule {resolved.kind} needs per-query values, which a model's report lacks")
    restated = run.with_reference(reference, resolved.metric)
    comparison = restated.report.comparison
    choice = recommend_across(comparison.cells, resolved, comparison.reference, optimize, restated.report.n_docs)
    check = None
    if holdout is not None:
        _, values = cross_model(run.names, [r.report for r in run.runs], resolved.metric, run.stats, reference)
        query_ids = list(run.runs[0].query_ids)
        check = holdout_across(
            comparison.cells, values, comparison.reference, query_ids, resolved, run.stats, holdout, optimize
        )
    return ModelsRecommendation(restated, rule, choice, check)
