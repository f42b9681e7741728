"""The report model: one run's report as typed, frozen objects, rendered by every output (terminal, Markdown, HTML,
CSV, charts, GitHub, JUnit) and by the API.

The JSON dict exists only at the file boundary: `Report.to_dict()` is the one place it is written, and
`mrl_eval.report.schema.parse_document` the one place it is read (checked against the schema). The decisions are
typed where they are made (`decide/`: `Choice`, `TwoStageChoice`, `EngineChoice`, `HoldoutCheck`,
`RunComparison`). What the code only shows and never computes with (the settings the run was given, the file
fingerprints, the model's description, the PCA finding, the machine, a recipe) is kept as a mapping in the file's
order inside its typed section, as a plain copy (`as_saved`), so that a report read back equals the one written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mrl_eval.decide.compare import RunComparison
from mrl_eval.decide.holdout import HoldoutCheck
from mrl_eval.decide.recommend import Choice, TwoStageChoice
from mrl_eval.evaluate.growth import GrowthResult
from mrl_eval.evaluate.results import DimResult
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.methods.grid import Cell, TwoStageRow
from mrl_eval.report.engine_section import EngineSection
from mrl_eval.report.section_fields import PerQuery, as_saved, plain

SCHEMA = 1
PAIRED_TEST = "two-sided paired sign-flip randomization test of mean delta = 0"


@dataclass(frozen=True)
class DataInfo:
    """The collection: its name and, per role (corpus, queries, qrels), the file's path, sha256 and count."""

    name: str
    files: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        as_saved(self, "files")

    def to_dict(self) -> dict:
        return {"name": self.name, **plain(self.files)}

    @property
    def qrels_sha256(self) -> str | None:
        return (self.files.get("qrels") or {}).get("sha256")


@dataclass(frozen=True)
class ModelInfo:
    """The model as saved (provider, name, fingerprint, path, prompts, full_dim, ...), in the file's order."""

    about: Mapping[str, Any]

    def __post_init__(self) -> None:
        as_saved(self, "about")

    @property
    def name(self) -> str:
        return str(self.about["name"])

    @property
    def provider(self) -> str:
        return self.about.get("provider") or ""

    @property
    def label(self) -> str:
        """The model as a person reads it, naming the provider once: "sentence-transformers/all-MiniLM-L6-v2",
        "text-embedding-3-small (openai)", "/models/e5 (sentence-transformers)"."""
        name, provider = self.name, self.provider
        if not provider or name.lower().startswith(provider.lower() + "/"):
            return name
        return f"{name} ({provider})"

    @property
    def fingerprint(self) -> str | None:
        return self.about.get("fingerprint")

    @property
    def path(self) -> str | None:
        return self.about.get("path")

    @property
    def prompts(self) -> Mapping[str, str | None]:
        return self.about.get("prompts") or {}

    def to_dict(self) -> dict:
        return plain(self.about)


@dataclass(frozen=True)
class QueriesInfo:
    """Where the queries came from: `kind` "real", or "pseudo" (sampled from the corpus: n, seed, rule)."""

    about: Mapping[str, Any]

    def __post_init__(self) -> None:
        as_saved(self, "about")

    @property
    def kind(self) -> str:
        return self.about.get("kind", "real")

    @property
    def label(self) -> str:
        """'queries', or 'pseudo-queries' for --queries-from-corpus runs."""
        return self.about.get("label", "queries")

    @property
    def n(self) -> int:
        return self.about["n"]

    @property
    def seed(self) -> int:
        return self.about["seed"]

    @property
    def rule(self) -> str:
        return self.about["rule"]

    def to_dict(self) -> dict:
        return plain(self.about)


@dataclass(frozen=True)
class LabelFree:
    """The label-free metrics of the run and what they measure."""

    metrics: tuple[str, ...]
    reference: str
    overlap: str
    shortlist_recall: str
    rbo: str
    with_qrels_metrics: bool

    def to_dict(self) -> dict:
        return plain(asdict(self))


@dataclass(frozen=True)
class QueryLoss:
    """One query that scores lower at a dim than at the full dim."""

    query_id: str
    text: str
    full: float
    value: float
    delta: float
    lost_relevant: tuple[str, ...]


@dataclass(frozen=True)
class Losses:
    """Per dim below full, the queries that score lower than at the full dim, worst first."""

    metric: str | None
    k: int
    by_dim: dict[int, tuple[QueryLoss, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        by_dim = {str(d): [plain(asdict(q)) for q in rows] for d, rows in self.by_dim.items()}
        return {"metric": self.metric, "k": self.k, "by_dim": by_dim}


@dataclass(frozen=True)
class Statistics:
    """How the intervals and p-values were computed, and whether there are enough queries for them."""

    settings: StatsSettings
    interval: str
    test: str
    min_queries: int
    intervals_reliable: bool
    warning: str | None = None

    @property
    def confidence(self) -> float:
        return self.settings.confidence

    def to_dict(self) -> dict:
        fixed = {"interval": self.interval, "test": self.test, "min_queries": self.min_queries}
        warning = {"warning": self.warning} if self.warning else {}
        return {**asdict(self.settings), **fixed, "intervals_reliable": self.intervals_reliable, **warning}


@dataclass(frozen=True)
class Grid:
    """Every method x dim x precision cell, the per-query values of the cells that are not float32 prefixes, the
    corpus sizes storage is projected to, and the machine the scan latency was measured on."""

    precisions: tuple[str, ...]
    methods: tuple[str, ...]
    reference: str
    cells: tuple[Cell, ...]
    per_query: PerQuery
    scales: dict[str, int]
    latency_note: str
    machine: Mapping[str, Any] = field(default_factory=dict)
    latency_unit: str = "ms per query"

    def __post_init__(self) -> None:
        as_saved(self, "machine")

    def to_dict(self, full_dim: int) -> dict:
        cells = []
        for cell in self.cells:
            entry = asdict(cell)
            entry["label"] = cell.label
            entry["fraction"] = round(cell.dim / full_dim, 6)
            entry["storage_bytes"] = {name: n * cell.bytes_per_vector for name, n in self.scales.items()}
            cells.append(entry)
        return plain(
            {
                "precisions": self.precisions,
                "methods": self.methods,
                "reference": self.reference,
                "cells": cells,
                "per_query": self.per_query,
                "scales": self.scales,
                "latency": {"unit": self.latency_unit, "what": self.latency_note, "machine": self.machine},
            }
        )


@dataclass(frozen=True)
class TwoStage:
    """The two-stage rows (shortlist with a small cell, rerank at full size) and, after `recommend`, the choice."""

    rows: tuple[TwoStageRow, ...]
    shortlist_recall: str
    rerank: str
    recommendation: TwoStageChoice | None = None

    def to_dict(self) -> dict:
        out = {
            "rows": [{**asdict(row), "label": row.label} for row in self.rows],
            "shortlist_recall": self.shortlist_recall,
            "rerank": self.rerank,
        }
        if self.recommendation is not None:
            out["recommendation"] = self.recommendation.to_dict()
        return plain(out)


@dataclass(frozen=True)
class Report:
    """One run's report: what was run on what, the results per dim (and per grid cell, engine cell), the per-query
    values, and after `recommend` the decision. Build it with `report.document.build_report`, read a saved one
    with `report.document.load_report`, write it with `Report.to_dict()` (the JSON) or `write_reports`."""

    command: str | None
    data: DataInfo
    model: ModelInfo
    full_dim: int
    n_docs: int
    queries_evaluated: int
    results: tuple[DimResult, ...]
    queries_skipped: int = 0
    created: str | None = None
    mrl_eval_version: str | None = None
    schema: int = SCHEMA
    settings: Mapping[str, Any] | None = None  # the settings the run was given, as saved
    embedded_now: int | None = None
    per_query: dict[int, dict[str, dict[str, float]]] | None = None  # dim -> metric -> query id -> value
    losses: Losses | None = None
    queries: QueriesInfo | None = None
    label_free: LabelFree | None = None
    growth: GrowthResult | None = None
    statistics: Statistics | None = None
    grid: Grid | None = None
    pca: Mapping[str, Any] | None = None  # the PCA fit and the truncation-safety finding
    two_stage: TwoStage | None = None
    engine: EngineSection | None = None
    recommendation: Choice | None = None
    holdout: HoldoutCheck | None = None
    baseline: RunComparison | None = None

    def __post_init__(self) -> None:
        as_saved(self, "settings", "pca")

    @property
    def metrics(self) -> list[str]:
        """The metrics computed, the primary one first."""
        return list(self.results[0].metrics)

    @property
    def query_ids(self) -> tuple[str, ...]:
        """The evaluated query ids (empty when the report keeps no per-query values)."""
        if not self.per_query:
            return ()
        return tuple(next(iter(self.per_query[self.full_dim].values())))

    @property
    def has_per_query(self) -> bool:
        return self.per_query is not None

    @property
    def queries_label(self) -> str:
        """'queries', or 'pseudo-queries' for --queries-from-corpus runs."""
        return self.queries.label if self.queries is not None else "queries"

    @property
    def confidence(self) -> float | None:
        """The confidence level of the intervals, None when the report has no statistics."""
        return self.statistics.confidence if self.statistics is not None else None

    @property
    def gate_passed(self) -> bool:
        """The quality gate of a `recommend` (exit code 3 when False): a configuration meets the rule, the baseline
        gate (if any) holds, and an engine cell (if engines were measured) meets the rule. True for a sweep."""
        rec = self.recommendation
        engine = self.engine.recommendation if self.engine is not None else None
        return (
            (rec is None or rec.dim is not None)
            and (self.baseline is None or self.baseline.passed)
            and (engine is None or engine.label is not None)
        )

    @property
    def cells(self) -> tuple[Cell, ...]:
        return self.grid.cells if self.grid is not None else ()

    @property
    def two_stage_rows(self) -> tuple[TwoStageRow, ...]:
        return self.two_stage.rows if self.two_stage is not None else ()

    def to_dict(self) -> dict:
        """The report as its JSON file holds it: the one place the dict is written."""
        doc: dict[str, Any] = {"schema": self.schema}
        for key in ("mrl_eval_version", "created", "command", "settings"):
            if getattr(self, key) is not None:
                doc[key] = plain(getattr(self, key))
        doc |= {"data": self.data.to_dict(), "model": self.model.to_dict(), "full_dim": self.full_dim}
        doc |= {"n_docs": self.n_docs, "queries_evaluated": self.queries_evaluated}
        doc["queries_skipped"] = self.queries_skipped
        if self.embedded_now is not None:
            doc["embedded_now"] = self.embedded_now
        if self.per_query is not None:
            doc["per_query"] = plain({str(d): self.per_query[d] for d in sorted(self.per_query)})
        if self.losses is not None:
            doc["losses"] = self.losses.to_dict()
        if self.queries is not None:
            doc["queries"] = self.queries.to_dict()
        if self.label_free is not None:
            doc["label_free"] = self.label_free.to_dict()
        if self.growth is not None:
            doc["growth"] = plain(self.growth.to_dict())
        doc["results"] = [plain(asdict(r)) for r in self.results]
        if self.statistics is not None:
            doc["statistics"] = self.statistics.to_dict()
        if self.grid is not None:
            doc["grid"] = self.grid.to_dict(self.full_dim)
        optional = {
            "pca": plain(self.pca) if self.pca is not None else None,
            "two_stage": self.two_stage.to_dict() if self.two_stage is not None else None,
            "engine": self.engine.to_dict() if self.engine is not None else None,
            "recommendation": plain(self.recommendation.to_dict()) if self.recommendation is not None else None,
            "holdout": self.holdout.to_dict() if self.holdout is not None else None,
            "baseline": self.baseline.to_dict() if self.baseline is not None else None,
        }
        doc |= {key: value for key, value in optional.items() if value is not None}
        return doc
