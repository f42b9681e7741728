"""The API's results: a sweep (`SweepRun`), a recommendation (`Recommendation`) and a comparison (`Comparison`).

Each is a frozen object with typed fields, and renders itself: `to_dict()` (the report document, as saved),
`to_frame()` (a pandas DataFrame, pandas imported only then) and, for the first two, `save(dir)` (the JSON, CSV,
Markdown and HTML reports and the charts, through `report/`), as ranx's `Report` does. Inside, a run is the typed
report model (`mrl_eval.report.model.Report`); the dict exists only in `to_dict()`: at the file boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrl_eval.api.rules import Gate, Rule
from mrl_eval.decide.compare import RunComparison, verdict
from mrl_eval.decide.engine_choice import EngineChoice
from mrl_eval.decide.holdout import HoldoutCheck
from mrl_eval.decide.recommend import Choice, TwoStageChoice
from mrl_eval.errors import GateFailed, MrlEvalError, UsageError
from mrl_eval.evaluate.results import DimResult
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.methods.grid import Cell, TwoStageRow
from mrl_eval.pipeline.run import SweepOutcome
from mrl_eval.report.document import write_reports
from mrl_eval.report.model import Report
from mrl_eval.report.sentences import explain, explain_holdout
from mrl_eval.report.trec_runs import write_trec_runs
from mrl_eval.version import __version__

if TYPE_CHECKING:
    import pandas as pd


def _frame(rows: list[dict], index: str | None = None) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame.set_index(index) if index is not None and not frame.empty else frame


def _stat_columns(prefix: str, stats: Any) -> dict[str, float]:
    """A MetricStats as flat columns: `ndcg@10 ci_low`, `ndcg@10 delta`, ..."""
    if stats is None:
        return {}
    return {
        f"{prefix} ci_low": stats.ci[0],
        f"{prefix} ci_high": stats.ci[1],
        f"{prefix} delta": stats.delta,
        f"{prefix} delta_ci_low": stats.delta_ci[0],
        f"{prefix} delta_ci_high": stats.delta_ci[1],
        f"{prefix} p_value": stats.p_value,
    }


@dataclass(frozen=True, eq=False)
class SweepRun:
    """A finished sweep: from `mrl_eval.sweep()`, or a saved report read back by `mrl_eval.load_run()`.

    `results` holds one `DimResult` per swept dim (float32 prefixes: means per metric and, when computed, their
    statistics against the full dim); `cells` and `two_stage` the grid (precisions, PCA, two-stage), empty unless
    the sweep asked for it; `per_query` the per-query values (dim -> metric -> query_id -> value) over `query_ids`.
    `stats` are the bootstrap settings its statistics were computed with; `path` is the report it was loaded
    from; `output` the live sweep (rankings, configuration) of a fresh run, None for a loaded one.
    """

    results: list[DimResult]
    cells: list[Cell]
    two_stage: list[TwoStageRow]
    per_query: dict[int, dict[str, dict[str, float]]] = field(repr=False)
    query_ids: list[str] = field(repr=False)
    stats: StatsSettings
    report: Report = field(repr=False)  # the typed report (to_dict() writes it as the JSON file holds it)
    path: Path | None = None
    output: SweepOutcome | None = field(default=None, repr=False)

    @property
    def full_dim(self) -> int:
        """The model's full dimension (always among the swept dims)."""
        return self.report.full_dim

    @property
    def n_docs(self) -> int:
        """Documents in the evaluated corpus."""
        return self.report.n_docs

    @property
    def dims(self) -> list[int]:
        """The swept dims, ascending."""
        return [r.dim for r in self.results]

    @property
    def metrics(self) -> list[str]:
        """The metrics computed, the primary one first."""
        return list(self.results[0].metrics)

    @property
    def has_statistics(self) -> bool:
        """Whether confidence intervals were computed (a saved report without per-query values has none)."""
        return self.report.statistics is not None

    @property
    def name(self) -> str:
        """`<data> · <model>`, as reports title the run."""
        return f"{self.report.data.name} · {self.report.model.name}"

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path is not None else ""
        return (
            f"SweepRun({self.name!r}, dims={self.dims}, metrics={self.metrics}, "
            f"queries={len(self.query_ids) or self.report.queries_evaluated}, cells={len(self.cells)}{where})"
        )

    def result(self, dim: int) -> DimResult:
        """The result at `dim` (a swept dim)."""

        for r in self.results:
            if r.dim == dim:
                return r
        raise MrlEvalError(f"dim {dim} was not swept; the swept dims are {', '.join(map(str, self.dims))}")

    def to_dict(self) -> dict:
        """The report document (what `save()` writes as JSON), a copy the caller may change."""
        return self.report.to_dict()

    def to_frame(self, what: str = "dims") -> pd.DataFrame:
        """A DataFrame: `"dims"` one row per swept dim (means, then CIs, delta from full and p per metric when
        computed), or `"cells"` one row per grid cell (method, dim, precision, bytes per vector, means)."""

        if what == "dims":
            rows = []
            for r in self.results:
                row: dict[str, Any] = {"dim": r.dim, "fraction": r.fraction, "bytes_per_vector": r.bytes_per_vector}
                row.update(r.metrics)
                for metric in r.metrics:
                    row.update(_stat_columns(metric, r.stats.get(metric)))
                rows.append(row)
            return _frame(rows, "dim")
        if what == "cells":
            rows = [
                {
                    "label": c.label,
                    "method": c.method,
                    "dim": c.dim,
                    "precision": c.precision,
                    "bytes_per_vector": c.bytes_per_vector,
                    **c.metrics,
                    "latency_ms": c.latency_ms,
                }
                for c in self.cells
            ]
            return _frame(rows, "label")
        raise UsageError(f"to_frame({what!r}): choose 'dims' or 'cells'")

    def save(
        self,
        out_dir: str | Path,
        *,
        plots: bool = True,
        metric: str | None = None,
        name: str | None = None,
        overwrite: bool = False,
    ) -> list[Path]:
        """Write the reports (JSON, CSV, Markdown, HTML; the PNG/SVG charts unless `plots` is False) into
        `out_dir` as `<name>.*` (default `<data>__<model>`), all or none; returns the paths written. `metric` is the
        one the charts and tables lead with. Files of that name another run wrote (other data or model) are
        replaced only with `overwrite`."""

        metric = metric or self.metrics[0]
        return write_reports(self.report, Path(out_dir), metric, plots, name=name, overwrite=overwrite)

    def save_runs(self, folder: str | Path, *, name: str | None = None, overwrite: bool = False) -> list[Path]:
        """One TREC run file per dim, `<name>.d<dim>.trec` (for trec_eval, ranx or ir_measures), with
        `<name>.runs.json`; only a fresh sweep has its rankings. `name` and `overwrite` as for `save`."""
        if self.output is None:
            raise MrlEvalError(f"{self.path}: a saved report keeps no rankings; rerun the sweep to save TREC runs")
        return save_trec_runs(self.output, Path(folder), name=name, overwrite=overwrite)


def save_trec_runs(
    output: SweepOutcome, folder: Path, *, name: str | None = None, overwrite: bool = False
) -> list[Path]:
    """The TREC run files of a finished pipeline run, named after it (`report.trec_runs`)."""
    sweep = output.sweep
    data = {"name": output.data_name, **output.data}
    return write_trec_runs(
        folder,
        sweep.query_ids,
        sweep.doc_ids,
        sweep.rankings,
        data=data,
        model=output.model,
        name=name,
        overwrite=overwrite,
    )


def from_report(
    report: Report, stats: StatsSettings, *, path: Path | None = None, output: SweepOutcome | None = None
) -> SweepRun:
    """The `SweepRun` of a report: a fresh run's (with its `output`) or a saved one read back (from `path`)."""
    return SweepRun(
        results=list(report.results),
        cells=list(report.cells),
        two_stage=list(report.two_stage_rows),
        per_query=report.per_query or {},
        query_ids=list(report.query_ids),
        stats=stats,
        report=report,
        path=path,
        output=output,
    )


@dataclass(frozen=True, eq=False)
class Comparison:
    """Two runs compared dim by dim under a `Gate`: every shared dim's per-metric baseline, current and delta
    (with a paired CI and p-value where both runs evaluated the same queries), and the gate's verdict."""

    gate: Gate
    body: RunComparison = field(repr=False)  # every compared dim and the verdict; to_dict() writes it

    def __repr__(self) -> str:
        return f"Comparison(passed={self.passed}, dims={self.dims}, failed_dims={self.failed_dims}, gate={self.gate!r})"

    @property
    def passed(self) -> bool:
        """Whether the gate holds at every compared dim."""
        return self.body.passed

    @property
    def failed_dims(self) -> list[int]:
        """The dims where the gated metric fell too far."""
        return list(self.body.failed_dims)

    @property
    def dims(self) -> list[int]:
        """The dims both runs swept (the compared ones)."""
        return list(self.body.dims)

    @property
    def is_paired(self) -> bool:
        """Whether a paired test was possible (the same evaluated queries in both runs)."""
        return self.body.paired.available

    def verdict(self) -> str:
        """The outcome in one sentence."""

        return verdict(self.body)

    def raise_if_failed(self) -> None:
        """Raise `GateFailed` (the CLI's exit code 3) with the verdict if the gate did not hold."""
        if not self.passed:
            raise GateFailed(self.verdict())

    def to_dict(self) -> dict:
        """The comparison document (`mrl-eval compare --json`)."""

        return {"command": "compare", "mrl_eval_version": __version__, **self.body.to_dict()}

    def to_frame(self) -> pd.DataFrame:
        """One row per compared dim: the gated metric's baseline, current, delta (CI and p when paired), the
        allowed drop and the verdict, then the delta of every other metric."""
        gated = self.body.gate.metric
        rows = []
        for row in self.body.by_dim:
            v = row.metrics[gated]
            rows.append(
                {
                    "dim": row.dim,
                    "baseline": v.baseline,
                    "current": v.current,
                    "delta": v.delta,
                    "delta_ci_low": v.delta_ci[0] if v.delta_ci is not None else None,
                    "delta_ci_high": v.delta_ci[1] if v.delta_ci is not None else None,
                    "p_value": v.p_value,
                    "allowed_drop": row.gate.allowed_drop,
                    "passed": row.gate.passed,
                    **{f"delta {m}": row.metrics[m].delta for m in self.body.metrics if m != gated},
                }
            )
        return _frame(rows, "dim")


@dataclass(frozen=True, eq=False)
class Recommendation:
    """The configuration `mrl_eval.recommend()` chose for a run under a `Rule`, and why.

    `choice` holds the decision (`dim`, `label` for a grid cell, the value, the bar, the evidence, the storage);
    `two_stage` the cheapest two-stage configuration meeting the rule (a `TwoStageChoice`, when the run has
    two-stage rows); `holdout` the held-out check (a `HoldoutCheck`, when asked for); `baseline` the comparison with
    a baseline run (when given); `engine` the cheapest engine cell (FAISS or pgvector) meeting the rule (an
    `EngineChoice`, when the run measured engines). Each has `to_dict()`, as the report stores it; `report` is the
    run's typed report with all of them added.
    """

    run: SweepRun
    rule: Rule
    choice: Choice
    two_stage: TwoStageChoice | None = None
    holdout: HoldoutCheck | None = None
    baseline: Comparison | None = None
    engine: EngineChoice | None = None

    def __repr__(self) -> str:
        value = f"{self.value:.4f}" if self.value is not None else None
        where = f", label={self.label!r}" if self.label else ""
        return (
            f"Recommendation(dim={self.dim}{where}, {self.metric}={value}, rule={self.choice.rule!r}, "
            f"passed={self.passed})"
        )

    @property
    def dim(self) -> int | None:
        """The recommended dim, None if nothing meets the rule."""
        return self.choice.dim

    @property
    def label(self) -> str | None:
        """The recommended grid cell (`"prefix:128:int8"`) when cells were compared, else None."""
        return self.choice.label

    @property
    def value(self) -> float | None:
        """The rule's metric at the recommended configuration."""
        return self.choice.value

    @property
    def metric(self) -> str:
        """The metric the rule applies to."""
        return self.choice.metric

    @property
    def passed(self) -> bool:
        """A configuration meets the rule, the baseline gate (if any) holds, and an engine cell (if engines were
        measured) meets the rule."""
        return self.report.gate_passed

    def explain(self) -> list[str]:
        """The recommendation in sentences, as the terminal and the Markdown report print it."""

        lines = explain(self.choice, self.run.stats.confidence if self.run.has_statistics else None)
        return lines + ([explain_holdout(self.holdout)] if self.holdout is not None else [])

    def raise_if_failed(self) -> None:
        """Raise `GateFailed` (the CLI's exit code 3) if nothing meets the rule or the baseline gate failed."""
        if self.choice.dim is None:
            raise GateFailed(self.explain()[0])
        if self.baseline is not None:
            self.baseline.raise_if_failed()
        if self.engine is not None and self.engine.label is None:
            raise GateFailed(f"No engine cell meets the rule ({self.choice.rule}).")

    @property
    def report(self) -> Report:
        """The run's report with the recommendation (and the two-stage choice, the held-out check and the baseline
        comparison) added."""
        run = self.run.report
        two_stage, engine = run.two_stage, run.engine
        if self.two_stage is not None and two_stage is not None:
            two_stage = replace(two_stage, recommendation=self.two_stage)
        if self.engine is not None and engine is not None:
            engine = replace(engine, recommendation=self.engine)
        return replace(
            run,
            command="recommend",
            recommendation=self.choice,
            two_stage=two_stage,
            engine=engine,
            holdout=self.holdout if self.holdout is not None else run.holdout,
            baseline=self.baseline.body if self.baseline is not None else run.baseline,
        )

    def to_dict(self) -> dict:
        """The report document with the recommendation: what `mrl-eval recommend --json` prints."""
        return self.report.to_dict()

    def to_frame(self) -> pd.DataFrame:
        """The evidence: the chosen configuration, the next smaller one (which fails the rule) and the full dim,
        with the numbers the rule looked at."""
        c = self.choice
        roles = {  # the chosen configuration may be the full one: "chosen" is written last and wins
            str(c.full_label if c.label else c.full_dim): "full",
            str(c.smaller_label if c.label else c.smaller_dim): "next smaller",
            str(c.label if c.label else c.dim): "chosen",
        }
        rows = []
        for key, e in c.evidence.items():
            row = {"configuration": key, "role": roles.get(key, ""), c.metric: e["value"]}
            if "ci" in e:
                row.update(
                    {
                        "ci_low": e["ci"][0],
                        "ci_high": e["ci"][1],
                        "delta": e["delta"],
                        "delta_ci_low": e["delta_ci"][0],
                        "delta_ci_high": e["delta_ci"][1],
                        "p_value": e["p_value"],
                    }
                )
            rows.append(row)
        return _frame(rows, "configuration")

    def save(
        self, out_dir: str | Path, *, plots: bool = True, name: str | None = None, overwrite: bool = False
    ) -> list[Path]:
        """Write the reports with the recommendation into `out_dir`, all or none; returns the paths written. `name`
        and `overwrite` as for `SweepRun.save`; for a run loaded from a report X, as `recommend --from X` writes
        them: never over X's own set, nor over charts it does not redraw, unless named so (docs/reports.md)."""

        source = self.run.path
        return write_reports(
            self.report, Path(out_dir), self.metric, plots, name=name, overwrite=overwrite, source=source
        )
