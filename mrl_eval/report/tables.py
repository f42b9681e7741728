"""One model per table: every table of a run is built here once, as data, and rendered by the terminal (cli),
Markdown, the GitHub step summary, HTML and CSV (`mrl_eval.report.render`, `html`). A new column is added here
and nowhere else.

A `Table` holds text, not numbers: the formatting of a value (`0.7190`, `[0.7190, 0.7998]`, `17%`) is decided
once, here. Renderers only escape, align and highlight. The CSV tables keep full precision (`csv=True` builders).
"""

from __future__ import annotations

from collections.abc import Sequence

from mrl_eval.decide.compare import RunComparison
from mrl_eval.evaluate.results import DimResult
from mrl_eval.methods.grid import Cell, cell_label
from mrl_eval.report.label_free import lost_header
from mrl_eval.report.model import Report
from mrl_eval.report.table_model import NOTHING, Table, human_bytes, interval, interval_header

STAT_COLUMNS = ("ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high", "p_value")


def _level(report: Report) -> str:
    confidence = report.confidence
    return f"{confidence:.0%}" if confidence else ""


def recommended_row(report: Report) -> int | None:
    """The dim the recommendation chose, when it chose a float32 prefix (a grid cell is highlighted in the grid)."""
    rec = report.recommendation
    if rec is None:
        return None
    if rec.label and (rec.method, rec.precision) != ("prefix", "float32"):
        return None
    return rec.dim


def results_table(report: Report, primary: str) -> Table:
    """The sweep: per dim, the primary metric with its interval and paired comparison with the full dim, then the
    other metrics (with their intervals). At a glance: the dim, its bytes, the primary metric with its interval and
    the delta from the full dim with its interval; the full dim's own delta is shown as "—"."""
    metric_names = report.metrics
    stats = report.statistics
    level = _level(report)
    header = ["dim", "of full", "bytes per vector", primary]
    if stats:
        header += [interval_header(level, primary), "Δ vs full", interval_header(level, "Δ"), "p"]
    key = set(range(len(header))) - {1, 7}
    for m in metric_names:
        if m != primary:
            header += [m] + ([interval_header(level, m)] if stats else [])
    detail = frozenset(i for i, h in enumerate(header) if i > 7 and h.startswith(interval_header(level, "")))
    rows, picked = [], None
    chosen = recommended_row(report)
    for n, r in enumerate(report.results):
        if r.dim == chosen:
            picked = n
        row = [str(r.dim), f"{r.fraction:.0%}", f"{r.bytes_per_vector:,}", f"{r.metrics[primary]:.4f}"]
        if stats:
            st = r.stats.get(primary)
            if st is None:
                row += [""] * 4
            elif r.dim == report.full_dim:
                row += [interval(st.ci), NOTHING, NOTHING, NOTHING]
            else:
                row += [interval(st.ci), f"{st.delta:+.4f}", interval(st.delta_ci, True), f"{st.p_value:.4f}"]
        for m in metric_names:
            if m != primary:
                row.append(f"{r.metrics[m]:.4f}")
                if stats:
                    row.append(interval(r.stats[m].ci) if m in r.stats else "")
        rows.append(row)
    skipped = f", {report.queries_skipped} skipped (no judgments)" if report.queries_skipped else ""
    queries = f"{report.queries_evaluated} {report.queries_label} evaluated{skipped}"
    title = f"{report.data.name} · {report.model.name} · {queries}"
    return Table.of(
        title,
        header,
        rows,
        highlighted=picked,
        detail_columns=detail,
        key_columns=frozenset(key) if stats else frozenset({0, 2, 3}),
        intervals=Table.interval_pairs(
            header, {interval_header(level, m): m for m in metric_names} | {interval_header(level, "Δ"): "Δ vs full"}
        ),
    )


def comparison_table(comparison: RunComparison) -> Table:
    """`compare` and `recommend --baseline`: every shared dim, the gated metric's delta, its interval and the gate."""
    g = comparison.gate
    level = f"{comparison.paired.confidence:.0%}"
    others = [m for m in comparison.metrics if m != g.metric]
    header = ["dim", f"baseline {g.metric}", "current", "Δ", interval_header(level, "Δ"), "p", "allowed drop", "result"]
    header += [f"Δ {m}" for m in others]
    rows, failed = [], set()
    for n, row in enumerate(comparison.by_dim):
        v, gate = row.metrics[g.metric], row.gate
        result = "pass (regressed)" if gate.passed and gate.regressed else "pass" if gate.passed else "FAIL"
        if not gate.passed:
            failed.add(n)
        rows.append(
            [
                str(row.dim),
                f"{v.baseline:.4f}",
                f"{v.current:.4f}",
                f"{v.delta:+.4f}",
                interval(v.delta_ci, True) if v.delta_ci is not None else NOTHING,
                f"{v.p_value:.4f}" if v.p_value is not None else NOTHING,
                f"{gate.allowed_drop:.4f}",
                result,
                *(f"{row.metrics[m].delta:+.4f}" for m in others),
            ]
        )
    base, cur = comparison.baseline, comparison.current
    title = f"{g.metric}: {cur.path} ({cur.model}) against the baseline {base.path} ({base.model})"
    return Table.of(
        title,
        header,
        rows,
        failed=frozenset(failed),
        key_columns=frozenset({0, 1, 2, 3, 4, 7}),
        intervals=((4, 3),),
    )


def paired_table(report: Report, primary: str) -> Table | None:
    """Each dim against the full dim on the primary metric (the Markdown report's second table)."""
    if not report.statistics:
        return None
    rows = [
        [str(r.dim), NOTHING, NOTHING, NOTHING]
        if r.dim == report.full_dim
        else [str(r.dim), f"{st.delta:+.4f}", interval(st.delta_ci, True), f"{st.p_value:.4f}"]
        for r in report.results
        if (st := r.stats.get(primary))
    ]
    title = f"Paired comparison with the full dim ({primary})"
    header = ["dim", "mean delta", interval_header(_level(report), "the mean delta"), "p-value"]
    return Table.of(title, header, rows, intervals=((2, 1),))


def pareto_labels(cells: Sequence[Cell], metric: str) -> set[str]:
    """Cells that no other cell beats on both bytes per vector (fewer) and the metric (higher)."""
    best = -1.0
    keep = set()
    for c in sorted(cells, key=lambda c: (c.bytes_per_vector, -c.metrics[metric])):
        if c.metrics[metric] > best:
            keep.add(c.label)
            best = c.metrics[metric]
    return keep


def _picked(rows: list[list[str]], chosen: str | None) -> int | None:
    return next((n for n, row in enumerate(rows) if chosen and row[0] == chosen), None)


def grid_tables(report: Report, primary: str) -> list[Table]:
    """The grid (every method x dim x precision), the cost of its Pareto cells, and the two-stage table."""
    grid = report.grid
    if grid is None:
        return []
    chosen = report.recommendation.label if report.recommendation is not None else None
    by_label = {c.label: c for c in grid.cells}
    dims = sorted({c.dim for c in grid.cells})
    rows = []
    for method in grid.methods:
        for dim in dims:
            cells = [by_label.get(f"{method}:{dim}:{p}") for p in grid.precisions]
            rows.append(
                [method, str(dim)]
                + [f"{c.metrics[primary]:.4f} ({c.bytes_per_vector:,} B)" if c else "" for c in cells]
            )
    tables = [
        Table.of(
            f"{primary} (bytes per vector) for every method, dim and precision",
            ["method", "dim", *grid.precisions],
            rows,
            text_columns=frozenset({0}),
            detail=True,  # at a glance, the Pareto cells below say what matters
        )
    ]
    scales = grid.scales
    header = [
        "cell",
        primary,
        "bytes/vec",
        *(f"storage, {'this corpus' if n == 'corpus' else n} ({scales[n]:,} docs)" for n in scales),
        "scan ms/query (here)",
    ]
    pareto = pareto_labels(grid.cells, primary)
    rows = [
        [
            c.label,
            f"{c.metrics[primary]:.4f}",
            f"{c.bytes_per_vector:,}",
            *(human_bytes(n * c.bytes_per_vector) for n in scales.values()),
            f"{c.latency_ms:.3f}" if c.latency_ms is not None else "",
        ]
        for c in sorted(grid.cells, key=lambda c: (c.bytes_per_vector, -c.metrics[primary]))
        if c.label in pareto
    ]
    title = "Cost of the Pareto-optimal cells (no other cell is both smaller and better); scan latency: "
    tables.append(
        Table.of(
            title + grid.latency_note,
            header,
            rows,
            highlighted=_picked(rows, chosen),
            text_columns=frozenset({0}),
            key_columns=frozenset(i for i, n in enumerate(["", "", "", *scales, ""]) if n != "corpus"),
        )
    )
    if report.two_stage:
        header = ["first stage", "shortlist", primary, "Δ vs full", "shortlist recall@10", "first-stage index"]
        header.append("full vectors fetched/query")
        rows = []
        for r in report.two_stage.rows:
            st = r.stats.get(primary)
            rows.append(
                [
                    r.first_stage,
                    str(r.shortlist),
                    f"{r.metrics[primary]:.4f}",
                    f"{st.delta:+.4f}" if st else "",
                    f"{r.shortlist_recall:.3f}",
                    human_bytes(r.cost["first_stage_index_bytes"]),
                    f"{r.cost['full_vectors_fetched_per_query']:,}",
                ]
            )
        title = "Two-stage: shortlist with the first stage, rerank with full float32 vectors"
        key = frozenset(range(len(header) - 1))  # the full vectors fetched: the shortlist, in the reports
        tables.append(Table.of(title, header, rows, text_columns=frozenset({0}), key_columns=key))
    return tables


def loss_tables(report: Report, top: int = 10) -> list[Table]:
    """Per dim, the `top` queries whose metric falls most from the full dim (all of them are in the .losses.csv)."""
    losses = report.losses
    if losses is None:
        return []
    tables = []
    for dim, rows in losses.by_dim.items():
        body = [
            [
                r.query_id,
                r.text,
                f"{r.full:.4f}",
                f"{r.value:.4f}",
                f"{r.delta:+.4f}",
                ", ".join(r.lost_relevant) or "none (reordered)",
            ]
            for r in rows[:top]
        ]
        header = ["query", "text", "full", f"dim {dim}", "Δ", lost_header(report, losses.k)]
        title = f"dim {dim}: {len(rows)} queries score lower than at full size"
        tables.append(Table.of(title, header, body, text_columns=frozenset({0, 1, 5})))
    return tables


# Full-precision tables for CSV files


def _number(v: object) -> object:
    return f"{v:.6f}" if isinstance(v, float) else v


def results_csv_table(report: Report) -> Table:
    """One row per cell: the float32 prefix dims first (the sweep), then any other method x precision cells of the
    grid; the mean of each metric, then its CI and paired comparison with the full dim at float32."""
    metric_names = report.metrics
    has_stats = bool(report.results[0].stats)
    grid = report.grid
    header = ["dim", "precision", "method", "fraction", "bytes_per_vector"]
    for m in metric_names:
        header += [m] + ([f"{m}_{c}" for c in STAT_COLUMNS] if has_stats else [])
    header += ["latency_ms"] if grid else []
    cells: list[DimResult | Cell] = list(report.results)
    if grid:
        cells += [c for c in grid.cells if not (c.method == "prefix" and c.precision == "float32")]
    latency = {c.label: c.latency_ms for c in grid.cells} if grid else {}
    rows = []
    for c in cells:
        fraction = c.fraction if isinstance(c, DimResult) else round(c.dim / report.full_dim, 6)
        row: list = [c.dim, c.precision, c.method, fraction, c.bytes_per_vector]
        for m in metric_names:
            row.append(c.metrics[m])
            if has_stats:
                st = c.stats.get(m)
                row += [*st.ci, st.delta, *st.delta_ci, st.p_value] if st else [""] * len(STAT_COLUMNS)
        if grid:
            row.append(latency.get(cell_label(c.method, c.dim, c.precision)))
        rows.append([_number(v) for v in row])
    return Table.of("results", header, rows)


def losses_csv_table(report: Report) -> Table:
    """Every query that scores lower than at the full dim, for every dim, worst first."""
    losses = report.losses
    assert losses is not None  # the caller writes this file only when the report has losses
    metric = losses.metric
    header = ["dim", "query_id", f"{metric}_full", metric, "delta", f"relevant_lost_from_top{losses.k}", "text"]
    rows = [
        [dim, r.query_id, _number(r.full), _number(r.value), _number(r.delta)] + [" ".join(r.lost_relevant), r.text]
        for dim, entries in losses.by_dim.items()
        for r in entries
    ]
    return Table.of("losses", header, rows)
