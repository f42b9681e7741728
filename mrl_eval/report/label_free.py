"""The report's label-free, pseudo-query and growth sections: built once here, rendered by the terminal, Markdown,
HTML and GitHub outputs (so "pseudo-queries" and the extrapolation warning read the same everywhere)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mrl_eval.evaluate.fidelity import RBO_P, SATURATED, SHORTLIST_TARGET
from mrl_eval.evaluate.growth import GrowthResult, extrapolation_note
from mrl_eval.evaluate.metric_registry import is_label_free
from mrl_eval.evaluate.overlap_reading import OVERLAP, QUALITY, calibration
from mrl_eval.report.model import LabelFree, QueriesInfo, Report
from mrl_eval.report.render import markdown_table, md_line
from mrl_eval.report.table_model import Table

REFERENCE = "the full-dim exact ranking of the same queries (no relevance judgments used)"


def label_free_sections(metrics: Sequence[str], queries_info: Mapping[str, Any], growth: GrowthResult | None) -> dict:
    """The report's `queries`, `label_free` and `growth` sections."""
    free = [m for m in metrics if is_label_free(m)]
    label_free = None
    if free:
        label_free = LabelFree(
            metrics=tuple(free),
            reference=REFERENCE,
            overlap="share of the full dim's top k that is in this dim's top k",
            shortlist_recall=(
                f"share of the full dim's top {SHORTLIST_TARGET} inside this dim's top k (it reaches 1 on small "
                "corpora and at large dims, where it can no longer tell dims apart)"
            ),
            rbo=f"rank-biased overlap, extrapolated (Webber et al. 2010, eq. 30), p = {RBO_P}, to depth k",
            with_qrels_metrics=len(free) < len(metrics),
        )
    queries = QueriesInfo(dict(queries_info) or {"kind": "real", "label": "queries"})
    return {"queries": queries, "label_free": label_free, "growth": growth}


def notes(report: Report) -> list[str]:
    """Plain sentences on what the label-free numbers and the pseudo-queries are."""
    lines = []
    q = report.queries
    if q is not None and q.kind == "pseudo":
        lines.append(
            f"Pseudo-queries: {q.n} documents sampled from the corpus (seed {q.seed}); each query is {q.rule}; "
            "the document itself is removed from its own results. Not real user queries."
        )
    lf = report.label_free
    if lf:
        lines.append(
            f"Label-free ({', '.join(lf.metrics)}): each dim is measured against {lf.reference}. overlap@k: "
            f"{lf.overlap}; shortlist_recall@k: {lf.shortlist_recall}; rbo@k: {lf.rbo}. A low overlap does "
            "not by itself mean lost quality: see docs/label-free.md for how these track nDCG@10 on real collections."
        )
        lines += [line for line in (saturation_note(report), overlap_reading_note(report)) if line]
    return lines


def _means(report: Report, metric: str) -> dict[int, float]:
    """Dim -> mean of `metric`, for the dims below full."""
    return {r.dim: r.metrics[metric] for r in report.results if r.dim != report.full_dim and metric in r.metrics}


def saturation_note(report: Report) -> str:
    """Which dims' shortlist_recall@k is saturated (a mean of at least SATURATED), or ''."""
    parts = []
    for metric in report.metrics:
        if metric.startswith("shortlist_recall@"):
            full = [str(d) for d, v in _means(report, metric).items() if v >= SATURATED]
            if full:
                parts.append(f"{metric} at {', '.join(full)} d")
    if not parts:
        return ""
    return (
        f"Saturated (a mean of {SATURATED} or more): {'; '.join(parts)}. There nearly every query's full-dim top "
        f"{SHORTLIST_TARGET} is inside the dim's shortlist, as happens on small corpora and at large dims, so it "
        "cannot tell these dims apart; compare them on overlap@k or rbo@k."
    )


def overlap_reading_note(report: Report) -> str:
    """What each dim's overlap@10 suggests about its nDCG@10 drop (overlap_reading.py), for a run measured without
    qrels on real queries; '' otherwise."""
    lf = report.label_free
    if lf is None or lf.with_qrels_metrics or OVERLAP not in report.metrics:
        return ""
    if report.queries is not None and report.queries.kind == "pseudo":
        return f"No reading of {OVERLAP} into {QUALITY} for pseudo-queries: the calibration used real queries."
    cal = calibration()
    if cal is None:
        return ""
    low, high = cal.overlap_range
    readings = []
    for dim, overlap in _means(report, OVERLAP).items():
        r = cal.read(overlap)
        readings.append(
            f"{dim} d ({OVERLAP} {overlap:.3f}): "
            + (f"{r.low:+.3f} to {r.high:+.3f}" if r else f"no reading (calibrated for {low:.3f} to {high:.3f})")
        )
    return (
        f"What {OVERLAP} suggests about the {QUALITY} drop (not measured here: no qrels), read from "
        f"{len(cal.collections)} collections x {len(cal.models)} models with qrels ({', '.join(cal.collections)}): "
        f"the spread of their drops at that overlap, widened by how far a held-out collection fell outside the "
        f"others'; a range seen on {len(cal.collections)} collections, not a bound: "
        + "; ".join(readings)
        + " (docs/label-free.md)."
    )


def growth_table(report: Report) -> Table | None:
    """The growth projection as a table (one row per dim below full), or None when the run has no --growth."""
    g = report.growth
    if g is None:
        return None
    sizes = g.sizes
    backtest = bool(g.backtest)  # a report from before the backtest has a bootstrap interval only
    header = ["dim", *(f"drop @ {n:,}" for n in sizes), "slope per ln(size)"]
    header += ["backtest error: line / no growth"] if backtest else []
    for name in g.targets:
        header += [
            f"projected @ {name}",
            f"interval @ {name} (noise + model error)" if backtest else f"{g.confidence:.0%} interval @ {name}",
        ]
    # at a glance: the drop measured on the whole corpus and the projections
    key = frozenset({0, len(sizes), *range(len(header) - 2 * len(g.targets), len(header))})
    rows = []
    for d in g.dims:
        if d.dim == report.full_dim:
            continue  # its drop from itself is 0 by definition
        seeds = len(d.drop)
        measured = [sum(d.drop[s][j] for s in range(seeds)) / seeds for j in range(len(sizes))]
        row = [str(d.dim), *(f"{v:+.4f}" for v in measured), f"{d.slope:+.4f}"]
        row += [f"{d.backtest_error:+.4f} / {d.flat_backtest_error:+.4f}"] if backtest else []
        for name in g.targets:
            p = d.projection[name]
            row += [f"{p['drop']:+.4f}", f"[{p['drop_ci'][0]:+.4f}, {p['drop_ci'][1]:+.4f}]"]
        rows.append(row)
    title = (
        f"{g.metric} drop from the full dim as the corpus grows (nested subsamples, {g.seeds} seeds, mean over "
        f"{g.queries} {report.queries_label}), the line on the {len(g.fit_sizes)} largest sizes and its extrapolation"
    )
    intervals = tuple((i + 1, i) for i, h in enumerate(header) if h.startswith("projected @ "))
    return Table.of(title, header, rows, key_columns=key, intervals=intervals)


def growth_note(report: Report) -> str:
    """The extrapolation warning every growth output carries."""

    return extrapolation_note(report.growth) if report.growth is not None else ""


def markdown(report: Report, stem: str, plots: bool = True) -> list[str]:
    """The Markdown report's label-free and growth sections."""
    lines = [line for note in notes(report) for line in (md_line(note), "")]
    table = growth_table(report)
    if table is not None:
        lines += [*markdown_table(table, heading="##"), "", f"**{md_line(growth_note(report))}**", ""]
        lines += [f"![growth]({stem}.growth.png)" if plots else "", ""]
    return lines


def lost_header(report: Report, k: int) -> str:
    """The per-query losses' last column: relevant documents lost, or without qrels every full-dim top-k document."""
    lf = report.label_free
    if lf and not lf.with_qrels_metrics:
        return f"full-dim top-{k} docs missing from the top {k} (no qrels)"
    return f"relevant docs lost from the top {k}"
