"""What `--growth` knows about its own error: the calibration written by scripts/make_growth_validation.py
(growth_validation.json beside this module: the model-error factor per metric and the errors measured on real
collections, each held out in turn) and the plain note every growth output carries."""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mrl_eval.evaluate.growth import GrowthResult


# What the note quotes; a report written by an older version holds other keys and gets the short note.
QUOTED = ("n_collections", "collections", "extrapolation", "loco_coverage", "cases", "median_abs_error")
QUOTED += ("flat_median_abs_error", "better_than_flat", "largest_validated")


def _validation_document() -> dict:
    try:
        text = resources.files("mrl_eval.evaluate").joinpath("growth_validation.json").read_text(encoding="utf-8")
        document = json.loads(text)
        return document if isinstance(document, dict) and isinstance(document.get("by_metric"), dict) else {}
    except (OSError, ValueError):
        return {}


def published_validation(metric: str) -> dict:
    """The projection's measured error for `metric` on the shared collections (written by
    scripts/make_growth_validation.py), or {} where it was not validated."""
    document = _validation_document()
    entry = document.get("by_metric", {}).get(metric)
    about = {k: v for k, v in document.items() if k != "by_metric"}
    return {**entry, **about} if isinstance(entry, dict) and all(k in {**entry, **about} for k in QUOTED) else {}


def model_error_factor(metric: str) -> float:
    """`widen` for `metric`: its calibrated value, or for a metric not validated the largest calibrated one (and 1,
    the run's own backtest error, at the least)."""
    by_metric = _validation_document().get("by_metric", {})
    entry = by_metric.get(metric)
    if isinstance(entry, dict) and isinstance(entry.get("widen"), (int, float)):
        return max(1.0, float(entry["widen"]))
    known = [float(e["widen"]) for e in by_metric.values() if isinstance(e, dict) and "widen" in e]
    return max([1.0, *known])


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def times(factor: float) -> str:
    """An extrapolation factor as people write it: 1.2x, 2x, 193x, 1,929x."""
    if factor >= 10:
        return f"{factor:,.0f}x"
    return f"{factor:.1f}".removesuffix(".0") + "x"


def extrapolation_note(result: GrowthResult) -> str:
    """The plain statement every growth output carries: an extrapolation, from which sizes, with what error."""
    far = max(result.targets.values()) / max(result.sizes)
    text = (
        f"Extrapolation, not a measurement: a line in log(corpus size) fitted to the {result.metric} drops on the "
        f"{len(result.fit_sizes)} largest subsamples ({min(result.fit_sizes):,} to {max(result.fit_sizes):,} "
        f"documents, {result.seeds} seed{'' if result.seeds == 1 else 's'}), projected to "
        + _listed([f"{n:,}" for n in result.targets.values()])
        + f" documents ({_listed([times(n / max(result.sizes)) for n in result.targets.values()])} the largest "
        "measured size)."
    )
    bt = result.backtest
    if bt:
        text += (
            f" The interval adds to the query and subsample noise the fit's own error: the same line one size lower "
            f"predicted the {bt['size']:,} documents with a mean error of {bt['line_mean_abs_error']:.3f} (assuming "
            f"no growth: {bt['flat_mean_abs_error']:.3f}"
            + ("" if bt["better_than_flat"] else "; here the line did no better than assuming no growth")
            + f"), scaled to each target's distance and by {result.widen:.2f}."
        )
    v = result.validation
    if v and not all(key in v for key in QUOTED):
        return text + " Its validation on real collections is in docs/growth.md."
    if not v:
        return text + (
            f" This projection has not been validated for {result.metric} on real collections (docs/growth.md "
            "validates ndcg@10 and overlap@10): treat it as unvalidated."
        )
    text += (
        f" Validated on {v['n_collections']} collections ({v['collections']}), each held out in turn with the "
        f"widening calibrated on the others: projected {v['extrapolation']} to the whole corpus from "
        f"{v.get('setup', 'part of it')}, the interval held the measured drop in {v['loco_coverage']:.0%} of {v['cases']} cases; median error "
        f"{v['median_abs_error']:.3f} against {v['flat_median_abs_error']:.3f} for assuming no growth"
    )
    if not v["better_than_flat"]:
        text += (
            ": no better than assuming no growth, so read the interval, not the projected value; the "
            "recommendation does not use the projection."
        )
    else:
        text += "."
    far_v = v.get("farther")
    if far_v:
        text += (
            f" Projected {far_v['extrapolation']}: interval held {far_v['loco_coverage']:.0%}, median error "
            f"{far_v['median_abs_error']:.3f} against {far_v['flat_median_abs_error']:.3f}."
        )
    if far > v.get("largest_validated", 0):
        text += f" Nothing was validated near {times(far)}: read the projection there as a trend."
    return text
