"""What `--growth` knows about its own error: the calibration written by scripts/make_growth_validation.py
(growth_validation.json beside this module: the model-error factor per metric and the errors measured on real
collections, each held out in turn) and the plain note every growth output carries."""

from __future__ import annotations

import json
from importlib import resources

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


def listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def times(factor: float) -> str:
    """An extrapolation factor as people write it: 1.2x, 2x, 193x, 1,929x."""
    if factor >= 10:
        return f"{factor:,.0f}x"
    return f"{factor:.1f}".removesuffix(".0") + "x"
