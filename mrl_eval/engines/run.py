"""Open the engine a sweep asked for, measure every cell in it, and close it (stopping a throwaway server)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mrl_eval.engines import EngineResult, EngineSettings
from mrl_eval.evaluate.stats import StatsSettings


def open_engine(settings: EngineSettings, docs: np.ndarray, queries: np.ndarray, doc_ids: Sequence[str]):
    # a missing extra is named by mrl_eval.extras.import_extra, inside each engine
    if settings.engine == "faiss":
        from mrl_eval.engines.faiss import FaissEngine

        FaissEngine.check_installed()
        return FaissEngine(docs, queries, m=settings.hnsw_m, ef_construction=settings.ef_construction)
    from mrl_eval.engines.pgvector import PgvectorEngine

    return PgvectorEngine.open(settings, docs, queries)


def measure(
    settings: EngineSettings,
    *,
    docs: np.ndarray,
    queries: np.ndarray,
    dims: Sequence[int],
    precisions: Sequence[str],
    doc_ids: list[str],
    query_ids: list[str],
    qrels: dict[str, dict[str, int]],
    metric_names: list[str],
    doc_key: np.ndarray,
    exclude: np.ndarray | None,
    reference_per_query: dict[str, dict[str, float]],
    stats: StatsSettings | None,
    progress: Callable[[str, int], Callable[[int], None]],
) -> EngineResult:
    from mrl_eval.engines.evaluate import evaluate_engine

    engine = open_engine(settings, docs, queries, doc_ids)
    try:
        return evaluate_engine(
            engine,
            settings,
            dims=dims,
            precisions=precisions,
            full_dim=docs.shape[1],
            doc_ids=doc_ids,
            query_ids=query_ids,
            qrels=qrels,
            metric_names=metric_names,
            doc_key=doc_key,
            exclude=exclude,
            reference_per_query=reference_per_query,
            stats=stats,
            progress=progress,
        )
    finally:
        engine.close()
