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
from mrl_eval.data.vectors import Vectors, rescale_extreme_rows, zero_vector_notes
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
from mrl_eval.pipeline.settings import ModelSettings, SweepConfig
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
    vectors: Vectors | None = field(default=None, repr=False, compare=False)  # the full-size vectors scored


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


@dataclass(frozen=True)
class Prepared:
    """What every model of a run shares: the checked settings, the collection and what it is called, the metrics,
    and for pseudo-queries how they were drawn."""

    config: SweepConfig
    collection: Collection
    data_name: str
    metric_names: list[str]
    queries_info: dict = field(default_factory=dict)

    @property
    def label_free(self) -> bool:
        return all(M.is_label_free(m) for m in self.metric_names)


def prepare(config: SweepConfig, *, embeds: bool = True) -> Prepared:
    """Check the settings and load the collection once (texts are needed when any model `embeds`)."""
    config = checked(config)
    data = config.data
    requested = M.parse_metrics(list(config.metrics)) if config.metrics else []
    needs_qrels = any(not M.is_label_free(m) for m in [*requested, config.loss_metric] if m)
    collection, data_name = load_data(
        data,
        require_texts=embeds,
        require_qrels=needs_qrels and not data.is_pseudo,
        label_free_chosen=bool(requested or config.loss_metric or data.is_pseudo),
    )
    queries_info: dict = {}
    if data.is_pseudo:
        collection, queries_info = P.from_collection(
            collection, int(data.queries_from_corpus or 0), config.stats.seed, embed=embeds
        )
    metric_names = M.choose_metrics(requested, bool(collection.qrels), config.loss_metric or None)
    config = replace(config, metrics=tuple(metric_names))
    if config.engine.active and any(M.is_label_free(m) for m in metric_names):
        raise UsageError(
            f"--engine {config.engine.engine} scores qrels metrics only in this version; drop --engine for a "
            "label-free run"
        )
    return Prepared(config, collection, data_name, metric_names, queries_info)


def run(config: SweepConfig, progress: ProgressFactory = no_progress) -> SweepOutcome:
    """Load the data, get full-size vectors (precomputed or embedded through the cache) and sweep the dims."""
    return run_model(prepare(config, embeds=config.model.embeddings is None), config.model, progress)


def run_model(
    prepared: Prepared, model: ModelSettings, progress: ProgressFactory = no_progress, *, skip_larger_dims: bool = False
) -> SweepOutcome:
    """One model's sweep on a prepared collection: its full-size vectors (precomputed or embedded through the
    cache), every dim and cell scored. With `skip_larger_dims` (a run of several models), absolute `--dims` above
    this model's full dim are left out with a warning instead of refused."""
    config = replace(prepared.config, model=model)
    check_pre_truncate(model.pre_truncate)
    data, collection, metric_names = config.data, prepared.collection, prepared.metric_names
    queries_info, seed = prepared.queries_info, config.stats.seed
    session = ray_cluster(config.ray) if config.ray.active else contextlib.nullcontext(None)
    with session as ray_info:
        if model.embeddings is not None:
            vectors, about = precomputed(model)
            if data.is_pseudo:
                vectors, queries_info = P.from_vectors(vectors, int(data.queries_from_corpus or 0), seed)
            collection = check_vectors_match(collection, vectors, model.embeddings, data.unknown_docs)
            if config.save_runs is not None:
                check_trec_ids(_judged(vectors.query_ids, collection.qrels, prepared.label_free), vectors.doc_ids)
            embedded_now = 0
        else:
            if config.save_runs is not None:  # before the model runs
                check_trec_ids(_judged(collection.query_ids, collection.qrels, prepared.label_free), collection.doc_ids)
            vectors, about, embedded_now = embedded(
                model,
                collection,
                progress,
                ray=config.ray,
                ray_info=ray_info,
                check_full_dim=lambda full: _dims(config.dims, full, skip_larger_dims, about_model=model),
            )
        vectors = pre_truncate(vectors, model.pre_truncate)
        vectors, notes = rescale_extreme_rows(vectors)
        about["pre_truncate"] = model.pre_truncate
        about["full_dim"] = vectors.full_dim
        dims = _dims(config.dims, vectors.full_dim, skip_larger_dims, about_model=model, warn=True)
        for note in [*notes, *zero_vector_notes(vectors, dims)]:
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
    return SweepOutcome(
        config, prepared.data_name, sources, about, embedded_now, result, losses, queries_info, growth, vectors
    )


def _dims(
    spec: str | None, full_dim: int, skip_larger: bool, *, about_model: ModelSettings, warn: bool = False
) -> list[int]:
    """The model's swept dims: refused when an absolute dim is above its full dim, or with `skip_larger` (several
    models) left out for this model, with a warning once the vectors are in."""
    if not skip_larger:
        return resolve_dims(spec, full_dim)
    dims, skipped = resolve_dims(spec, full_dim, skip_larger=True)
    if skipped and warn:
        name = about_model.model or (about_model.embeddings.name if about_model.embeddings else "the model")
        warnings.warn(
            f"--dims {', '.join(map(str, skipped))}: above {name}'s full dim {full_dim}; left out for that model",
            MrlEvalWarning,
            stacklevel=3,
        )
    return dims


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
