"""Open the engine a sweep asked for, measure every cell in it, and close it (stopping a throwaway server)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mrl_eval.engines import EngineResult, EngineSettings
from mrl_eval.engines.evaluate import evaluate_engine
from mrl_eval.evaluate.inputs import ScoringInputs
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.progress import ProgressFactory, no_progress


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
    inputs: ScoringInputs,
    *,
    dims: Sequence[int],
    precisions: Sequence[str],
    reference_per_query: dict[str, dict[str, float]],
    stats: StatsSettings | None,
    progress: ProgressFactory = no_progress,
) -> EngineResult:
    """Every cell of `inputs` inside the engine `settings` name; `reference_per_query` is exact full-dim search."""
    engine = open_engine(settings, inputs.docs, inputs.queries, inputs.doc_ids)
    try:
        return evaluate_engine(
            engine,
            settings,
            inputs,
            dims=dims,
            precisions=precisions,
            reference_per_query=reference_per_query,
            stats=stats,
            progress=progress,
        )
    finally:
        engine.close()
