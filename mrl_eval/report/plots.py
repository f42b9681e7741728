"""The charts of a run, readable at a glance: the trade-off (quality against dims kept), the per-query deltas and the
Pareto chart of a grid. The bar's metric is drawn prominent and the others quiet; no label sits on a line, a marker
or another label (labels inside a chart are placed where they collide with nothing, `place_labels`, or left out:
the tables hold every number); the legend sits outside the axes and inside the figure (constrained layout).

Each chart is built by a `*_figure` function (tested on the figure's artists) and saved by its `plot_*` function.
Every drawn series carries a `gid` (`metric:ndcg@10`, `cell:...`), which the SVG keeps as an element id."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrl_eval.report.model import Report
from mrl_eval.report.tables import pareto_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PRIMARY = "#1f5fbf"
OTHERS = ("#7a7a7a", "#b07aa1", "#59a14f", "#e15759", "#f28e2b", "#76b7b2")
QUIET = ("#8c8c8c", "#a98bb0", "#86a97f", "#c49090", "#c9a57e", "#8fb3b0")  # the other metrics: greyed hues
BAR = "#c0392b"
STAR = {"marker": "*", "ms": 18, "color": "#f1c40f", "mec": "#7d6608", "zorder": 7}
LEGEND = {"fontsize": 9.5, "frameon": False}
LEADER = {"arrowstyle": "-", "lw": 0.6, "color": "#666666", "shrinkA": 1, "shrinkB": 4}
LEGEND_WIDTH = 30  # characters of a legend entry before it wraps


def chart_title(report: Report, what: str) -> str:
    """The data, the model and `what`: names from the run are plain text (matplotlib reads `$...$` as math, and
    a name such as `a$\\frac$` would fail to draw)."""
    names = f"{report.data.name} · {Path(report.model.name).name}"
    return plain(names) + f" · {what}"


def plain(text: str) -> str:
    """Text from the run drawn as it is: `$` escaped, so matplotlib never reads it as math."""
    return text.replace("$", r"\$")


def wrapped(label: str) -> str:
    """A legend entry on lines of at most LEGEND_WIDTH characters."""
    return "\n".join(textwrap.wrap(label, LEGEND_WIDTH)) or label


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: smaller, searchable, faster to write
    import matplotlib.pyplot as plt

    return plt


def figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure with one axes, laid out by matplotlib's constrained layout (so nothing is clipped)."""
    return pyplot().subplots(figsize=(width, height), dpi=130, layout="constrained")


def legend_outside(fig: Figure, ax: Axes, first: int = 0) -> None:
    """The axes' legend to the right of the plot, inside the figure, its entries wrapped; the entries from index
    `first` on are listed first (what was drawn last, on top, is named first)."""
    handles, labels = ax.get_legend_handles_labels()
    handles, labels = handles[first:] + handles[:first], labels[first:] + labels[:first]
    fig.legend(handles, [wrapped(label) for label in labels], loc="outside right upper", **LEGEND)


def save(fig: Figure, paths: Sequence[Path]) -> None:
    """Save to each path (the format from its suffix: .png, .svg) and close the figure."""
    try:
        for path in paths:
            fig.savefig(path, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        pyplot().close(fig)


def freeze_layout(fig: Figure) -> Any:
    """Run the layout once and keep it, so that labels placed from now on (in display coordinates) stay where
    they were measured; the renderer that measures them."""
    fig.canvas.draw()
    fig.set_layout_engine("none")
    return fig.canvas.get_renderer()


# around a point, nearest first: right, left, above, below, the diagonals, then further up and down (unit offsets,
# and the alignment)
_SPOTS = ((1, 0, "left", "center"), (-1, 0, "right", "center"), (0, 1, "center", "bottom"), (0, -1, "center", "top"))
_SPOTS += ((1, 1, "left", "bottom"), (-1, 1, "right", "bottom"), (1, -1, "left", "top"), (-1, -1, "right", "top"))
_SPOTS += ((1, 3, "left", "bottom"), (-1, 3, "right", "bottom"), (1, -3, "left", "top"), (-1, -3, "right", "top"))


def place_labels(
    ax: Axes,
    renderer: Any,
    labels: Sequence[tuple[float, float, str, float]],
    *,
    avoid: Sequence[Any] = (),
    **style: Any,
) -> list[Any]:
    """Annotate each (x, y, text, radius) just outside the marker of that radius (points) at the nearest spot
    where the label overlaps no other label, no box in `avoid` (markers and lines, in display coordinates) and
    stays inside the axes; a label with no such spot is left out (the tables hold every number). The annotations
    made, in order."""
    from matplotlib.text import Text

    taken = list(avoid)
    inside = ax.get_window_extent(renderer)
    placed = []
    for x, y, text, radius in labels:
        gap = radius + 2
        for dx, dy, ha, va in _SPOTS:
            offset = (dx * gap, dy * gap)
            leader = {"arrowprops": LEADER} if abs(dy) > 1 else {}  # a far label points at its marker
            note = ax.annotate(text, (x, y), xytext=offset, textcoords="offset points", ha=ha, va=va, **leader, **style)
            note.set_in_layout(False)
            note.update_positions(renderer)
            box = Text.get_window_extent(note, renderer)  # the text's own box, without its leader
            fits = inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1)
            if fits and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                placed.append(note)
                break
            note.remove()
    return placed


def segment_boxes(
    ax: Axes, segments: Sequence[tuple[tuple[float, float], tuple[float, float]]], pad: float = 2
) -> list:
    """The display boxes of line segments (data coordinates), `pad` pixels wider on each side: what a label must not
    cross. A sloping line is given as many short segments, so that its boxes hug it."""
    from matplotlib.transforms import Bbox

    boxes = []
    for start, end in segments:
        (x0, y0), (x1, y1) = ax.transData.transform([start, end])
        boxes.append(Bbox.from_extents(min(x0, x1) - pad, min(y0, y1) - pad, max(x0, x1) + pad, max(y0, y1) + pad))
    return boxes


def marker_boxes(ax: Axes, points: Sequence[tuple[float, float]], size: float) -> list[Any]:
    """The display boxes of markers `size` points wide at these data points."""
    from matplotlib.transforms import Bbox

    half = size / 2 * ax.figure.dpi / 72
    centres = ax.transData.transform(points) if points else []
    return [Bbox.from_extents(x - half, y - half, x + half, y + half) for x, y in centres]


def tradeoff_figure(report: Report, metric: str | None = None) -> Figure:
    """Quality against dims kept (log2 axis): the bar's metric thick with its interval band and its values along
    the top edge; the other metrics thin and grey; the bar, and the recommended dim starred. The bytes per vector
    and the share of the full size are under each dim."""
    from matplotlib.ticker import FixedLocator, NullLocator

    results = sorted(report.results, key=lambda r: r.dim)
    rec = report.recommendation
    metric_names = list(results[0].metrics)
    primary = metric or (rec.metric if rec else None) or metric_names[0]
    dims = [r.dim for r in results]
    values = [r.metrics[primary] for r in results]

    fig, ax = figure(10, 5.6)
    for colour, name in zip(QUIET * 2, [m for m in metric_names if m != primary]):
        ax.plot(dims, [r.metrics[name] for r in results], "o-", color=colour, lw=1.1, ms=2.5, label=name, zorder=2,
                gid=f"metric:{name}")  # fmt: skip
    ax.plot(dims, values, "o-", color=PRIMARY, lw=2.8, ms=6.5, label=primary + (" (the bar's metric)" if rec else ""), zorder=5,
            gid=f"metric:{primary}")  # fmt: skip
    if all(primary in r.stats for r in results):
        level = report.confidence or 0.95
        low = [r.stats[primary].ci[0] for r in results]
        high = [r.stats[primary].ci[1] for r in results]
        ax.fill_between(dims, low, high, color=PRIMARY, alpha=0.15, lw=0, label=f"{primary}: {level:.0%} CI",
                        zorder=3, gid=f"interval:{primary}")  # fmt: skip
    if rec:
        ax.axhline(rec.threshold, color=BAR, ls="--", lw=1.3, label=f"bar {rec.threshold:.3f} ({rec.rule})",
                   zorder=4, gid="bar")  # fmt: skip
        if rec.dim is None:
            ax.plot([], [], " ", label="no swept dim meets the bar")
        elif rec.label and (rec.method, rec.precision) != ("prefix", "float32"):
            # the chosen cell is not on these float32 prefix curves: the Pareto chart shows it
            method = " PCA" if rec.method == "pca" else ""
            ax.plot([], [], " ", label=f"recommended: {rec.dim} d {rec.precision}{method} (see the Pareto chart)")
        else:
            ax.plot([rec.dim], [rec.value], linestyle="none", label=f"recommended: {rec.dim} dims", gid="recommended",
                    **STAR)  # fmt: skip

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(dims))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{r.dim}\n{r.bytes_per_vector:,} B\n{r.dim / report.full_dim:.0%}" for r in results])
    ax.set_xlim(dims[0] / 1.25, dims[-1] * 1.25)
    # the bar's metric along the top edge, above the lines: no line or marker can cross a value
    top = ax.secondary_xaxis("top")
    top.xaxis.set_major_locator(FixedLocator(dims))
    top.xaxis.set_minor_locator(NullLocator())
    top.set_xticklabels([f"{v:.3f}" for v in values], color=PRIMARY, fontsize=9, fontweight="bold")
    top.tick_params(length=0)
    top.set_xlabel(f"{primary}, mean over {report.queries_evaluated} queries", color=PRIMARY, fontsize=9)
    lows = [r.metrics[m] for r in results for m in metric_names] + ([rec.threshold] if rec else [])
    lows += [r.stats[primary].ci[0] for r in results if primary in r.stats]
    highs = lows + [r.stats[primary].ci[1] for r in results if primary in r.stats]
    ax.set_ylim(max(0.0, min(lows) - 0.03), min(1.02, max(highs) + 0.03))
    ax.set_xlabel("embedding dims kept (first d, re-normalised) · bytes per vector · share of full size")
    ax.set_ylabel("score (mean over queries)")
    ax.set_title(chart_title(report, f"{report.queries_evaluated} queries"), fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    legend_outside(fig, ax, first=len(metric_names) - 1)
    return fig


def plot_tradeoff(report: Report, paths: Sequence[Path], metric: str | None = None) -> None:
    """Draw the report's results and save to each path (format from the suffix: .png, .svg)."""
    save(tradeoff_figure(report, metric), paths)


def deltas_figure(report: Report) -> Figure:
    """Per-query delta of the losses metric from the full dim, one box per dim below full, with the zero line."""
    full = report.full_dim
    metric = report.losses.metric if report.losses is not None else report.metrics[0]
    per_query = report.per_query or {}
    dims = sorted(d for d in per_query if d != full)
    reference = per_query[full][metric]
    deltas = [[per_query[d][metric][q] - reference[q] for q in reference] for d in dims]

    fig, ax = figure(10, 4.8)
    ax.axhline(0, color="#444444", lw=1)
    ax.boxplot(
        deltas,
        showmeans=True,
        widths=0.55,
        patch_artist=True,
        boxprops={"facecolor": "#dbe6f6", "edgecolor": PRIMARY},
        medianprops={"color": PRIMARY, "lw": 2},
        meanprops={"marker": "D", "markerfacecolor": BAR, "markeredgecolor": BAR, "ms": 5},
        flierprops={"marker": "o", "ms": 3, "alpha": 0.4},
    )
    ax.set_xticks(range(1, len(dims) + 1))
    labels = []
    for d, values in zip(dims, deltas):
        worse = sum(v < 0 for v in values)
        better = sum(v > 0 for v in values)
        labels.append(f"{d}\n{worse} worse\n{better} better")
    ax.set_xticklabels(labels, fontsize=9)
    ax.set_xlabel(f"dims kept · queries worse / better than at the full dim ({full})")
    ax.set_ylabel(f"{metric}: dim minus full dim,\nper query")
    ax.set_title(chart_title(report, "per-query change"), fontsize=11)
    ax.plot([], [], "D", color=BAR, ms=5, label="mean")
    ax.plot([], [], "-", color=PRIMARY, lw=2, label="median")
    ax.fill_between([], [], [], facecolor="#dbe6f6", edgecolor=PRIMARY, label="quartiles")
    ax.grid(True, axis="y", alpha=0.3)
    legend_outside(fig, ax)
    return fig


def plot_deltas(report: Report, paths: Sequence[Path]) -> None:
    """Draw the per-query deltas (`deltas_figure`) and save to each path."""
    save(deltas_figure(report), paths)


PRECISION_MARKERS = {"float32": "o", "float16": "s", "int8": "^", "binary": "D"}
METHOD_COLOURS = {"prefix": PRIMARY, "pca": "#e15759"}


def size_tick(x: float) -> str:
    """A power-of-two size as a tick reads it: 32 B, 512 B, 1 KiB, 64 KiB, 1 MiB."""
    for unit in ("B", "KiB", "MiB"):
        if x < 1024 or unit == "MiB":
            return f"{x:g} {unit}"
        x /= 1024
    return f"{x:g} MiB"


def bytes_axis(ax: Axes) -> None:
    """A log2 axis of bytes per vector, its ticks at powers of two written as sizes: 32 B, 1 KiB."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(LogLocator(base=2, numticks=12))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: size_tick(x)))
    ax.set_xlabel("bytes per vector (log scale)")


def pareto_figure(report: Report, metric: str | None = None) -> Figure:
    """Quality against bytes per vector for every grid cell (method x dim x precision), the Pareto frontier drawn
    through the cells that no other cell beats on both, each labelled where it collides with nothing."""
    cells = report.cells
    rec = report.recommendation
    primary = metric or (rec.metric if rec else None) or next(iter(cells[0].metrics))
    frontier = pareto_labels(cells, primary)
    fig, ax = figure(10, 5.6)
    for method, colour in METHOD_COLOURS.items():
        for precision, marker in PRECISION_MARKERS.items():
            group = [c for c in cells if c.method == method and c.precision == precision]
            if group:
                ax.scatter([c.bytes_per_vector for c in group], [c.metrics[primary] for c in group], marker=marker,
                           s=36, color=colour, alpha=0.8, label=f"{method} · {precision}", zorder=4,
                           gid=f"cells:{method}:{precision}")  # fmt: skip
    front = sorted((c for c in cells if c.label in frontier), key=lambda c: c.bytes_per_vector)
    ax.step([c.bytes_per_vector for c in front], [c.metrics[primary] for c in front], where="post", color="#222222",
            lw=1.4, label="Pareto frontier", zorder=3, gid="frontier")  # fmt: skip
    chosen = next((c for c in cells if rec and c.label == rec.label), None)
    if chosen is not None:
        ax.plot([chosen.bytes_per_vector], [chosen.metrics[primary]], linestyle="none", gid="recommended",
                label=f"recommended: {chosen.dim} d {chosen.precision}" + (" (PCA)" if chosen.method == "pca" else ""),
                **STAR)  # fmt: skip
    if rec:
        ax.axhline(rec.threshold, color=BAR, ls="--", lw=1.2, label=f"bar {rec.threshold:.3f}", gid="bar")
    bytes_axis(ax)
    ax.set_ylabel(f"{primary} (mean over queries)")
    ax.set_title(chart_title(report, "quality against storage, every cell"), fontsize=11)
    ax.grid(True, alpha=0.3)
    legend_outside(fig, ax)
    renderer = freeze_layout(fig)
    avoid = marker_boxes(ax, [(c.bytes_per_vector, c.metrics[primary]) for c in cells], 8)
    if chosen is not None:
        avoid += marker_boxes(ax, [(chosen.bytes_per_vector, chosen.metrics[primary])], STAR["ms"])
    steps = [(a.bytes_per_vector, a.metrics[primary]) for a in front]
    lines = [(p, (q[0], p[1])) for p, q in zip(steps, steps[1:])] + [
        ((q[0], p[1]), q) for p, q in zip(steps, steps[1:])
    ]
    if rec:
        lines.append(((ax.get_xlim()[0], rec.threshold), (ax.get_xlim()[1], rec.threshold)))
    avoid += segment_boxes(ax, lines)
    labels = [
        (
            c.bytes_per_vector,
            c.metrics[primary],
            f"{c.dim} {c.precision}" + (" pca" if c.method == "pca" else ""),
            STAR["ms"] / 2 if c is chosen else 4,
        )
        for c in front
    ]
    place_labels(ax, renderer, labels, avoid=avoid, fontsize=7.5, color="#222222")
    return fig


def plot_pareto(report: Report, paths: Sequence[Path], metric: str | None = None) -> None:
    """Draw every grid cell (`pareto_figure`) and save to each path."""
    save(pareto_figure(report, metric), paths)
