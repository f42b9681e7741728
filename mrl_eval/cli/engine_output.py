"""The terminal view of the engine section: one row per engine cell, then the recommended cell's recipe."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mrl_eval.cli.common import out

if TYPE_CHECKING:
    from mrl_eval.engines.document import EngineSection
    from mrl_eval.report.model import Report


def engine_rows(section: EngineSection, metric: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the engine table (also used for the docs' generated tables)."""
    header = [
        "cell",
        metric,
        "Δ vs exact full",
        "neighbour recall@10",
        "memory (MB)",
        "build (s)",
        "latency ms p50/p95",
    ]
    rows = []
    for c in section.cells:
        stats = c.stats.get(metric)
        delta = f"{stats.delta:+.4f}" if stats else "—"
        memory = (c.index_bytes + section.table_bytes) / 1e6
        latency = f"{c.latency_ms[0]:.3f} / {c.latency_ms[1]:.3f}"
        rows.append(
            [
                c.label,
                f"{c.metrics[metric]:.4f}",
                delta,
                f"{c.neighbour_recall:.3f}",
                f"{memory:.2f}",
                f"{c.build_seconds:.2f}",
                latency,
            ]
        )
    return header, rows


def recipe_text(recipe: Mapping[str, Any]) -> str:
    return recipe["python"] if recipe["engine"] == "faiss" else recipe["sql"]


def render_engine(report: Report, as_json: bool) -> None:
    section = report.engine
    if as_json or section is None or not section.cells:
        return
    from rich.table import Table

    metric = report.recommendation.metric if report.recommendation is not None else list(section.cells[0].metrics)[0]
    pick = section.recommendation
    header, rows = engine_rows(section, metric)
    table = Table(
        title=f"Inside {section.engine} ({section.server.get('version', '')}): every cell; latency "
        "measured on this machine, one query at a time",
        title_justify="left",
    )
    for col in header:
        table.add_column(col, justify="left" if col == "cell" else "right")
    for cell, row in zip(section.cells, rows):
        picked = pick is not None and cell.label == pick.label
        table.add_row(*row, style="bold green" if picked else None)
    out.print(table)
    if pick is not None:
        if pick.label is None:
            out.print(f"No {section.engine} cell meets the rule ({pick.rule}).")
            return
        out.print(
            f"Recommended inside {section.engine} (--optimize {pick.optimize}): {pick.label}, "
            f"{metric} {pick.value:.4f}, neighbour recall {pick.neighbour_recall:.3f}, "
            f"{(pick.memory_bytes or 0) / 1e6:.2f} MB, {(pick.latency_ms or (0.0, 0.0))[0]:.3f} ms median. Recipe:"
        )
        out.print(recipe_text(pick.recipe or {}), markup=False, highlight=False)
