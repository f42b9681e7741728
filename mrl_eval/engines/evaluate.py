"""Evaluate every cell inside an engine: quality against the qrels, neighbour recall, size, build time, latency.

The loop is the same for every engine (any `mrl_eval.engines.Engine`): for each dim and precision, build the
index once, search it at every efSearch one query at a time, and search the same codes exactly (the engine's flat
index or exact scan) for the neighbour-recall reference. Statistics are the sweep's own (`stats.summarize`): every
cell against exact full-dim float32 search, paired per query.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from mrl_eval.engines import RECALL_K, Engine, EngineCell, EngineResult, EngineSettings
from mrl_eval.errors import MrlEvalWarning
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.inputs import ScoringInputs
from mrl_eval.evaluate.stats import StatsSettings, summarize
from mrl_eval.methods.latency import machine
from mrl_eval.progress import ProgressFactory, no_progress

EXACT_LABEL = "exact:flat:{dim}:float32"


def order_ties(index: np.ndarray, score: np.ndarray, doc_key: np.ndarray) -> np.ndarray:
    """The engine's results re-sorted by score, equal scores by doc id descending (trec_eval's rule); -1 last."""
    key = np.where(index >= 0, doc_key[np.maximum(index, 0)], -1)
    order = np.lexsort((-key, -score), axis=-1)
    return np.take_along_axis(index, order, axis=1)


def drop_excluded(
    index: np.ndarray, score: np.ndarray, exclude: np.ndarray | None, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's excluded document (--ignore-identical-ids) and keep k columns."""
    if exclude is None:
        return index[:, :k], score[:, :k]
    out_i = np.full((index.shape[0], k), -1, np.int64)
    out_s = np.full((index.shape[0], k), -np.inf)
    for q in range(index.shape[0]):
        keep = (index[q] != exclude[q]) & (index[q] >= 0)
        i, s = index[q][keep][:k], score[q][keep][:k]
        out_i[q, : i.size], out_s[q, : s.size] = i, s
    return out_i, out_s


def short_lists(index: np.ndarray, exclude: np.ndarray | None, k: int, n_docs: int) -> int:
    """Queries with fewer than k results (fewer than the documents there are to return, when the corpus is smaller
    or a query's own document is excluded): an index that stops early returns short lists."""
    possible = np.full(index.shape[0], n_docs, np.int64)
    if exclude is not None:
        possible -= exclude >= 0
    return int(((index >= 0).sum(axis=1) < np.minimum(k, possible)).sum())


def warn_ef_below_k(engine_name: str, ef_search: Sequence[int], k: int, metric_names: Sequence[str]) -> None:
    """One line when a swept efSearch is below k: the index then explores fewer candidates than results asked for."""
    low = [ef for ef in ef_search if ef < k]
    if not low:
        return
    deepest = next((m for m in metric_names if M.max_depth([m]) == k), f"top {k}")
    warnings.warn(
        f"--ef-search {','.join(map(str, low))} is below k = {k} ({deepest}): {engine_name} then explores fewer "
        f"candidates than the {k} results asked for, so recall@{k} falls and some queries get fewer than {k} "
        f"results (the engine table's short lists); sweep --ef-search {k} or more to see the index at k",
        MrlEvalWarning,
        stacklevel=3,
    )


def neighbour_recall(score: np.ndarray, exact_score: np.ndarray, k: int = RECALL_K) -> float:
    """Mean share of the exact top k found in the engine's top k. A result counts when it scores at least the k-th
    exact score (ann-benchmarks' rule; scores of the same codes, so ties at the cut are not misses)."""
    k = min(k, exact_score.shape[1])
    if k == 0:
        return 1.0
    threshold = exact_score[:, k - 1 : k] - 1e-6 * np.maximum(1.0, np.abs(exact_score[:, k - 1 : k]))
    found = (score[:, :k] >= threshold).sum(axis=1)
    return float(np.mean(np.minimum(found, k) / k))


def evaluate_engine(
    engine: Engine,
    settings: EngineSettings,
    inputs: ScoringInputs,
    *,
    dims: Sequence[int],
    precisions: Sequence[str],
    reference_per_query: dict[str, dict[str, float]],
    stats: StatsSettings | None,
    progress: ProgressFactory = no_progress,
) -> EngineResult:
    """Every (index kind, dim, precision, efSearch) cell of `engine`; `reference_per_query` is exact full-dim search."""
    full_dim, doc_ids, query_ids = inputs.full_dim, inputs.doc_ids, inputs.query_ids
    qrels, metric_names, doc_key, exclude = inputs.qrels, inputs.metric_names, inputs.doc_key, inputs.exclude
    k = inputs.k
    depth = k + (1 if exclude is not None else 0)
    supported = [p for p in precisions if p in engine.precisions]
    plans = [(kind, d, p) for kind in settings.index_kinds for d in dims for p in supported]
    efs = list(settings.ef_search)
    if "hnsw" in settings.index_kinds:
        warn_ef_below_k(engine.name, efs, k, metric_names)
    advance = progress(f"Building and searching {len(plans)} {engine.name} indexes", len(plans))
    cells: list[dict] = []
    per_query: dict[str, dict[str, dict[str, float]]] = {}
    exact_cache: dict[tuple[int, str], np.ndarray] = {}

    def exact_scores(dim: int, precision: str) -> np.ndarray:
        if (dim, precision) not in exact_cache:
            index, score = engine.exact(dim, precision, depth)
            exact_cache[dim, precision] = drop_excluded(index, score, exclude, k)[1]
        return exact_cache[dim, precision]

    for kind, dim, precision in plans:
        built = engine.build(dim, precision, kind)
        variants = [(ef, 0) for ef in (efs if kind == "hnsw" else [None])]
        if settings.rerank and engine.reranks:
            variants += [(ef, settings.rerank) for ef in (efs if kind == "hnsw" else [None])]
        for ef, rerank in variants:
            index, score, seconds = engine.search(built, ef, depth, rerank)
            index, score = drop_excluded(index, score, exclude, k)
            reference = exact_scores(full_dim, "float32") if rerank else exact_scores(dim, precision)
            cell = dict(
                engine=engine.name,
                index=kind,
                dim=dim,
                precision=precision,
                ef_search=ef,
                rerank=rerank,
                neighbour_recall=neighbour_recall(score, reference),
                short_lists=short_lists(index, exclude, k, len(doc_ids)),
                index_bytes=built.size,
                build_seconds=built.seconds,
                latency_ms=(float(np.median(seconds) * 1e3), float(np.percentile(seconds, 95) * 1e3)),
                recipe=engine.recipe(dim, precision, kind, ef, rerank, k),
            )
            label = EngineCell(metrics={}, **cell).label
            ranking = order_ties(index, score, doc_key)
            per_query[label] = M.score_ranking(query_ids, ranking, doc_ids, qrels, metric_names)
            cells.append(cell)
        engine.drop(built)
        advance(1)

    reference = EXACT_LABEL.format(dim=full_dim)
    values = {reference: reference_per_query, **per_query}
    cell_stats = summarize(values, reference, query_ids, stats) if stats else {}
    result_cells = []
    for cell in cells:
        label = EngineCell(metrics={}, **cell).label
        means = {m: float(np.mean([per_query[label][m][q] for q in query_ids])) for m in metric_names}
        result_cells.append(EngineCell(metrics=means, stats=cell_stats.get(label, {}), **cell))
    return EngineResult(
        settings=settings,
        cells=result_cells,
        per_query=values,
        reference=reference,
        table_bytes=engine.table_bytes(),
        server=engine.version(),
        machine=machine(),
    )
