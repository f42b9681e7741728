"""Run a sweep: check the settings, load the collection, get each model's full-size vectors once (precomputed, or
embedded through the cache), score every dim and cell, and return what a report needs.

The pipeline is the top of the house below the API: it calls data, providers, evaluate, methods, engines and
decide, and none of them imports it. Each part gets plain inputs: a collection, vectors, its own settings.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field, replace

from mrl_eval.data.collection import Collection
from mrl_eval.data.collection_files import check_trec_ids
from mrl_eval.data.pre_truncate import check_pre_truncate, pre_truncate
from mrl_eval.data.vectors import zero_vector_notes
from mrl_eval.errors import MrlEvalWarning, UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate import pseudo_queries as P
from mrl_eval.evaluate.dims import parse_dims, resolve_dims
from mrl_eval.evaluate.growth import GrowthResult, measure_growth
from mrl_eval.evaluate.per_query_losses import query_losses
from mrl_eval.evaluate.ray_search import cluster as ray_cluster
from mrl_eval.pipeline import mteb_results
from mrl_eval.pipeline.embed import embedded, precomputed
from mrl_eval.pipeline.load import check_data_settings, check_vectors_match, data_sources, load_data
from mrl_eval.pipeline.score import SweepResult, score_vectors
from mrl_eval.pipeline.settings import SweepConfig
from mrl_eval.progress import ProgressFactory, no_progress


@dataclass(frozen=True)
class SweepOutcome:
    """A finished sweep plus what it was run on: everything a report needs."""

    config: SweepConfig
    data_name: str
    data: dict[str, dict]  # role -> {"path", "sha256", "count"}
    model: dict  # provider, name, fingerprint, prompts, full_dim
    embedded_now: int  # texts sent to the model in this run (0 on a fully cached rerun)
    sweep: SweepResult
    losses: dict[int, list[dict]]  # dim -> queries that score lower than at the full dim, worst first
    queries_info: dict = field(default_factory=dict)  # {"kind": "pseudo", ...} for --queries-from-corpus
    growth: GrowthResult | None = None


def _judged(query_ids: list[str], qrels: dict[str, dict[str, int]], label_free: bool = False) -> list[str]:
    """The queries a run file will hold: those with judgments, or every query in a label-free run."""
    return list(query_ids) if label_free else [q for q in query_ids if qrels.get(q)]


def checked(config: SweepConfig) -> SweepConfig:
    """The settings checked before any slow work, with what they imply filled in: an MTEB task's main score and
    identical-ids rule, and for pseudo-queries the rule that a document never retrieves itself."""
    data = config.data
    check_data_settings(data)
    if data.mteb_task is not None:
        metrics, ignore = mteb_results.task_settings(
            data.mteb_task,
            split=data.split,
            subset=data.mteb_subset,
            metrics=config.metrics,
            ignore_identical_ids=config.ignore_identical_ids,
        )
        config = replace(config, metrics=metrics, ignore_identical_ids=ignore)
    requested = M.parse_metrics(list(config.metrics)) if config.metrics else []
    if data.is_pseudo:  # pseudo-queries have no judgments: label-free metrics only, and never the document itself
        M.choose_metrics(requested, has_qrels=False, required=config.loss_metric or None)
        config = replace(config, ignore_identical_ids=True)
    parse_dims(config.dims)
    check_pre_truncate(config.model.pre_truncate)
    config.grid.check()
    config.ray.check()
    config.engine.check()
    config.stats.check()
    return config


def run(config: SweepConfig, progress: ProgressFactory = no_progress) -> SweepOutcome:
    """Load the data, get full-size vectors (precomputed or embedded through the cache) and sweep the dims."""
    config = checked(config)
    data, model = config.data, config.model
    requested = M.parse_metrics(list(config.metrics)) if config.metrics else []
    needs_qrels = any(not M.is_label_free(m) for m in [*requested, config.loss_metric] if m)
    collection, data_name = load_data(
        data, require_texts=model.embeddings is None, require_qrels=needs_qrels and not data.is_pseudo
    )
    queries_info: dict = {}
    seed = config.stats.seed
    if data.is_pseudo:
        collection, queries_info = P.from_collection(
            collection, int(data.queries_from_corpus or 0), seed, embed=model.embeddings is None
        )
    metric_names = M.choose_metrics(requested, bool(collection.qrels), config.loss_metric or None)
    config = replace(config, metrics=tuple(metric_names))
    label_free = all(M.is_label_free(m) for m in metric_names)
    if config.engine.active and any(M.is_label_free(m) for m in metric_names):
        raise UsageError(
            "--engine faiss/pgvector scores qrels metrics only in this version; drop --engine for a label-free run"
        )
    session = ray_cluster(config.ray) if config.ray.active else contextlib.nullcontext(None)
    with session as ray_info:
        if model.embeddings is not None:
            vectors, about = precomputed(model)
            if data.is_pseudo:
                vectors, queries_info = P.from_vectors(vectors, int(data.queries_from_corpus or 0), seed)
            check_vectors_match(collection, vectors, model.embeddings)
            if config.save_runs is not None:
                check_trec_ids(_judged(vectors.query_ids, collection.qrels, label_free), vectors.doc_ids)
            embedded_now = 0
        else:
            if config.save_runs is not None:  # before the model runs
                check_trec_ids(_judged(collection.query_ids, collection.qrels, label_free), collection.doc_ids)
            vectors, about, embedded_now = embedded(model, collection, progress, ray=config.ray, ray_info=ray_info)
        vectors = pre_truncate(vectors, model.pre_truncate)
        about["pre_truncate"] = model.pre_truncate
        about["full_dim"] = vectors.full_dim
        dims = resolve_dims(config.dims, vectors.full_dim)
        for note in zero_vector_notes(vectors, dims):
            warnings.warn(note, MrlEvalWarning, stacklevel=2)
        result = score_vectors(
            vectors,
            collection.qrels,
            dims,
            metric_names,
            config.ignore_identical_ids,
            progress,
            config.stats,
            config.grid,
            config.ray,
            config.engine,
        )
    if ray_info is not None:
        about["scored_on"] = {"ray": ray_info}
    loss_metric = config.loss_metric if config.loss_metric in metric_names else metric_names[0]
    config = replace(config, loss_metric=loss_metric)
    losses = _losses(result, collection, loss_metric)
    growth = None
    if config.growth is not None:
        growth = measure_growth(
            vectors,
            collection.qrels,
            dims,
            metric_names,
            loss_metric,
            config.growth,
            exclude_self=data.is_pseudo,
            progress=progress,
        )
    sources = data_sources(collection, vectors)
    return SweepOutcome(config, data_name, sources, about, embedded_now, result, losses, queries_info, growth)


def _losses(result: SweepResult, collection: Collection, metric: str) -> dict[int, list[dict]]:
    texts = dict(zip(collection.query_ids, collection.query_texts))
    return query_losses(
        result.per_query,
        result.rankings,
        result.full_dim,
        result.query_ids,
        result.doc_ids,
        collection.qrels,
        texts,
        metric,
        k=10,
    )
