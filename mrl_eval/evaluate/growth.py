"""Quality as the corpus grows (`--growth`): every dim on nested subsamples, a fit against log(corpus size), and a
projection to the sizes of `--scale`, with an interval that carries the fit's own error.

With more documents there are more near-misses, and a shorter prefix separates them less well, so a dim's loss
against the full dim tends to grow with the corpus. What is measured:

- subsamples: every judged document is kept (a query's relevant documents must stay findable) and the rest is
  sampled at the fractions 1/16, 1/8, 1/4, 1/2 and 1; for one seed the subsamples are nested (each is the judged
  documents plus a prefix of one seeded permutation of the rest), and `seeds` seeds give independent chains. The
  full corpus is the same for every seed and is scored once.
- on each subsample every dim is scored exactly as the sweep scores it, per query; `drop` is the full dim's value
  minus the dim's on the same subsample and query (paired), for the metric the projection is about.
- fit: per dim, ordinary least squares of the mean drop (over seeds and queries) on ln(corpus size), over the
  `fit_points` largest sizes (1/4, 1/2 and 1: the trend where the corpus is, which the smallest subsamples bend).
- backtest (the fit's model error, measured in the run): the same fit one size lower (1/8 .. 1/2) predicts the
  whole corpus; its error, and that of assuming no growth (the drop at 1/2), are reported per dim.
- projection: the fitted line at each target size (clipped to [-1, 1], where a drop lies). Its interval is a
  percentile bootstrap (`resamples`: the queries and the seeds redrawn, the line refitted) widened on each side by
  `widen` x the backtest error (per dim, at least the run's root mean square over dims) x the distance to the target
  in units of the backtest's own step (ln(target / corpus) / ln(corpus / previous size)). `widen` is calibrated on
  real collections, holding out whole collections (scripts/make_growth_validation.py, docs/growth.md), and is read
  from growth_validation.json beside this module.

Growth that cannot be fitted (no unjudged document to subsample, too few distinct sizes, no dim below full) is left
out of the run with a one-line warning saying why; no non-finite number reaches a report.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from mrl_eval import defaults
from mrl_eval.data.vectors import Vectors
from mrl_eval.errors import MrlEvalWarning, UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.growth_calibration import QUOTED, listed, model_error_factor, published_validation, times
from mrl_eval.evaluate.retrieval import search, tie_key
from mrl_eval.evaluate.scales import parse_scales

FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
FIT_POINTS = 3  # the line is fitted on the largest three sizes; the backtest on the three before the last


@dataclass(frozen=True)
class GrowthSettings:
    seeds: int = defaults.GROWTH_SEEDS
    scale: str | None = None  # projection targets, written as --scale (default 1M and 10M)
    fractions: tuple[float, ...] = FRACTIONS
    fit_points: int = FIT_POINTS
    resamples: int = 1000
    confidence: float = defaults.CONFIDENCE
    seed: int = 0
    widen: float | None = None  # the model-error factor; None: the calibrated one (growth_validation.json)

    def check(self) -> GrowthSettings:
        if self.seeds < 1:
            raise UsageError(f"--growth-seeds {self.seeds}: use at least 1 (default 5)")
        parse_scales(self.scale)
        return self

    @property
    def targets(self) -> dict[str, int]:
        return parse_scales(self.scale)  # --scale's sizes; by default 1M and 10M


def nested_subsamples(n_docs: int, keep: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Sorted corpus rows of each subsample: all of `keep` plus the first round(f * rest) rows of one seeded
    permutation of the other rows, so that a larger fraction's subsample contains every smaller one's."""
    is_kept = np.zeros(n_docs, bool)
    is_kept[keep] = True
    order = np.random.default_rng(seed).permutation(np.flatnonzero(~is_kept))
    return [np.sort(np.concatenate([np.flatnonzero(is_kept), order[: int(round(f * order.size))]])) for f in fractions]


def subsample_sizes(n_docs: int, n_kept: int, fractions: tuple[float, ...]) -> list[int]:
    """The sizes `nested_subsamples` gives, without drawing them."""
    return [n_kept + int(round(f * (n_docs - n_kept))) for f in fractions]


def why_not_fitted(
    n_docs: int, n_kept: int, n_queries: int, *, dims: list[int], settings: GrowthSettings
) -> str | None:
    """Why growth cannot be fitted on this corpus (one clause), or None when it can."""
    rest = n_docs - n_kept
    sizes = subsample_sizes(n_docs, n_kept, settings.fractions)
    if n_queries == 0:
        return "no query to measure it on"
    if len(dims) < 2:
        return "no dim below the full dim to project"
    if rest == 0:
        return (
            f"every one of the {n_docs:,} documents is judged and judged documents are always kept, so there is no "
            "unjudged document to subsample"
        )
    if len(settings.fractions) < settings.fit_points + 1:
        return f"the fit and its backtest need at least {settings.fit_points + 1} corpus sizes"
    if sizes[0] < 1 or any(b <= a for a, b in zip(sizes, sizes[1:])):
        return (
            f"only {rest:,} {'unjudged ' if n_kept else ''}document{'' if rest == 1 else 's'} to subsample: the "
            "subsamples would hold "
            + ", ".join(f"{n:,}" for n in sizes)
            + " documents, and the fit needs different, non-empty sizes"
        )
    return None


@dataclass(frozen=True)
class DimGrowth:
    dim: int
    drop: list[list[float]]  # [seed][size]: mean over queries of full-dim value minus this dim's
    value: list[list[float]]  # [seed][size]: mean over queries of this dim's value
    intercept: float  # drop = intercept + slope * ln(size), fitted on the largest `fit_points` sizes
    slope: float
    projection: dict[str, dict[str, float | list[float]]]  # target -> {"size", "drop", "drop_ci", "noise_ci", ...}
    backtest_error: float = 0.0  # the line one size lower, predicting the whole corpus: predicted minus measured
    flat_backtest_error: float = 0.0  # assuming no growth (the drop one size lower) minus measured
    model_error: float = 0.0  # per step of the backtest: max(|backtest_error|, the run's RMS over dims)


@dataclass(frozen=True)
class GrowthResult:
    metric: str
    fractions: list[float]
    sizes: list[int]
    fit_sizes: list[int]
    seeds: int
    queries: int
    targets: dict[str, int]
    confidence: float
    dims: list[DimGrowth]
    validation: dict = field(default_factory=dict)  # the measured error of this projection on real collections
    widen: float = 0.0  # the model-error factor the intervals were widened by
    backtest: dict = field(default_factory=dict)  # the run's own backtest, over the dims below full

    def to_dict(self) -> dict:
        return {**asdict(self), "note": extrapolation_note(self)}


def measure_growth(
    vectors: Vectors,
    qrels: dict[str, dict[str, int]],
    dims: list[int],
    metric_names: list[str],
    metric: str,
    settings: GrowthSettings,
    *,
    exclude_self: bool = False,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> GrowthResult | None:
    """Score every dim on the nested subsamples and fit and project the drop in `metric` (see the module doc).
    None, with a one-line warning saying why, when growth cannot be fitted on this corpus."""
    rows, kept = _evaluated(vectors, qrels, metric_names)
    reason = why_not_fitted(len(vectors.doc_ids), len(kept), len(rows), dims=dims, settings=settings)
    if reason is None:
        values, sizes, query_ids = score_subsamples(
            vectors, qrels, dims, metric_names, settings, exclude_self=exclude_self, progress=progress
        )
        result = fit_growth(values[metric], sizes, dims, settings, metric=metric, n_queries=len(query_ids))
        if _is_finite(result):
            return result
        reason = "the fit gave a non-finite value"  # a guard: no NaN may reach a report
    warnings.warn(f"--growth: left out of this run: {reason}.", MrlEvalWarning, stacklevel=2)
    return None


def _evaluated(
    vectors: Vectors, qrels: dict[str, dict[str, int]], metric_names: list[str]
) -> tuple[list[int], list[int]]:
    """The query rows a growth run evaluates and the corpus rows it always keeps (their judged documents)."""
    needs_qrels = any(not M.is_label_free(m) for m in metric_names)
    rows = [i for i, q in enumerate(vectors.query_ids) if qrels.get(q) or not needs_qrels]
    position = {doc_id: i for i, doc_id in enumerate(vectors.doc_ids)}
    query_ids = [vectors.query_ids[i] for i in rows]
    kept = sorted({position[d] for q in query_ids for d in qrels.get(q, {}) if d in position})
    return rows, kept


def _is_finite(result: GrowthResult) -> bool:
    numbers = [result.widen, *(v for v in result.backtest.values() if isinstance(v, float))]
    for d in result.dims:
        numbers += [d.intercept, d.slope, d.backtest_error, d.flat_backtest_error, d.model_error]
        numbers += [x for row in (*d.drop, *d.value) for x in row]
        for p in d.projection.values():
            numbers += [p["drop"], *p["drop_ci"], *p["noise_ci"], p["model_error"]]  # type: ignore[list-item]
    return all(math.isfinite(float(x)) for x in numbers)


def score_subsamples(
    vectors: Vectors,
    qrels: dict[str, dict[str, int]],
    dims: list[int],
    metric_names: list[str],
    settings: GrowthSettings,
    *,
    exclude_self: bool = False,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> tuple[dict[str, np.ndarray], list[int], list[str]]:
    """metric -> (seeds, sizes, dims, queries) per-query values, the subsample sizes and the evaluated queries."""
    rows, kept = _evaluated(vectors, qrels, metric_names)
    query_ids = [vectors.query_ids[i] for i in rows]
    queries = np.asarray(vectors.queries[rows], np.float32)
    depth = M.max_depth(metric_names)
    full_dim = vectors.full_dim
    n_docs = len(vectors.doc_ids)
    shape = (settings.seeds, len(settings.fractions), len(dims), len(query_ids))
    out = {m: np.empty(shape) for m in metric_names}
    advance = (
        progress(f"Growth: {settings.seeds} seeds x {len(settings.fractions)} sizes", shape[0] * shape[1])
        if (progress)
        else (lambda n: None)
    )
    sizes: list[int] = []
    scored_full: dict[str, np.ndarray] | None = None
    for seed in range(settings.seeds):
        subsamples = nested_subsamples(n_docs, np.asarray(kept, np.int64), settings.fractions, settings.seed + seed)
        sizes = [len(s) for s in subsamples]
        for j, subset in enumerate(subsamples):
            if len(subset) == n_docs and scored_full is not None:
                for m in metric_names:
                    out[m][seed, j] = scored_full[m]
                advance(1)
                continue
            ids = [vectors.doc_ids[i] for i in subset]
            exclude = None
            if exclude_self:
                local = {doc_id: i for i, doc_id in enumerate(ids)}
                exclude = np.array([local.get(q, -1) for q in query_ids], np.int64)
            docs = np.asarray(vectors.docs[subset])
            rankings = search(queries, docs, dims, depth, tie_key(ids), exclude=exclude)
            reference = rankings[full_dim].doc_index
            for i, d in enumerate(dims):
                scores = M.score_ranking(query_ids, rankings[d].doc_index, ids, qrels, metric_names, reference)
                for m in metric_names:
                    out[m][seed, j, i] = [scores[m][q] for q in query_ids]
            if len(subset) == n_docs:
                scored_full = {m: out[m][seed, j].copy() for m in metric_names}
            advance(1)
    return out, sizes, query_ids


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intercept and slope of y on x along the last-but-one axis: y (..., len(x), k) -> (..., k) each."""
    xc = x - x.mean()
    slope = np.einsum("s,...sk->...k", xc, y) / float(xc @ xc)
    return y.mean(axis=-2) - slope * x.mean(), slope


def widened(noise_ci: tuple[float, float], model_error: float, widen: float) -> list[float]:
    """The projection's interval: the bootstrap interval widened on each side by `widen` x the model error (already
    scaled to the target's distance), within [-1, 1] where a drop lies."""
    low, high = noise_ci[0] - widen * model_error, noise_ci[1] + widen * model_error
    return [float(np.clip(low, -1.0, 1.0)), float(np.clip(high, -1.0, 1.0))]


def fit_growth(
    values: np.ndarray,
    sizes: list[int],
    dims: list[int],
    settings: GrowthSettings,
    *,
    metric: str,
    n_queries: int,
) -> GrowthResult:
    """Fit the drop against ln(size) on the largest `fit_points` sizes, backtest the same fit one size lower, and
    project, with the widened interval (see the module doc). `values` is (seeds, sizes, dims, queries) of `metric`;
    the last dim is the full dim; the sizes are distinct and increasing (`why_not_fitted`)."""
    drop = values[:, :, -1:, :] - values  # paired per query: full dim minus each dim, same subsample
    points = settings.fit_points
    x = np.log(np.asarray(sizes, np.float64))
    curve = drop.mean(axis=(0, 3))  # (sizes, dims)
    use, before = slice(-points, None), slice(-points - 1, -1)
    intercept, slope = _ols(x[use], curve[use])
    bt_intercept, bt_slope = _ols(x[before], curve[before])
    line_error = bt_intercept + bt_slope * x[-1] - curve[-1]  # (dims,); 0 for the full dim
    flat_error = curve[-2] - curve[-1]
    below = slice(0, len(dims) - 1)
    rms = float(np.sqrt(np.mean(line_error[below] ** 2))) if len(dims) > 1 else 0.0
    model_error = np.maximum(np.abs(line_error), rms)
    model_error[-1] = 0.0  # the full dim's drop from itself is 0 at every size
    step = x[-1] - x[-2]
    validation = published_validation(metric)
    widen = settings.widen if settings.widen is not None else model_error_factor(metric)
    targets = settings.targets
    t = np.log(np.asarray(list(targets.values()), np.float64))
    boot = _bootstrap_fits(drop[:, use], x[use], settings)  # (resamples, 2, dims)
    predicted = boot[:, 0, None, :] + boot[:, 1, None, :] * t[None, :, None]  # (resamples, targets, dims)
    tail = (1 - settings.confidence) / 2
    low, high = np.clip(np.quantile(predicted, [tail, 1 - tail], axis=0), -1.0, 1.0)  # a drop lies in [-1, 1]
    per_dim = []
    for i, d in enumerate(dims):
        projection = {}
        for k, (name, size) in enumerate(targets.items()):
            error = float(model_error[i] * abs(t[k] - x[-1]) / step)
            noise = (float(low[k, i]), float(high[k, i]))
            projection[name] = {
                "size": size,
                "drop": float(np.clip(intercept[i] + slope[i] * t[k], -1.0, 1.0)),
                "drop_ci": widened(noise, error, widen),
                "noise_ci": list(noise),
                "model_error": error,
            }
        per_dim.append(
            DimGrowth(
                dim=d,
                drop=drop[:, :, i].mean(axis=2).tolist(),
                value=values[:, :, i].mean(axis=2).tolist(),
                intercept=float(intercept[i]),
                slope=float(slope[i]),
                projection=projection,
                backtest_error=float(line_error[i]),
                flat_backtest_error=float(flat_error[i]),
                model_error=float(model_error[i]),
            )
        )
    line_mean, flat_mean = float(np.mean(np.abs(line_error[below]))), float(np.mean(np.abs(flat_error[below])))
    return GrowthResult(
        metric=metric,
        fractions=list(settings.fractions),
        sizes=list(sizes),
        fit_sizes=list(sizes[use]),
        seeds=int(values.shape[0]),
        queries=n_queries,
        targets=dict(targets),
        confidence=settings.confidence,
        dims=per_dim,
        validation=validation,
        widen=float(widen),
        backtest={
            "fit_sizes": list(sizes[before]),
            "size": int(sizes[-1]),
            "line_mean_abs_error": line_mean,
            "flat_mean_abs_error": flat_mean,
            "better_than_flat": line_mean < flat_mean,
        },
    )


def _bootstrap_fits(drop: np.ndarray, x: np.ndarray, settings: GrowthSettings) -> np.ndarray:
    """(resamples, 2, dims) intercepts and slopes, each refitted on a redraw of the queries and of the seeds."""
    seeds, _, _, n_queries = drop.shape
    rng = np.random.default_rng(settings.seed)
    out = np.empty((settings.resamples, 2, drop.shape[2]))
    block = 200
    for start in range(0, settings.resamples, block):
        b = min(block, settings.resamples - start)
        q_weight = np.stack([np.bincount(rng.integers(0, n_queries, n_queries), minlength=n_queries) for _ in range(b)])
        s_weight = np.stack([np.bincount(rng.integers(0, seeds, seeds), minlength=seeds) for _ in range(b)])
        by_seed = np.einsum("bq,sxdq->bsxd", q_weight / n_queries, drop)
        curve = np.einsum("bs,bsxd->bxd", s_weight / seeds, by_seed)
        intercept, slope = _ols(x, curve)
        out[start : start + b, 0], out[start : start + b, 1] = intercept, slope
    return out


def extrapolation_note(result: GrowthResult) -> str:
    """The plain statement every growth output carries: an extrapolation, from which sizes, with what error."""
    far = max(result.targets.values()) / max(result.sizes)
    text = (
        f"Extrapolation, not a measurement: a line in log(corpus size) fitted to the {result.metric} drops on the "
        f"{len(result.fit_sizes)} largest subsamples ({min(result.fit_sizes):,} to {max(result.fit_sizes):,} "
        f"documents, {result.seeds} seed{'' if result.seeds == 1 else 's'}), projected to "
        + listed([f"{n:,}" for n in result.targets.values()])
        + f" documents ({listed([times(n / max(result.sizes)) for n in result.targets.values()])} the largest "
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
