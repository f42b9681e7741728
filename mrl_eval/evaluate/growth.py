"""Quality as the corpus grows (`--growth`): every dim on nested subsamples, a fit against log(corpus size), and a
projection to the sizes of `--scale`.

With more documents there are more near-misses, and a shorter prefix separates them less well, so a dim's loss
against the full dim tends to grow with the corpus. What is measured:

- subsamples: every judged document is kept (a query's relevant documents must stay findable) and the rest is
  sampled at the fractions 1/16, 1/8, 1/4, 1/2 and 1; for one seed the subsamples are nested (each is the judged
  documents plus a prefix of one seeded permutation of the rest), and `seeds` seeds give independent chains. The
  full corpus is the same for every seed and is scored once.
- on each subsample every dim is scored exactly as the sweep scores it, per query; `drop` is the full dim's value
  minus the dim's on the same subsample and query (paired), for the metric the projection is about.
- fit: per dim, ordinary least squares of the mean drop (over seeds and queries) on ln(corpus size), over the
  measured sizes (`fit_fractions`).
- projection: the fitted line at each target size (clipped to [-1, 1], where a drop lies). The interval is a percentile bootstrap (`resamples`) that
  redraws the queries and the seeds with replacement and refits, so it carries the fit's own uncertainty and the
  query and subsample noise. It does not carry the error of the log-linear form itself when extrapolated far: that
  is measured on real collections (scripts/make_growth_validation.py, docs/growth.md) and reported beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources

import numpy as np

from mrl_eval.data.vectors import Vectors
from mrl_eval.errors import UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.retrieval import search, tie_key
from mrl_eval.evaluate.scales import parse_scales

FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)


@dataclass(frozen=True)
class GrowthSettings:
    seeds: int = 5
    scale: str | None = None  # projection targets, written as --scale (default 1M and 10M)
    fractions: tuple[float, ...] = FRACTIONS
    fit_fractions: tuple[float, ...] = FRACTIONS  # the validation fits on those up to 1/2
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0

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


@dataclass(frozen=True)
class DimGrowth:
    dim: int
    drop: list[list[float]]  # [seed][size]: mean over queries of full-dim value minus this dim's
    value: list[list[float]]  # [seed][size]: mean over queries of this dim's value
    intercept: float  # drop = intercept + slope * ln(size)
    slope: float
    projection: dict[str, dict[str, float | list[float]]]  # target -> {"size", "drop", "drop_ci"}


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
) -> GrowthResult:
    """Score every dim on the nested subsamples and fit and project the drop in `metric` (see the module doc)."""
    values, sizes, query_ids = score_subsamples(
        vectors, qrels, dims, metric_names, settings, exclude_self=exclude_self, progress=progress
    )
    return fit_growth(values[metric], sizes, dims, settings, metric=metric, n_queries=len(query_ids))


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
    needs_qrels = any(not M.is_label_free(m) for m in metric_names)
    rows = [i for i, q in enumerate(vectors.query_ids) if qrels.get(q) or not needs_qrels]
    query_ids = [vectors.query_ids[i] for i in rows]
    queries = np.asarray(vectors.queries[rows], np.float32)
    position = {doc_id: i for i, doc_id in enumerate(vectors.doc_ids)}
    judged = sorted({position[d] for q in query_ids for d in qrels.get(q, {}) if d in position})
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
        subsamples = nested_subsamples(n_docs, np.asarray(judged, np.int64), settings.fractions, settings.seed + seed)
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


def fit_growth(
    values: np.ndarray,
    sizes: list[int],
    dims: list[int],
    settings: GrowthSettings,
    *,
    metric: str,
    n_queries: int,
) -> GrowthResult:
    """Fit the drop against ln(size) on the `fit_fractions` sizes and project it, with its bootstrap interval.
    `values` is (seeds, sizes, dims, queries) of `metric`; the last dim is the full dim."""
    drop = values[:, :, -1:, :] - values  # paired per query: full dim minus each dim, same subsample
    use = [j for j, f in enumerate(settings.fractions) if any(abs(f - g) < 1e-12 for g in settings.fit_fractions)]
    if len(use) < 2:
        raise UsageError("--growth: the fit needs at least two corpus sizes")
    x = np.log(np.asarray(sizes, np.float64)[use])
    curve = drop[:, use].mean(axis=(0, 3))  # (sizes, dims)
    intercept, slope = _ols(x, curve)
    targets = settings.targets
    t = np.log(np.asarray(list(targets.values()), np.float64))
    boot = _bootstrap_fits(drop[:, use], x, settings)  # (resamples, 2, dims)
    predicted = boot[:, 0, None, :] + boot[:, 1, None, :] * t[None, :, None]  # (resamples, targets, dims)
    tail = (1 - settings.confidence) / 2
    low, high = np.clip(np.quantile(predicted, [tail, 1 - tail], axis=0), -1.0, 1.0)  # a drop lies in [-1, 1]
    per_dim = []
    for i, d in enumerate(dims):
        projection = {
            name: {
                "size": size,
                "drop": float(np.clip(intercept[i] + slope[i] * np.log(size), -1.0, 1.0)),
                "drop_ci": [float(low[k, i]), float(high[k, i])],
            }
            for k, (name, size) in enumerate(targets.items())
        }
        per_dim.append(
            DimGrowth(
                dim=d,
                drop=drop[:, :, i].mean(axis=2).tolist(),
                value=values[:, :, i].mean(axis=2).tolist(),
                intercept=float(intercept[i]),
                slope=float(slope[i]),
                projection=projection,
            )
        )
    return GrowthResult(
        metric=metric,
        fractions=list(settings.fractions),
        sizes=list(sizes),
        fit_sizes=[sizes[j] for j in use],
        seeds=int(values.shape[0]),
        queries=n_queries,
        targets=dict(targets),
        confidence=settings.confidence,
        dims=per_dim,
        validation=published_validation(metric),
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


def published_validation(metric: str) -> dict:
    """The projection's measured error for `metric` on the shared collections (written by
    scripts/make_growth_validation.py), or {} where it was not validated."""
    try:
        text = resources.files("mrl_eval.evaluate").joinpath("growth_validation.json").read_text(encoding="utf-8")
        document = json.loads(text)
        entry = document["by_metric"].get(metric)
        return {**entry, "collections": document["collections"]} if entry else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def extrapolation_note(result: GrowthResult) -> str:
    """The plain statement every growth output carries: an extrapolation, from which sizes, with what error."""
    low, high = min(result.fit_sizes), max(result.fit_sizes)
    far = max(result.targets.values()) / high
    text = (
        f"Extrapolation, not a measurement: a line in log(corpus size) fitted to {result.metric} drops measured on "
        f"{low:,} to {high:,} documents ({result.seeds} seeds), projected to "
        + ", ".join(f"{n:,}" for n in result.targets.values())
        + f" documents ({far:,.0f}x beyond the largest measured size). The interval covers query, subsample and "
        "fit noise, not the error of the straight-line form itself."
    )
    v = result.validation
    if not v:
        return text + (
            f" This projection has not been validated for {result.metric} on real collections (docs/growth.md "
            "validates ndcg@10 and overlap@10): treat it as unvalidated."
        )
    if not v.get("ships"):
        text += f" On real collections it failed its validation for {result.metric}: treat it as unvalidated."
    if v:
        text += (
            f" Measured on {v['cases']} real cases ({v['collections']}): fitted up to 1/2 of the corpus and "
            f"projected {v['extrapolation']} to the full corpus, the projected drop was off by "
            f"{v['median_abs_error']:.3f} on median and {v['max_abs_error']:.3f} at most, and the interval held "
            f"the measured drop in {v['coverage']:.0%} of cases (docs/growth.md)."
        )
        far_v = v.get("farther")
        if far_v:
            text += (
                f" Projected {far_v['extrapolation']}, the median error grew to {far_v['median_abs_error']:.3f} "
                f"(max {far_v['max_abs_error']:.3f}), against {far_v['flat_median_abs_error']:.3f} for assuming no "
                "growth at all: errors grow with the distance extrapolated, and nothing was validated near "
                f"{far:,.0f}x."
            )
    return text
