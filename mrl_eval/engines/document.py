"""The engine section of a report: every engine cell with its costs and recipe (`EngineSection`, written and read
with the rest of the report by `mrl_eval.report.model` and `schema`), and its cells restated under new settings.
"""

from __future__ import annotations

import re
from dataclasses import replace

from mrl_eval.engines import LATENCY_NOTE, RECALL_K, TIE_RULE, EngineCell, EngineResult
from mrl_eval.evaluate.stats import StatsSettings, summarize
from mrl_eval.report.model import EngineSection


def redact_dsn(dsn: str | None) -> str | None:
    """A connection string without its password: reports never carry a secret."""
    if not dsn:
        return dsn
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", re.sub(r"password=\S+", "password=***", dsn))


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
