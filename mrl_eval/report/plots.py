"""The trade-off chart: quality against dim on a log2 axis, the bar, the recommended dim, bytes/vector."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mrl_eval.report.model import Report
from mrl_eval.report.tables import pareto_labels

PRIMARY = "#1f5fbf"
OTHERS = ("#7a7a7a", "#b07aa1", "#59a14f", "#e15759", "#f28e2b", "#76b7b2")


def chart_title(report: Report, what: str) -> str:
    """The data, the model and `what`: names from the run are plain text (matplotlib reads `$...$` as math, and
    a name such as `a$\\frac$` would fail to draw)."""
    names = f"{report.data.name} · {Path(report.model.name).name}"
    return names.replace("$", r"\$") + f" · {what}"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: smaller, searchable, faster to write
    import matplotlib.pyplot as plt

    return plt


def plot_tradeoff(report: Report, paths: Sequence[Path], metric: str | None = None) -> None:
    """Draw the report's results and save to each path (format from the suffix: .png, .svg)."""
    plt = pyplot()
    from matplotlib.ticker import FixedLocator, NullLocator

    results = sorted(report.results, key=lambda r: r.dim)
    rec = report.recommendation
    metric_names = list(results[0].metrics)
    primary = metric or (rec.metric if rec else None) or metric_names[0]
    dims = [r.dim for r in results]

    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=130)
    others = [m for m in metric_names if m != primary]
    for colour, name in zip(OTHERS, others):
        ax.plot(
            dims,
            [r.metrics[name] for r in results],
            "o-",
            color=colour,
            lw=1.2,
            ms=3.5,
            alpha=0.75,
            label=name,
        )
    values = [r.metrics[primary] for r in results]
    if all(primary in r.stats for r in results):
        level = report.confidence or 0.95
        low = [r.stats[primary].ci[0] for r in results]
        high = [r.stats[primary].ci[1] for r in results]
        ax.fill_between(dims, low, high, color=PRIMARY, alpha=0.15, lw=0, label=f"{primary} {level:.0%} CI", zorder=4)
    ax.plot(dims, values, "o-", color=PRIMARY, lw=2.6, ms=6, label=primary, zorder=5)
    for r, v in zip(results, values):
        ax.annotate(
            f"{v:.3f}\n{r.bytes_per_vector:,} B",
            (r.dim, v),
            textcoords="offset points",
            xytext=(0, 9),
            ha="center",
            fontsize=8,
            color=PRIMARY,
            zorder=6,
        )
    if rec:
        ax.axhline(
            rec.threshold,
            color="#c0392b",
            ls="--",
            lw=1.3,
            label=f"bar {rec.threshold:.3f} ({rec.rule})",
        )
        if rec.dim is None:
            ax.plot([], [], " ", label="no swept dim meets the bar")
        elif rec.label and (rec.method, rec.precision) != ("prefix", "float32"):
            # the chosen cell is not on these float32 prefix curves: the Pareto chart shows it
            ax.plot(
                [],
                [],
                " ",
                label=f"recommended: {rec.dim} d {rec.precision}"
                + (" PCA" if rec.method == "pca" else "")
                + "\n(see the Pareto chart)",
            )
        else:
            ax.plot(
                [rec.dim],
                [rec.value],
                marker="*",
                ms=20,
                color="#f1c40f",
                mec="#7d6608",
                zorder=7,
                label=f"recommended: {rec.dim} dims",
            )

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(dims))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{d}\n{d / report.full_dim:.0%}" for d in dims])
    ax.set_xlim(dims[0] / 1.25, dims[-1] * 1.25)
    lows = [r.metrics[m] for r in results for m in metric_names] + ([rec.threshold] if rec else [])
    ax.set_ylim(max(0.0, min(lows) - 0.08), min(1.0, max(lows) + 0.12) if max(lows) < 0.9 else 1.05)
    ax.set_xlabel("embedding dims kept (first d, re-normalised)  ·  share of full size")
    ax.set_ylabel("score (mean over queries)")
    ax.set_title(
        chart_title(report, f"{report.queries_evaluated} queries"),
        fontsize=11,
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.76, bottom=0.16, top=0.92)  # fixed margins: no extra layout draw
    for path in paths:
        fig.savefig(path, format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def plot_deltas(report: Report, paths: Sequence[Path]) -> None:
    """Per-query delta of the losses metric from the full dim, one box per dim below full, with the zero line."""
    plt = pyplot()

    full = report.full_dim
    metric = report.losses.metric if report.losses is not None else report.metrics[0]
    per_query = report.per_query or {}
    dims = sorted(d for d in per_query if d != full)
    reference = per_query[full][metric]
    deltas = [[per_query[d][metric][q] - reference[q] for q in reference] for d in dims]

    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=130)
    ax.axhline(0, color="#444444", lw=1)
    ax.boxplot(
        deltas,
        showmeans=True,
        widths=0.55,
        patch_artist=True,
        boxprops={"facecolor": "#dbe6f6", "edgecolor": PRIMARY},
        medianprops={"color": PRIMARY, "lw": 2},
        meanprops={"marker": "D", "markerfacecolor": "#c0392b", "markeredgecolor": "#c0392b", "ms": 5},
        flierprops={"marker": "o", "ms": 3, "alpha": 0.4},
    )
    ax.set_xticks(range(1, len(dims) + 1))
    labels = []
    for d, values in zip(dims, deltas):
        worse = sum(v < 0 for v in values)
        better = sum(v > 0 for v in values)
        labels.append(f"{d}\n{worse} worse, {better} better")
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_xlabel(f"dims kept · queries worse / better than at the full dim ({full})")
    ax.set_ylabel(f"{metric}: dim minus full dim, per query")
    ax.set_title(
        chart_title(report, "per-query change (box: quartiles, line: median, diamond: mean)"),
        fontsize=10,
    )
    ax.grid(True, axis="y", alpha=0.3)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.92)
    for path in paths:
        fig.savefig(path, format=Path(path).suffix.lstrip("."))
    plt.close(fig)


PRECISION_MARKERS = {"float32": "o", "float16": "s", "int8": "^", "binary": "D"}
METHOD_COLOURS = {"prefix": PRIMARY, "pca": "#e15759"}


def plot_pareto(report: Report, paths: Sequence[Path], metric: str | None = None) -> None:
    """Quality against bytes per vector for every grid cell (method x dim x precision), the Pareto frontier drawn
    through the cells that no other cell beats on both."""
    from matplotlib.ticker import FuncFormatter

    plt = pyplot()
    cells = report.cells
    rec = report.recommendation
    primary = metric or (rec.metric if rec else None) or next(iter(cells[0].metrics))
    frontier = pareto_labels(cells, primary)
    fig, ax = plt.subplots(figsize=(10, 5.6), dpi=130)
    for method, colour in METHOD_COLOURS.items():
        for precision, marker in PRECISION_MARKERS.items():
            group = [c for c in cells if c.method == method and c.precision == precision]
            if group:
                ax.scatter(
                    [c.bytes_per_vector for c in group],
                    [c.metrics[primary] for c in group],
                    marker=marker,
                    s=36,
                    color=colour,
                    alpha=0.8,
                    label=f"{method} · {precision}",
                    zorder=4,
                )
    front = sorted((c for c in cells if c.label in frontier), key=lambda c: c.bytes_per_vector)
    ax.step(
        [c.bytes_per_vector for c in front],
        [c.metrics[primary] for c in front],
        where="post",
        color="#222222",
        lw=1.4,
        label="Pareto frontier",
        zorder=3,
    )
    for c in front:
        ax.annotate(
            f"{c.dim} {c.precision}" + (" pca" if c.method == "pca" else ""),
            (c.bytes_per_vector, c.metrics[primary]),
            textcoords="offset points",
            xytext=(4, -11),
            fontsize=7,
            color="#222222",
        )
    if rec and rec.label:
        chosen = next((c for c in cells if c.label == rec.label), None)
        if chosen:
            ax.plot(
                [chosen.bytes_per_vector],
                [chosen.metrics[primary]],
                marker="*",
                ms=18,
                color="#f1c40f",
                mec="#7d6608",
                zorder=6,
                label=f"recommended: {chosen.dim} d {chosen.precision}" + (" (PCA)" if chosen.method == "pca" else ""),
            )
    if rec:
        ax.axhline(rec.threshold, color="#c0392b", ls="--", lw=1.2, label=f"bar {rec.threshold:.3f}")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.set_xlabel("bytes per vector (log scale)")
    ax.set_ylabel(f"{primary} (mean over queries)")
    ax.set_title(
        chart_title(report, "quality against storage, every cell"),
        fontsize=11,
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.08, right=0.74, bottom=0.11, top=0.92)
    for path in paths:
        fig.savefig(path, format=Path(path).suffix.lstrip("."))
    plt.close(fig)
