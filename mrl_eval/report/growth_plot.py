"""The growth chart (`--growth`): per dim, the measured drop at each corpus size, the line in log(size) over the sizes
it was fitted on and its extrapolation to the --scale sizes with the interval (noise and model error), the
extrapolated part drawn dashed and shaded. Each projection is labelled beside its interval, where it collides with
nothing (`plots.place_labels`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mrl_eval.report.model import Report
from mrl_eval.report.plots import (
    LEGEND,
    OTHERS,
    PRIMARY,
    freeze_layout,
    place_labels,
    plain,
    pyplot,
    save,
    segment_boxes,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def growth_figure(report: Report) -> Figure:
    """One panel per dim below full, sharing the drop axis."""
    import numpy as np

    plt = pyplot()
    g = report.growth
    assert g is not None  # drawn only for a report with growth
    sizes = np.asarray(g.sizes, np.float64)
    targets = list(g.targets.items())
    far = max([n for _, n in targets] + [sizes.max()])
    dims = [d for d in g.dims if d.dim != report.full_dim]
    n_panels = max(1, len(dims))
    fig, axes = plt.subplots(1, n_panels, figsize=(3.4 * n_panels + 1.6, 4.4), dpi=120, sharey=True, squeeze=False,
                             layout="constrained")  # fmt: skip
    notes = []
    for ax, d, colour in zip(axes[0], dims, (PRIMARY, *OTHERS) * 4):
        for seed_drops in d.drop:
            ax.plot(sizes, seed_drops, "o", color=colour, ms=3, alpha=0.45)
        measured = np.mean(d.drop, axis=0)
        ax.plot(sizes, measured, "o", color=colour, ms=6, label="measured (mean of seeds)", gid=f"measured:{d.dim}")
        xs = np.geomspace(min(g.fit_sizes), sizes.max(), 40)
        ax.plot(xs, d.intercept + d.slope * np.log(xs), "-", color=colour, lw=1.8, label="fit in log(size)")
        xe = np.geomspace(sizes.max(), far, 40)
        ax.plot(xe, d.intercept + d.slope * np.log(xe), "--", color=colour, lw=1.4, label="extrapolation")
        drops = [d.projection[name]["drop"] for name, _ in targets]
        lows = [d.projection[name]["drop_ci"][0] for name, _ in targets]
        highs = [d.projection[name]["drop_ci"][1] for name, _ in targets]
        bars = ax.errorbar([n for _, n in targets], drops, yerr=[np.subtract(drops, lows), np.subtract(highs, drops)],
                           fmt="s", color=colour, capsize=4, ms=5, label="projection and its interval")  # fmt: skip
        bars.lines[0].set_gid(f"projected:{d.dim}")
        bars.lines[2][0].set_gid(f"interval:{d.dim}")
        line = list(zip(np.concatenate([xs, xe]), d.intercept + d.slope * np.log(np.concatenate([xs, xe]))))
        labels = [(n, p, f"{name}\n{p:+.3f}", 4) for (name, n), p in zip(targets, drops)]
        notes.append((ax, labels, lows, highs, line))
        ax.set_xscale("log")
        ax.set_title(f"{d.dim} dims", fontsize=10)
        ax.set_xlabel("documents in the corpus (log)")
        ax.axvspan(sizes.max(), far * 1.5, color="#f2e6d9", alpha=0.5, lw=0)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(f"{g.metric} drop from the full dim")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, **LEGEND)
    fig.suptitle(
        plain(f"{report.data.name} · {report.model.name}")
        + f": measured on {int(sizes.min()):,}–{int(sizes.max()):,} documents; shaded = extrapolation",
        fontsize=10,
    )
    renderer = freeze_layout(fig)
    for ax, labels, lows, highs, line in notes:  # beside each interval and off the line, never on them
        bars = [((x, low), (x, high)) for (x, *_), low, high in zip(labels, lows, highs)]
        avoid = segment_boxes(ax, bars, pad=6) + segment_boxes(ax, list(zip(line, line[1:])))
        place_labels(ax, renderer, labels, avoid=avoid, fontsize=7.5)
    return fig


def plot_growth(report: Report, paths: Sequence[Path]) -> None:
    """Draw the report's growth section (`growth_figure`) and save to each path (.png, .svg)."""
    save(growth_figure(report), paths)
