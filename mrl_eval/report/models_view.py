"""A run of several models, rendered: the cross-model table (one `Table`, for the terminal, Markdown, HTML and
CSV), the sentences of the recommendation across models, and the frontier chart (a colour per model)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mrl_eval.decide.across_models import COSTS, ModelsChoice
from mrl_eval.decide.compare import verdict
from mrl_eval.report.models_report import ModelsReport
from mrl_eval.report.plots import BAR, STAR, bytes_axis, figure, legend_outside, plain, save
from mrl_eval.report.sentences import explain_holdout
from mrl_eval.report.table_model import NOTHING, Table, human_bytes, interval, interval_header

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = ("#1f5fbf", "#e15759", "#59a14f", "#b07aa1", "#f28e2b", "#76b7b2", "#9c755f", "#edc948")


def models_table(report: ModelsReport) -> Table:
    """Every cell of every model, cheapest first: bytes per vector, the primary metric with its interval, and the
    paired delta from the reference cell; the frontier cells marked, the recommended cell highlighted."""
    cmp = report.comparison
    metric = cmp.metric
    level = f"{report.runs[0].confidence:.0%}" if report.runs[0].confidence else None
    on_frontier = set(cmp.frontier)
    chosen = report.recommendation.label if report.recommendation is not None else None
    cells = sorted(cmp.cells, key=lambda c: (c.bytes_per_vector, -c.metrics[metric], c.label))
    header = ["model", "cell", "bytes per vector", metric]
    if level:
        header += [interval_header(level, metric), "Δ vs reference", interval_header(level, "Δ")]
    header += ["frontier"]
    rows, highlighted, key_rows = [], None, set()
    for n, c in enumerate(cells):
        row = [c.model, c.cell.removeprefix("prefix:"), f"{c.bytes_per_vector:,}", f"{c.metrics[metric]:.4f}"]
        if c.label in on_frontier or c.label in (cmp.reference, chosen):
            key_rows.add(n)
        if level:
            s = c.stats.get(metric)
            if c.label == cmp.reference:
                row += [interval(s.ci) if s else "", "reference", NOTHING]
            else:
                row += [
                    interval(s.ci) if s else "",
                    f"{s.delta:+.4f}" if s else "",
                    interval(s.delta_ci, signed=True) if s else "",
                ]
        row.append("●" if c.label in on_frontier else "")
        rows.append(row)
        if c.label == chosen:
            highlighted = n
    title = (
        f"{report.data.name} · {len(report.names)} models · {report.queries_evaluated} queries · reference: "
        f"{cmp.reference} ({cmp.reference_how})"
    )
    return Table.of(
        title,
        header,
        rows,
        highlighted=highlighted,
        text_columns=frozenset({0, 1}),
        key_columns=frozenset(range(min(len(header) - 1, 6))),  # the interval of Δ and the frontier mark: reports
        key_rows=frozenset(key_rows),  # the frontier, the reference and the recommended cell
        intervals=Table.interval_pairs(
            header, {interval_header(level or "", metric): metric, interval_header(level or "", "Δ"): "Δ vs reference"}
        ),
    )


def explain_models(choice: ModelsChoice) -> list[str]:
    """The recommendation across models in sentences: what was chosen and why each other model lost."""
    unit = COSTS[choice.optimize][1]
    if choice.label is None:
        lines = [f"No cell of any model meets the rule ({choice.rule}; bar {choice.threshold:.4f})."]
    else:
        cost = f"{choice.cost:,.3f}" if choice.optimize == "latency" else f"{int(choice.cost or 0):,}"
        lines = [
            f"Recommended: {choice.model} at {choice.cell} ({cost} {unit}): {choice.metric} {choice.value:.4f}, "
            f"bar {choice.threshold:.4f} ({choice.rule}); reference {choice.reference} scores "
            f"{choice.reference_value:.4f}."
        ]
        storage = choice.storage
        if storage:
            lines.append(
                f"Storage: {storage['bytes_per_vector']:,} bytes/vector instead of {storage['full_bytes_per_vector']:,} "
                f"for the reference ({human_bytes(storage['bytes']['1M'])} vs {human_bytes(storage['full_bytes']['1M'])} "
                "for 1M docs)."
            )
    lines += [f"{model}: {why}." for model, why in choice.why_not.items()]
    return lines


def explain_models_report(report: ModelsReport) -> list[str]:
    """The recommendation across models and, when asked for, its held-out check and each baseline verdict."""
    if report.recommendation is None:
        return []
    lines = explain_models(report.recommendation)
    lines += [explain_holdout(report.holdout)] if report.holdout is not None else []
    return lines + [f"Against the baseline, {name}: {verdict(c)}" for name, c in report.baselines]


def models_figure(report: ModelsReport, metric: str | None = None) -> Figure:
    """Quality against bytes per vector (log2 axis, ticks as sizes) for every cell of every model, a colour per
    model; each model's float32 prefixes joined by a line, other cells as open markers; the frontier as a step
    line, the reference ringed and the recommended cell starred."""
    cmp = report.comparison
    metric = metric or cmp.metric
    fig, ax = figure(10, 5.6)
    for colour, name in zip(COLOURS * 4, report.names):
        own = [c for c in cmp.cells if c.model == name]
        prefix = sorted((c for c in own if c.method == "prefix" and c.precision == "float32"), key=lambda c: c.dim)
        ax.plot([c.bytes_per_vector for c in prefix], [c.metrics[metric] for c in prefix], "o-", color=colour, lw=2,
                ms=5, label=f"{name}: float32 prefixes", gid=f"prefixes:{name}")  # fmt: skip
        rest = [c for c in own if c not in prefix]
        if rest:
            ax.plot([c.bytes_per_vector for c in rest], [c.metrics[metric] for c in rest], "o", mfc="none",
                    color=colour, ms=6, label=f"{name}: other cells", gid=f"cells:{name}")  # fmt: skip
    by_label = {c.label: c for c in cmp.cells}
    front = [by_label[label] for label in cmp.frontier if label in by_label]
    if front:
        ax.step([c.bytes_per_vector for c in front], [c.metrics[metric] for c in front], where="post", color="black",
                lw=1, ls="--", alpha=0.6, label="frontier", gid="frontier")  # fmt: skip
    ref = by_label.get(cmp.reference)
    if ref is not None:
        ax.plot([ref.bytes_per_vector], [ref.metrics[metric]], "o", ms=14, mfc="none", color="black",
                label=f"reference: {ref.label}", gid="reference")  # fmt: skip
    rec = report.recommendation
    if rec is not None and rec.label in by_label:
        chosen = by_label[rec.label]
        ax.plot([chosen.bytes_per_vector], [chosen.metrics[metric]], linestyle="none", gid="recommended",
                label=f"recommended: {chosen.label}", **STAR)  # fmt: skip
        if rec.metric == metric:
            ax.axhline(rec.threshold, color=BAR, lw=1, ls="--", label=f"bar {rec.threshold:.4f}", gid="bar")
    bytes_axis(ax)
    ax.set_ylabel(f"{metric} (mean over queries)")
    ax.grid(True, alpha=0.3)
    ax.set_title(plain(f"{report.data.name} · {len(report.names)} models · {metric} against bytes per vector"))
    legend_outside(fig, ax)
    return fig


def plot_models(report: ModelsReport, paths: Sequence[Path], metric: str | None = None) -> None:
    """Draw every model's cells (`models_figure`) and save to each path (.png, .svg)."""
    save(models_figure(report, metric), paths)
