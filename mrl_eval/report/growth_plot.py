"""The growth chart (`--growth`): per dim, the measured drop at each corpus size, the line in log(size) over the sizes
it was fitted on and its extrapolation to the --scale sizes with the interval (noise and model error), the
extrapolated part drawn dashed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mrl_eval.report.model import Report
from mrl_eval.report.plots import OTHERS, PRIMARY, pyplot


def plot_growth(report: Report, paths: Sequence[Path]) -> None:
    """Draw the report's growth section and save to each path (.png, .svg)."""
    import numpy as np

    plt = pyplot()
    g = report.growth
    assert g is not None  # drawn only for a report with growth
    sizes = np.asarray(g.sizes, np.float64)
    targets = list(g.targets.items())
    far = max([n for _, n in targets] + [sizes.max()])
    dims = [d for d in g.dims if d.dim != report.full_dim]
    n_panels = max(1, len(dims))
    fig, axes = plt.subplots(1, n_panels, figsize=(3.2 * n_panels + 1, 4.2), dpi=120, sharey=True, squeeze=False)
    for ax, d, colour in zip(axes[0], dims, (PRIMARY, *OTHERS) * 4):
        for seed_drops in d.drop:
            ax.plot(sizes, seed_drops, "o", color=colour, ms=3, alpha=0.45)
        measured = np.mean(d.drop, axis=0)
        ax.plot(sizes, measured, "o", color=colour, ms=6, label="measured (mean of seeds)")
        xs = np.geomspace(min(g.fit_sizes), sizes.max(), 20)
        ax.plot(xs, d.intercept + d.slope * np.log(xs), "-", color=colour, lw=1.8, label="fit in log(size)")
        xe = np.geomspace(sizes.max(), far, 20)
        ax.plot(xe, d.intercept + d.slope * np.log(xe), "--", color=colour, lw=1.4, label="extrapolation")
        for name, n in targets:
            p = d.projection[name]
            low, high = p["drop_ci"]
            ax.errorbar(
                [n], [p["drop"]], yerr=[[p["drop"] - low], [high - p["drop"]]], fmt="s", color=colour, capsize=4, ms=5
            )
            ax.annotate(
                f"{name}\n{p['drop']:+.3f}",
                (n, p["drop"]),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=7,
            )
        ax.set_xscale("log")
        ax.set_title(f"{d.dim} dims", fontsize=10)
        ax.set_xlabel("documents in the corpus (log)")
        ax.axvspan(sizes.max(), far * 1.5, color="#f2e6d9", alpha=0.5, lw=0)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(f"{g.metric} drop from the full dim")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"{report.data.name} · {report.model.name}: measured on {int(sizes.min()):,}–{int(sizes.max()):,} "
        "documents; shaded = extrapolation",
        fontsize=10,
    )
    fig.tight_layout()
    for path in paths:
        fig.savefig(path, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
