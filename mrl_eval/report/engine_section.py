"""The engine section of a report: every engine cell with its costs and recipe (`EngineSection`, written and read
with the rest of the report by `mrl_eval.report.model` and `schema`), and its cells restated under new settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from mrl_eval.decide.engine_choice import EngineChoice
from mrl_eval.engines import LATENCY_NOTE, RECALL_K, TIE_RULE, EngineCell, EngineResult
from mrl_eval.evaluate.stats import StatsSettings, summarize
from mrl_eval.report.section_fields import PerQuery, as_saved, plain


@dataclass(frozen=True)
class EngineSection:
    """Every engine cell (FAISS or pgvector) with its costs and recipe; after `recommend`, the chosen cell."""

    settings: Mapping[str, Any]  # the engine options as described (engine, index, m, ef_construction, ...)
    server: Mapping[str, Any]
    reference: str
    table_bytes: int
    n_docs: int
    neighbour_recall: str
    ties: str
    latency_note: str
    machine: Mapping[str, Any]
    cells: tuple[EngineCell, ...]
    per_query: PerQuery
    recommendation: EngineChoice | None = None
    latency_unit: str = "ms per query"

    def __post_init__(self) -> None:
        as_saved(self, "settings", "server", "machine")

    @property
    def engine(self) -> str:
        return str(self.settings.get("engine", ""))

    def to_dict(self) -> dict:
        out = {
            **self.settings,
            "server": self.server,
            "reference": self.reference,
            "table_bytes": self.table_bytes,
            "n_docs": self.n_docs,
            "neighbour_recall": self.neighbour_recall,
            "ties": self.ties,
            "latency": {"unit": self.latency_unit, "what": self.latency_note, "machine": self.machine},
            "cells": [{**engine_cell_dict(c), "label": c.label} for c in self.cells],
            "per_query": self.per_query,
        }
        if self.recommendation is not None:
            out["recommendation"] = self.recommendation.to_dict()
        return plain(out)


def engine_cell_dict(cell: EngineCell) -> dict:
    row = asdict(cell)
    if row["short_lists"] is None:  # a report written before short lists were counted reads back as it was
        del row["short_lists"]
    row["latency_ms"] = {"median": cell.latency_ms[0], "p95": cell.latency_ms[1]}
    return row


def engine_section(result: EngineResult, n_docs: int) -> EngineSection:
    return EngineSection(
        settings=result.settings.describe(),
        server=result.server,
        reference=result.reference,
        table_bytes=result.table_bytes,
        n_docs=n_docs,
        neighbour_recall=f"recall@{RECALL_K} against exact search over the same codes (same dim and precision)",
        ties=TIE_RULE,
        latency_note=LATENCY_NOTE,
        machine=result.machine,
        cells=tuple(result.cells),
        per_query=result.per_query,
    )


def cells_of(section: EngineSection | None, settings: StatsSettings | None) -> list[EngineCell]:
    """The engine cells of a report, restated with `settings` when given (the report has per-query values)."""
    if section is None:
        return []
    if settings is None:
        return list(section.cells)
    ids = list(next(iter(section.per_query[section.reference].values())))
    stats = summarize(section.per_query, section.reference, ids, settings)
    return [replace(c, stats=stats.get(c.label, c.stats)) for c in section.cells]
