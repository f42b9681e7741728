"""The report of a run of several models: each model's own report (as a one-model run writes it), and the
comparison across them (`CrossModel`: every cell of every model against one reference, the Pareto frontier of
quality against bytes per vector, and after `recommend` the cheapest cell over all models that meets the rule).

The per-query values live in the models' reports; the comparison's statistics are recomputed from them whenever a
saved report is read back, so the file holds one source for every number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mrl_eval.decide.across_models import (
    ModelCell,
    ModelsChoice,
    frontier,
    full_cell,
    reference_model,
    with_statistics,
)
from mrl_eval.decide.compare import RunComparison
from mrl_eval.decide.holdout import HoldoutCheck
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.methods.precision import bytes_per_vector
from mrl_eval.report.model import SCHEMA, DataInfo, Report
from mrl_eval.report.section_fields import PerQuery, as_saved, plain

KIND = "models"  # the JSON's "kind": a report of several models


def model_cells(name: str, report: Report) -> tuple[list[ModelCell], PerQuery]:
    """Every cell of one model's report as a `ModelCell` (no statistics yet), with its per-query values under the
    cross-model labels (empty when the report keeps no per-query values)."""
    full_dim = report.full_dim
    cells: list[ModelCell] = []
    values: PerQuery = {}

    def add(cell: ModelCell, per_query: Mapping[str, Mapping[str, float]] | None) -> None:
        cells.append(cell)
        if per_query is not None:
            values[cell.label] = {m: dict(v) for m, v in per_query.items()}

    for r in report.results:
        cell = ModelCell(
            name, f"prefix:{r.dim}:float32", "prefix", r.dim, "float32", full_dim, r.bytes_per_vector, dict(r.metrics)
        )
        add(cell, report.per_query.get(r.dim) if report.per_query else None)
    grid_values = report.grid.per_query if report.grid is not None else {}
    for c in report.cells:
        if c.method == "prefix" and c.precision == "float32":
            continue  # the results above
        cell = ModelCell(name, c.label, c.method, c.dim, c.precision, full_dim, c.bytes_per_vector, dict(c.metrics))
        add(cell, grid_values.get(c.label) if report.per_query else None)
    engine = report.engine
    if engine is not None:
        for e in engine.cells:
            cell = ModelCell(
                name,
                e.label,
                f"{e.engine}:{e.index}",
                e.dim,
                e.precision,
                full_dim,
                bytes_per_vector(e.dim, e.precision),
                dict(e.metrics),
                memory_bytes=e.index_bytes + engine.table_bytes,
                latency_ms=e.latency_ms[0],
            )
            add(cell, engine.per_query.get(e.label) if report.per_query else None)
    return cells, values


@dataclass(frozen=True)
class CrossModel:
    """Every cell of every model, its statistics against the reference cell, and the frontier."""

    metric: str  # the primary metric: the frontier's and the table's
    reference: str  # the reference cell's label: a model's full-size float32 cell
    reference_how: str  # "best at full size on <metric>" or "--reference"
    cells: tuple[ModelCell, ...]
    frontier: tuple[str, ...]  # labels on the quality / bytes-per-vector frontier, cheapest first
    frontier_memory: tuple[str, ...] = ()  # the same against index memory (engine cells)
    frontier_latency: tuple[str, ...] = ()  # and against latency

    @property
    def reference_model(self) -> str:
        return next(c.model for c in self.cells if c.label == self.reference)

    def to_dict(self) -> dict:
        out = {
            "metric": self.metric,
            "reference": self.reference,
            "reference_how": self.reference_how,
            "frontier": list(self.frontier),
            "cells": [c.to_dict() for c in self.cells],
        }
        if self.frontier_memory:
            out["frontier_memory"] = list(self.frontier_memory)
        if self.frontier_latency:
            out["frontier_latency"] = list(self.frontier_latency)
        return plain(out)


def cross_model(
    names: Sequence[str],
    reports: Sequence[Report],
    metric: str,
    stats: StatsSettings | None,
    reference: str | None = None,
) -> tuple[CrossModel, PerQuery]:
    """The comparison of the models' reports on `metric`: every cell against the reference (`reference`, a model
    name, or the best model at full size), with statistics when `stats` are given and the reports keep per-query
    values; and the per-query values of every cell under its cross-model label."""
    cells: list[ModelCell] = []
    values: PerQuery = {}
    for name, report in zip(names, reports):
        own, own_values = model_cells(name, report)
        cells += own
        values.update(own_values)
    ref_model = reference_model(cells, metric, reference)
    ref = full_cell(cells, ref_model).label
    query_ids = next((tuple(next(iter(v.values()))) for v in values.values() if v), ())
    has_values = bool(query_ids) and all(c.label in values for c in cells)
    cells = with_statistics(cells, values, ref, query_ids, stats if has_values else None)
    section = CrossModel(
        metric=metric,
        reference=ref,
        reference_how="--reference" if reference is not None else f"best at full size on {metric}",
        cells=tuple(cells),
        frontier=tuple(frontier(cells, metric, "bytes")),
        frontier_memory=tuple(frontier(cells, metric, "memory")),
        frontier_latency=tuple(frontier(cells, metric, "latency")),
    )
    return section, values


@dataclass(frozen=True)
class ModelsReport:
    """A run of several models: their reports, in the order given, and the comparison across them."""

    command: str
    data: DataInfo
    names: tuple[str, ...]
    runs: tuple[Report, ...]
    comparison: CrossModel
    settings: Mapping[str, Any] | None = None
    created: str | None = None
    mrl_eval_version: str | None = None
    schema: int = SCHEMA
    recommendation: ModelsChoice | None = None
    holdout: HoldoutCheck | None = None
    baselines: tuple[tuple[str, RunComparison], ...] = ()  # each shared model against its run in the baseline

    def __post_init__(self) -> None:
        as_saved(self, "settings")

    @property
    def metrics(self) -> list[str]:
        return self.runs[0].metrics

    @property
    def queries_evaluated(self) -> int:
        return self.runs[0].queries_evaluated

    @property
    def n_docs(self) -> int:
        return self.runs[0].n_docs

    def run(self, name: str) -> Report:
        return self.runs[self.names.index(name)]

    def restated(self, comparison: CrossModel, recommendation: ModelsChoice | None = None) -> ModelsReport:
        return replace(self, comparison=comparison, recommendation=recommendation)

    def to_dict(self) -> dict:
        doc: dict[str, Any] = {"schema": self.schema, "kind": KIND}
        for key in ("mrl_eval_version", "created", "command", "settings"):
            if getattr(self, key) is not None:
                doc[key] = plain(getattr(self, key))
        doc["data"] = self.data.to_dict()
        doc["models"] = [{"name": n, "report": r.to_dict()} for n, r in zip(self.names, self.runs)]
        doc["comparison"] = self.comparison.to_dict()
        if self.recommendation is not None:
            doc["recommendation"] = plain(self.recommendation.to_dict())
        if self.holdout is not None:
            doc["holdout"] = self.holdout.to_dict()
        if self.baselines:
            doc["baselines"] = {name: c.to_dict() for name, c in self.baselines}
        return doc

    @property
    def gate_passed(self) -> bool:
        """The quality gate of a `recommend` over several models: a cell meets the rule, and every shared model
        holds its baseline gate (if any). True for a sweep."""
        rec_ok = self.recommendation is None or self.recommendation.passed
        return rec_ok and all(c.passed for _, c in self.baselines)
