"""The numbers of a saved report checked against each other, so that every command reads one report one way.

`recommend --from` recomputes the statistics from the per-query values; `compare` and `--baseline` compare means and
pair per-query values. Where a report has per-query values they are the source: every mean the report states (the
results, grid cells, two-stage rows, engine cells) must be the mean of its per-query values up to rounding, and is
read as that mean (computed as the sweep computes it, so a report mrl-eval wrote reads back bit for bit). A summary
edited by hand, per-query values of a bounded metric outside [0, 1], a `full_dim` that is not the largest result
dim, or a `queries_evaluated` that is not the number of per-query values is refused, naming the file, the dim or
cell, and the metric.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mrl_eval.report.model import Report
    from mrl_eval.report.schema_reader import Reader as _Reader

# A mean may differ from the mean of its per-query values by this much: a summary rounded to six decimals (as the
# CSV report writes them) still reads; a hand-edited one does not.
MEAN_TOLERANCE = 1e-6


def check_sizes(r: _Reader, report: Report) -> None:
    """`full_dim` the largest result dim, and `queries_evaluated` the number of per-query values."""
    dims = [x.dim for x in report.results]
    if max(dims) != report.full_dim:
        raise r.fail("full_dim", f"is {report.full_dim}, but the results go up to dim {max(dims)}")
    if report.per_query is not None and len(report.query_ids) != report.queries_evaluated:
        raise r.fail(
            "queries_evaluated",
            f"is {report.queries_evaluated}, but per_query holds values of {len(report.query_ids)} queries",
        )


def _mean(r: _Reader, values: dict[str, float], query_ids: tuple[str, ...], where: str) -> float:
    if set(values) != set(query_ids):
        raise r.fail(where, f"holds other query ids than per_query ({len(values)} vs {len(query_ids)})")
    return float(np.mean([values[q] for q in query_ids]))  # as the sweep computes every mean: same order, same bits


def _read_means(
    r: _Reader,
    stated: dict[str, float],
    values: dict[str, dict[str, float]],
    query_ids: tuple[str, ...],
    at: str,
    source: str,
) -> dict[str, float]:
    """The means of `values` (metric -> query id -> value), each checked against the `stated` one."""
    means = {}
    for metric, mean in stated.items():
        if metric not in values:
            raise r.fail(source, f"lacks {metric}, which {at} states")
        means[metric] = _mean(r, values[metric], query_ids, f"{source}.{metric}")
        if abs(means[metric] - mean) > MEAN_TOLERANCE:
            raise r.fail(
                f"{at}.{metric}",
                f"is {mean}, but the mean of its {len(query_ids)} per-query values ({source}.{metric}) is "
                f"{means[metric]}: the summary disagrees with the values it summarises (edited by hand?)",
            )
    return means


def read_means(r: _Reader, report: Report) -> Report:
    """`report` with every stated mean that has per-query values read as their mean, after checking both agree."""
    if report.per_query is None:
        return report
    ids = report.query_ids
    results = tuple(
        replace(
            x,
            metrics=_read_means(
                r, x.metrics, report.per_query[x.dim], ids, f"results[{i}].metrics", f"per_query.{x.dim}"
            ),
        )
        for i, x in enumerate(report.results)
    )
    changes: dict[str, Any] = {"results": results}
    grid = report.grid
    if grid is not None:
        prefix = {f"prefix:{d}:float32": v for d, v in report.per_query.items()}

        def values_of(label: str) -> tuple[dict[str, dict[str, float]] | None, str]:
            if label in grid.per_query:
                return grid.per_query[label], f"grid.per_query.{label}"
            return prefix.get(label), f"per_query.{label.split(':')[1]}" if label in prefix else ""

        cells = []
        for i, cell in enumerate(grid.cells):
            values, source = values_of(cell.label)
            if values is not None:
                cell = replace(
                    cell, metrics=_read_means(r, cell.metrics, values, ids, f"grid.cells[{i}].metrics", source)
                )
            cells.append(cell)
        changes["grid"] = replace(grid, cells=tuple(cells))
        if report.two_stage is not None:
            rows = []
            for i, row in enumerate(report.two_stage.rows):
                values, source = values_of(row.label)
                if values is not None:
                    metrics = _read_means(r, row.metrics, values, ids, f"two_stage.rows[{i}].metrics", source)
                    row = replace(row, metrics=metrics)
                rows.append(row)
            changes["two_stage"] = replace(report.two_stage, rows=tuple(rows))
    engine = report.engine
    if engine is not None and engine.per_query:
        cells = []
        for i, cell in enumerate(engine.cells):
            if cell.label in engine.per_query:
                source = f"engine.per_query.{cell.label}"
                values = engine.per_query[cell.label]
                cell = replace(
                    cell, metrics=_read_means(r, cell.metrics, values, ids, f"engine.cells[{i}].metrics", source)
                )
            cells.append(cell)
        changes["engine"] = replace(engine, cells=tuple(cells))
    return replace(report, **changes)
