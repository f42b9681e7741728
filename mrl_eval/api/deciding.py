"""`recommend()` and `compare()`: the decisions on a `SweepRun`, as `mrl-eval recommend` and `compare` make them.

`recommend()` checks everything it can before looking at the run (`RecommendPlan.check`: the rule, what to
optimise, the methods, the baseline and its gate), so the CLI can fail fast before a slow sweep, then applies the
plan (`RecommendPlan.apply`): the smallest dim, or the best grid cell when bytes or PCA are in play, the cheapest
two-stage configuration, the held-out check, and the comparison with the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import overload

from mrl_eval import defaults
from mrl_eval.api.model_results import ModelsRecommendation, ModelsRun, recommend_models
from mrl_eval.api.results import Comparison, Recommendation, SweepRun
from mrl_eval.api.rules import Gate, Rule
from mrl_eval.api.sweeping import stats_settings
from mrl_eval.decide import compare as decide_compare
from mrl_eval.decide import recommend as R
from mrl_eval.decide import recommend as decide_recommend
from mrl_eval.decide.compare import ComparedRun, RunDescription, compare_runs
from mrl_eval.decide.engine_choice import ENGINE_OPTIMIZE, EngineChoice, recommend_engine
from mrl_eval.decide.holdout import holdout_check
from mrl_eval.decide.recommend import OPTIMIZE
from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.methods.grid import parse_methods
from mrl_eval.report.document import load_any, load_report
from mrl_eval.report.engine_section import cells_of
from mrl_eval.report.model import Report
from mrl_eval.report.models_report import ModelsReport


def _reports_by_model(run: SweepRun | ModelsRun | str | Path) -> tuple[dict[str, Report], str]:
    """Each model's report in a run (one, or several) and the name to call the run by."""
    if isinstance(run, ModelsRun):
        return dict(zip(run.names, (r.report for r in run.runs))), str(run.path or "this run")
    if isinstance(run, SweepRun):
        return {run.report.model.name: run.report}, str(run.path) if run.path is not None else "this run"
    saved = load_any(Path(run))
    if isinstance(saved, ModelsReport):
        return dict(zip(saved.names, saved.runs)), str(run)
    return {saved.model.name: saved}, str(run)


def _report(run: SweepRun | str | Path) -> tuple[Report, str]:
    """A run's report and the name to call it by: a `SweepRun`'s own, or a saved report read as is."""
    if isinstance(run, SweepRun):
        return run.report, str(run.path) if run.path is not None else "this run"
    return load_report(Path(run)), str(run)


def compared(report: Report, name: str) -> ComparedRun:
    """A report as one side of a comparison: what it is, its means and its per-query values."""
    description = RunDescription(
        path=name,
        data=report.data.name,
        qrels_sha256=report.data.qrels_sha256,
        model=report.model.name,
        model_fingerprint=report.model.fingerprint,
        created=report.created,
        queries_evaluated=report.queries_evaluated,
    )
    means = {r.dim: dict(r.metrics) for r in report.results}
    return ComparedRun(description, means, report.per_query)


def compare(
    baseline: SweepRun | str | Path,
    current: SweepRun | str | Path,
    gate: Gate | None = None,
    *,
    confidence: float = defaults.CONFIDENCE,
    resamples: int = defaults.RESAMPLES,
    seed: int = defaults.SEED,
    ci_method: str = defaults.CI_METHOD,
) -> Comparison:
    """Compare two runs dim by dim under `gate` (default: `Gate()`, ndcg@10 may fall at most 0.01 at any dim).

    Each run is a `SweepRun` or the path of a saved report (read as saved, statistics not recomputed). Where both
    evaluated the same queries, every delta gets a paired bootstrap CI and a p-value under the given settings; an
    interval gate (`kind="non-inferior"` or `"lower-bound"`) needs that pairing and raises `MrlEvalError` without
    it. The result's `passed` says whether the gate held; `raise_if_failed()` raises `GateFailed` otherwise.
    """

    gate = gate or Gate()
    checked = gate.resolve()
    stats = stats_settings(confidence, resamples, seed, ci_method)
    (base, base_name), (cur, cur_name) = _report(baseline), _report(current)
    return Comparison(gate, compare_runs(compared(base, base_name), compared(cur, cur_name), checked, stats))


@dataclass(frozen=True)
class RecommendPlan:
    """A recommendation's checked settings, before the run they apply to exists (the CLI checks them before a
    slow sweep). Build with `RecommendPlan.check(...)`, apply with `plan.apply(run)`."""

    rule: Rule
    resolved: decide_recommend.CheckedRule
    optimize: str = defaults.OPTIMIZE
    methods: tuple[str, ...] = ("prefix",)
    holdout: float | None = None
    baseline: Report | None = None
    baseline_name: str = ""
    gate: decide_compare.CheckedGate | None = None
    baselines: Mapping[str, Report] | None = None  # each model's report in the baseline, by model name

    @classmethod
    def check(
        cls,
        rule: Rule,
        *,
        optimize: str = defaults.OPTIMIZE,
        methods: str | tuple[str, ...] = defaults.METHODS,
        holdout: float | None = None,
        baseline: SweepRun | str | Path | None = None,
        baseline_max_drop: float | str = defaults.MAX_DROP_VS_BASELINE,
    ) -> RecommendPlan:
        """Check the rule and options, and read the baseline (which must have the rule's metric)."""

        resolved = rule.resolve()
        chosen_methods = parse_methods(methods if isinstance(methods, str) else ",".join(methods))
        if optimize not in OPTIMIZE + ENGINE_OPTIMIZE:
            raise UsageError(f"--optimize {optimize!r}: choose one of {', '.join(OPTIMIZE + ENGINE_OPTIMIZE)}")
        baseline_report, name, gate, by_model = None, "", None, None
        if baseline is not None:
            kind = "point" if resolved.kind == "point" else "non-inferior"
            gate = Gate(baseline_max_drop, kind, resolved.metric).resolve("--baseline-max-drop")
            by_model, name = _reports_by_model(baseline)
            baseline_report = next(iter(by_model.values())) if len(by_model) == 1 else None
            for report in by_model.values():
                if resolved.metric not in report.metrics:
                    raise MrlEvalError(f"{name}: has no {resolved.metric}, the bar's metric; pass another --baseline")
        return cls(rule, resolved, optimize, chosen_methods, holdout, baseline_report, name, gate, by_model)

    @property
    def sweeps_pca(self) -> bool:
        """Whether the run must have PCA cells (`--methods` includes pca)."""
        return "pca" in self.methods

    def apply(self, run: SweepRun) -> Recommendation:
        """Choose on `run` and return the recommendation, with the two-stage choice, the held-out check and the
        baseline comparison where the plan and the run call for them."""

        rule, where = self.resolved, str(run.path) if run.path is not None else "this run"
        if rule.metric not in run.results[0].metrics:
            have = ", ".join(run.results[0].metrics)
            raise MrlEvalError(f"{where}: has no {rule.metric} (it has: {have}); rerun the sweep with --metrics")
        if not run.has_statistics and (rule.kind != "point" or self.holdout is not None):
            raise MrlEvalError(
                f"{where}: has no per-query values, which --rule {rule.kind} and --holdout need; rerun the sweep"
            )
        if self.sweeps_pca and not any(c.method == "pca" for c in run.cells):
            raise MrlEvalError(f"{where}: has no PCA cells, which --methods pca needs; sweep with --compare pca")
        full_dim, n_docs = run.full_dim, run.n_docs
        by_cell = bool(run.cells) and self.optimize in R.OPTIMIZE
        by_cell = by_cell and (self.optimize == "bytes" or self.methods != ("prefix",))
        if by_cell:
            choice = R.recommend_cell(run.cells, full_dim, rule, n_docs, self.optimize, self.methods)
        else:
            choice = R.recommend(run.results, full_dim, rule, n_docs)
        choice = choice.warn_if_few_queries(run.report.queries_evaluated)
        two_stage = R.recommend_two_stage(run.two_stage, choice.full_value, rule) if run.two_stage else None
        engine = self._engine_choice(run, choice.full_value)
        holdout = None
        if self.holdout is not None:
            # the held-out check re-chooses the way the recommendation chose: among the cells when it chose a cell
            cell_args = (
                {
                    "cells": run.cells,
                    "cell_values": run.report.grid.per_query if run.report.grid is not None else {},
                    "optimize": self.optimize,
                    "methods": self.methods,
                }
                if by_cell
                else {}
            )

            holdout = holdout_check(
                run.per_query, full_dim, run.query_ids, rule, run.stats, self.holdout, n_docs, **cell_args
            )
        comparison = None
        if self.baselines is not None and self.baseline is None:  # a baseline of several models: this model's
            own = self.baselines.get(run.report.model.name)
            if own is None:
                raise MrlEvalError(
                    f"{self.baseline_name}: holds no run of {run.report.model.name} (it holds "
                    f"{', '.join(self.baselines)}); pass a baseline of this model"
                )
            replace_plan = replace(self, baseline=own)
            return replace_plan.apply(run)
        if self.baseline is not None and self.gate is not None:
            names = (self.baseline_name, "this run")
            body = compare_runs(compared(self.baseline, names[0]), compared(run.report, names[1]), self.gate, run.stats)
            comparison = Comparison(Gate(self.gate.max_drop, self.gate.rule, self.gate.metric), body)
        return Recommendation(run, self.rule, choice, two_stage, holdout, comparison, engine)

    def apply_models(self, run: ModelsRun, *, reference: str | None = None) -> ModelsRecommendation:
        """Choose over every model of `run`: the cheapest (model, dim, precision[, engine cell]) meeting the rule
        under `optimize` (`dim` counts float32 cells only), a relative bar relative to `reference` (default: the
        best model at full size)."""
        if self.methods != ("prefix",):
            raise UsageError("--methods applies to one model's run; with several models every swept cell competes")
        chosen = recommend_models(run, self.rule, optimize=self.optimize, reference=reference, holdout=self.holdout)
        if self.baselines is None or self.gate is None:
            return chosen
        shared = [name for name in run.names if name in self.baselines]
        if not shared:
            raise MrlEvalError(
                f"{self.baseline_name}: shares no model with this run (it holds {', '.join(self.baselines)}; this "
                f"run {', '.join(run.names)}); pass a baseline of the same models"
            )
        gate = Gate(self.gate.max_drop, self.gate.rule, self.gate.metric)
        comparisons = tuple(
            (
                name,
                Comparison(
                    gate,
                    compare_runs(
                        compared(self.baselines[name], f"{self.baseline_name} ({name})"),
                        compared(chosen.run.run(name).report, f"this run ({name})"),
                        self.gate,
                        run.stats,
                    ),
                ),
            )
            for name in shared
        )
        return replace(chosen, baselines=comparisons)

    def _engine_choice(self, run: SweepRun, full_value: float) -> EngineChoice | None:
        """With engine cells (`--engine faiss|pgvector`): the cheapest one under the rule; None when the run has
        none and `optimize` did not ask for them."""

        section = run.report.engine
        cells = cells_of(section, run.stats if run.has_statistics else None)
        if not cells and self.optimize not in ENGINE_OPTIMIZE:
            return None
        table_bytes = section.table_bytes if section is not None else 0
        return recommend_engine(cells, full_value, self.resolved, self.optimize, table_bytes)


@overload
def recommend(
    run: SweepRun,
    rule: Rule,
    *,
    optimize: str = ...,
    methods: str | tuple[str, ...] = ...,
    holdout: float | None = ...,
    baseline: SweepRun | str | Path | None = ...,
    baseline_max_drop: float | str = ...,
    reference: str | None = ...,
) -> Recommendation: ...


@overload
def recommend(
    run: ModelsRun,
    rule: Rule,
    *,
    optimize: str = ...,
    methods: str | tuple[str, ...] = ...,
    holdout: float | None = ...,
    baseline: SweepRun | str | Path | None = ...,
    baseline_max_drop: float | str = ...,
    reference: str | None = ...,
) -> ModelsRecommendation: ...


def recommend(
    run: SweepRun | ModelsRun,
    rule: Rule,
    *,
    optimize: str = defaults.OPTIMIZE,
    methods: str | tuple[str, ...] = defaults.METHODS,
    holdout: float | None = None,
    baseline: SweepRun | str | Path | None = None,
    baseline_max_drop: float | str = defaults.MAX_DROP_VS_BASELINE,
    reference: str | None = None,
) -> Recommendation | ModelsRecommendation:
    """The smallest configuration of `run` that meets `rule`; for a run of several models (a `ModelsRun`), the
    cheapest (model, dim, precision[, index]) cell over all of them, a relative bar relative to `reference` (a
    model's name; default: the best model at full size).

    - `optimize="dim"`: the smallest float32 dim (over `methods`: `"prefix"`, `"pca"` or `"prefix,pca"`);
      `"bytes"`: the fewest bytes per vector over every swept precision (needs a run with `precisions=`);
    - `holdout=0.5`: also choose on that share of the queries (random, the run's seed) and report how the choice
      scores on the rest;
    - `baseline`: a run (or saved report) the recommendation's run must not fall behind by more than
      `baseline_max_drop` at any shared dim, under the rule's kind.

    Nothing meeting the rule is a result, not an error: `dim` is None and `passed` False (`raise_if_failed()`
    raises `GateFailed`). A rule that needs statistics the run lacks raises `MrlEvalError`.
    """
    plan = RecommendPlan.check(
        rule,
        optimize=optimize,
        methods=methods,
        holdout=holdout,
        baseline=baseline,
        baseline_max_drop=baseline_max_drop,
    )
    if isinstance(run, ModelsRun):
        return plan.apply_models(run, reference=reference)
    if reference is not None:
        raise UsageError("reference names one of several models; this run has one")
    return plan.apply(run)
