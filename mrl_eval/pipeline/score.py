"""Score one model's full-size vectors at every swept dim, then, when asked, every cell of the grid (precisions,
PCA, two-stage) and every cell inside an engine (FAISS, pgvector), all from the same vectors and queries."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mrl_eval.data.vectors import Vectors
from mrl_eval.engines import EngineResult, EngineSettings
from mrl_eval.engines.run import measure
from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.inputs import ScoringInputs
from mrl_eval.evaluate.ray_search import RaySettings, search_on_ray
from mrl_eval.evaluate.results import DimResult, dim_results
from mrl_eval.evaluate.retrieval import Ranking, search, tie_key
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.methods.grid import GridResult, GridSettings, evaluate_grid
from mrl_eval.progress import ProgressFactory, no_progress


@dataclass(frozen=True)
class SweepResult:
    full_dim: int
    results: list[DimResult]
    per_query: dict[int, dict[str, dict[str, float]]]  # dim -> metric -> query_id -> value
    query_ids: list[str]  # evaluated queries: the rows of every ranking
    queries_skipped: int
    doc_ids: list[str]
    rankings: dict[int, Ranking] = field(repr=False)
    grid: GridResult | None = None  # precisions, PCA, two-stage: only when asked for
    engine: EngineResult | None = None  # every cell inside FAISS or pgvector: only with --engine faiss|pgvector

    @property
    def queries_evaluated(self) -> int:
        return len(self.query_ids)


def scoring_inputs(
    vectors: Vectors, qrels: dict[str, dict[str, int]], metric_names: list[str], ignore_identical_ids: bool
) -> ScoringInputs:
    """The evaluated queries (those with judgments; every query in a label-free run) and what they score against."""
    needs_qrels = any(not M.is_label_free(m) for m in metric_names)
    rows = [i for i, qid in enumerate(vectors.query_ids) if qrels.get(qid) or not needs_qrels]
    if not rows:
        raise MrlEvalError("no query has relevance judgments; check that the qrels use the queries' ids")
    query_ids = [vectors.query_ids[i] for i in rows]
    exclude = None
    if ignore_identical_ids:
        position = {doc_id: i for i, doc_id in enumerate(vectors.doc_ids)}
        exclude = np.array([position.get(qid, -1) for qid in query_ids], dtype=np.int64)
    return ScoringInputs(
        docs=vectors.docs,
        queries=np.asarray(vectors.queries[rows], np.float32),
        doc_ids=list(vectors.doc_ids),
        query_ids=query_ids,
        qrels=qrels,
        metric_names=list(metric_names),
        doc_key=tie_key(vectors.doc_ids),
        exclude=exclude,
    )


def score_vectors(
    vectors: Vectors,
    qrels: dict[str, dict[str, int]],
    dims: list[int],
    metric_names: list[str],
    ignore_identical_ids: bool = False,
    progress: ProgressFactory = no_progress,
    stats: StatsSettings | None = None,
    grid: GridSettings | None = None,
    ray: RaySettings | None = None,
    engine: EngineSettings | None = None,
) -> SweepResult:
    """Score every dim in one pass over the corpus and compute each metric per query; then, if `grid` asks for
    more than float32 prefixes, every cell of the grid from the same vectors, and with an `engine`, every cell
    inside it. With `ray` active (inside `ray_search.cluster`), the pass runs as one Ray task per corpus shard, with
    identical rankings. Qrels metrics are evaluated on the judged queries; label-free ones alone on every query."""
    inputs = scoring_inputs(vectors, qrels, metric_names, ignore_identical_ids)
    if ray is not None and ray.active:
        rankings = search_on_ray(
            inputs.queries,
            inputs.docs,
            dims,
            inputs.k,
            inputs.doc_key,
            ray,
            exclude=inputs.exclude,
            on_progress=progress(f"Scoring {len(dims)} dims on Ray", inputs.n_docs),
        )
    else:
        rankings = search(
            inputs.queries,
            inputs.docs,
            dims,
            inputs.k,
            inputs.doc_key,
            exclude=inputs.exclude,
            on_progress=progress(f"Scoring {len(dims)} dims", inputs.n_docs),
        )
    full_dim = vectors.full_dim
    reference = rankings[full_dim].doc_index
    per_query = {
        d: M.score_ranking(inputs.query_ids, rankings[d].doc_index, inputs.doc_ids, qrels, metric_names, reference)
        for d in dims
    }
    results = dim_results(per_query, full_dim, inputs.query_ids, stats)
    grid_result = None
    if grid is not None and grid.active:
        grid_result = evaluate_grid(
            inputs, dims, grid, prefix_per_query=per_query, reference=reference, stats=stats, progress=progress
        )
    engine_result = None
    if engine is not None and engine.active:
        precisions = grid.precisions if grid is not None else ("float32",)
        engine_result = measure(
            engine,
            inputs,
            dims=dims,
            precisions=precisions,
            reference_per_query=per_query[full_dim],
            stats=stats,
            progress=progress,
        )
    skipped = len(vectors.query_ids) - len(inputs.query_ids)
    return SweepResult(
        full_dim, results, per_query, inputs.query_ids, skipped, inputs.doc_ids, rankings, grid_result, engine_result
    )
