"""The engine section as a table and a recipe (`--engine NAME`): built once here, rendered by the terminal, the
Markdown report and the HTML page. Nothing here names an engine: the title, notes and recipe come from what the
engine wrote into the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mrl_eval.report.model import Report
from mrl_eval.report.table_model import Table

HEADER = (
    "cell",
    "{metric}",
    "Δ vs exact full",
    "neighbour recall@10",
    "short lists (fewer than k)",
    "memory (MB)",
    "build (s)",
    "latency ms p50/p95",
)


def engine_metric(report: Report) -> str | None:
    section = report.engine
    if section is None or not section.cells:
        return None
    return report.recommendation.metric if report.recommendation is not None else next(iter(section.cells[0].metrics))


def engine_table(report: Report) -> Table | None:
    """Every engine cell, the recommended one highlighted; None without an engine section."""
    metric = engine_metric(report)
    if metric is None or report.engine is None:
        return None
    section = report.engine
    rows = []
    for c in section.cells:
        stats = c.stats.get(metric)
        rows.append(
            [
                c.label,
                f"{c.metrics[metric]:.4f}",
                f"{stats.delta:+.4f}" if stats else "—",
                f"{c.neighbour_recall:.3f}",
                "—" if c.short_lists is None else f"{c.short_lists}",
                f"{(c.index_bytes + section.table_bytes) / 1e6:.2f}",
                f"{c.build_seconds:.2f}",
                f"{c.latency_ms[0]:.3f}/{c.latency_ms[1]:.3f}",
            ]
        )
    pick = section.recommendation
    labels = [c.label for c in section.cells]
    highlighted = labels.index(pick.label) if pick is not None and pick.label in labels else None
    version = section.server.get("version", "")
    not_measured = section.server.get("not_measured")
    return Table.of(
        f"Inside {section.engine} ({version}): every cell; latency measured on this machine, one query at a time"
        + (f"; not measured: {not_measured}" if not_measured else ""),
        [h.format(metric=metric) for h in HEADER],
        rows,
        highlighted=highlighted,
        text_columns=frozenset({0}),
        key_columns=frozenset({0, 1, 2, 3, 5, 7}),  # short lists and build times: in the reports
    )


@dataclass(frozen=True)
class EngineRecipe:
    """The recommended engine cell in a sentence, and how to build and query it (`language`: python or sql)."""

    sentence: str
    language: str | None = None
    code: str | None = None


def engine_recipe(report: Report) -> EngineRecipe | None:
    metric = engine_metric(report)
    section = report.engine
    if metric is None or section is None or section.recommendation is None:
        return None
    pick = section.recommendation
    if pick.label is None:
        return EngineRecipe(f"No {section.engine} cell meets the rule ({pick.rule}).")
    language, code = recipe_code(pick.recipe or {})
    return EngineRecipe(
        f"Recommended inside {section.engine} (--optimize {pick.optimize}): {pick.label}, {metric} {pick.value:.4f}, "
        f"neighbour recall {pick.neighbour_recall:.3f}, {(pick.memory_bytes or 0) / 1e6:.2f} MB, "
        f"{(pick.latency_ms or (0.0, 0.0))[0]:.3f} ms median. Recipe:",
        language,
        code,
    )


def recipe_code(recipe: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The code a recipe carries and its language: the key its `language` names (reports written before recipes
    named it hold a "python" or a "sql" key)."""
    language = recipe.get("language") or next((key for key in ("python", "sql") if key in recipe), None)
    code = recipe.get(language) if language else None
    return (language, code) if isinstance(code, str) else (None, None)
