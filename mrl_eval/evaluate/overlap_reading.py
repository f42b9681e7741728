"""What a label-free overlap@10 suggests about the nDCG@10 drop, read from real collections that have both.

scripts/make_label_free_table.py sweeps the shared collections (each with qrels) and writes, per (collection,
model), the curve of nDCG@10 drop (full dim minus the dim) against overlap@10 over the swept dims into
overlap_calibration.json beside this module. A reading at overlap o is:

- the spread: the lowest and highest drop of those curves at o (linear between a curve's dims), over every curve
  that reaches o; only where curves of at least two collections reach o (elsewhere: no reading);
- widened by the leave-one-collection-out error: each collection's points are compared with the spread of the
  other collections' curves at their overlap, and the furthest a point fell below or above it, per unit of
  (1 - overlap) (the drops, and how far they scatter, grow as the overlap falls), widens the spread on that side
  by that much times (1 - o).

It is the spread seen on a few collections, widened by how much one of them surprised the others: not a bound, and a
collection unlike them can fall outside it (docs/label-free.md measures how often that happened).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

OVERLAP, QUALITY = "overlap@10", "ndcg@10"


@dataclass(frozen=True)
class Curve:
    collection: str
    model: str
    overlap: tuple[float, ...]  # increasing
    drop: tuple[float, ...]

    def at(self, overlap: float) -> float | None:
        """The drop at `overlap`, linear between the two nearest dims; None outside the curve's overlaps."""
        points = sorted(zip(self.overlap, self.drop))
        if not points or not points[0][0] <= overlap <= points[-1][0]:
            return None
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            if x0 <= overlap <= x1:
                return y0 if x1 == x0 else y0 + (y1 - y0) * (overlap - x0) / (x1 - x0)
        return points[0][1]  # a curve of one point


@dataclass(frozen=True)
class Reading:
    overlap: float
    low: float  # the reading: the spread widened by the held-out error
    high: float
    seen_low: float  # the spread of the curves at this overlap
    seen_high: float
    curves: int  # how many (collection, model) curves reach this overlap


def spread(curves: list[Curve], overlap: float, *, collections: int = 2) -> tuple[float, float, int] | None:
    """Lowest and highest drop of the curves reaching `overlap`, and how many reach it; None unless curves of at
    least `collections` collections do."""
    values = [(c.collection, v) for c in curves if (v := c.at(overlap)) is not None]
    if len({name for name, _ in values}) < collections:
        return None
    drops = [v for _, v in values]
    return min(drops), max(drops), len(drops)


def widening(curves: list[Curve]) -> tuple[float, float]:
    """(below, above): the furthest a collection's points fell outside the other collections' spread, per unit of
    (1 - overlap), each collection held out in turn (0 where none fell outside)."""
    below = above = 0.0
    for held in sorted({c.collection for c in curves}):
        others = [c for c in curves if c.collection != held]
        for c in (c for c in curves if c.collection == held):
            for o, d in zip(c.overlap, c.drop):
                seen = spread(others, o, collections=1)
                if seen is None or o >= 1:
                    continue
                below = max(below, (seen[0] - d) / (1 - o))
                above = max(above, (d - seen[1]) / (1 - o))
    return below, above


def read(curves: list[Curve], overlap: float, widen: tuple[float, float] | None = None) -> Reading | None:
    """The reading at `overlap` (see the module doc), or None where fewer than two collections' curves reach it."""
    seen = spread(curves, overlap)
    if seen is None:
        return None
    below, above = widen if widen is not None else widening(curves)
    return Reading(overlap, seen[0] - below * (1 - overlap), seen[1] + above * (1 - overlap), seen[0], seen[1], seen[2])


@dataclass(frozen=True)
class Calibration:
    curves: list[Curve]
    collections: list[str]
    models: list[str]
    widen: tuple[float, float]

    def read(self, overlap: float) -> Reading | None:
        return read(self.curves, overlap, self.widen)

    @property
    def overlap_range(self) -> tuple[float, float]:
        """The overlaps where a reading exists (curves of two collections reach them), to two decimals."""
        grid = [i / 1000 for i in range(1001)]
        inside = [o for o in grid if spread(self.curves, o) is not None]
        return (min(inside), max(inside)) if inside else (0.0, 0.0)


def calibration() -> Calibration | None:
    """The shipped calibration (overlap_calibration.json), or None when it is missing or unreadable."""
    try:
        text = resources.files("mrl_eval.evaluate").joinpath("overlap_calibration.json").read_text(encoding="utf-8")
        document = json.loads(text)
        curves = [
            Curve(c["collection"], c["model"], tuple(map(float, c["overlap"])), tuple(map(float, c["drop"])))
            for c in document["curves"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not curves:
        return None
    collections = sorted({c.collection for c in curves})
    models = sorted({c.model for c in curves})
    return Calibration(curves, collections, models, widening(curves))
