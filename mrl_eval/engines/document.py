"""The engine section of the report document: every engine cell with its costs and recipe, and reading it back.

The JSON dict exists only here, at the file boundary; inside, cells are `EngineCell`s.
"""

from __future__ import annotations

import re
from dataclasses import asdict

from mrl_eval.engines import LATENCY_NOTE, RECALL_K, TIE_RULE, EngineCell, EngineResult
from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.stats import MetricStats, StatsSettings, summarize


def redact_dsn(dsn: str | None) -> str | None:
    """A connection string without its password: reports never carry a secret."""
    if not dsn:
        return dsn
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", re.sub(r"password=\S+", "password=***", dsn))


def engine_section(result: EngineResult, n_docs: int) -> dict:
    settings = result.settings.describe()
    return {
        **settings,
        "server": result.server,
        "reference": result.reference,
        "table_bytes": result.table_bytes,
        "n_docs": n_docs,
        "neighbour_recall": f"recall@{RECALL_K} against exact search over the same codes (same dim and precision)",
        "ties": TIE_RULE,
        "latency": {"unit": "ms per query", "what": LATENCY_NOTE, "machine": result.machine},
        "cells": [{**cell_to_dict(c), "label": c.label} for c in result.cells],
        "per_query": result.per_query,
    }


def cell_to_dict(cell: EngineCell) -> dict:
    row = asdict(cell)
    row["latency_ms"] = {"median": cell.latency_ms[0], "p95": cell.latency_ms[1]}
    return row


def cells_of(doc: dict, path, settings: StatsSettings | None) -> list[EngineCell]:
    """The engine cells of a saved report (restated with `settings` when the report has per-query values)."""
    section = doc.get("engine")
    if not section:
        return []
    try:
        stats = {}
        if settings is not None:
            ids = list(next(iter(section["per_query"][section["reference"]].values())))
            stats = summarize(section["per_query"], section["reference"], ids, settings)
        cells = []
        for row in section["cells"]:
            fields = {k: v for k, v in row.items() if k not in ("label", "stats", "latency_ms")}
            saved = {
                m: MetricStats(**{**s, "ci": tuple(s["ci"]), "delta_ci": tuple(s["delta_ci"])})
                for m, s in row.get("stats", {}).items()
            }
            cells.append(
                EngineCell(
                    **fields,
                    latency_ms=(row["latency_ms"]["median"], row["latency_ms"]["p95"]),
                    stats=stats.get(row["label"], saved),
                )
            )
        return cells
    except (KeyError, TypeError, StopIteration) as err:
        raise MrlEvalError(f"{path}: the engine section is incomplete ({err}); rerun mrl-eval sweep --engine") from err
