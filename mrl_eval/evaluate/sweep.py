"""Embed once at full size, then evaluate every swept dimension from the same vectors."""

from __future__ import annotations

import contextlib
import hashlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from mrl_eval.data.collection import Collection
from mrl_eval.data.collections import check_qrels, check_trec_ids, load_collection
from mrl_eval.data.pre_truncate import check_pre_truncate, pre_truncate
from mrl_eval.data.vectors import Vectors, load_vectors, read_model_info, zero_vector_notes
from mrl_eval.engines import EngineResult, EngineSettings
from mrl_eval.errors import MrlEvalError, MrlEvalWarning, UsageError, raise_problems
from mrl_eval.evaluate import metrics as M
from mrl_eval.evaluate import pseudo_queries as P
from mrl_eval.evaluate.fidelity import choose_metrics, is_label_free, score_ranking
from mrl_eval.evaluate.growth import GrowthResult, GrowthSettings
from mrl_eval.evaluate.per_query_losses import query_losses
from mrl_eval.evaluate.ray_search import RaySettings
from mrl_eval.evaluate.ray_search import cluster as ray_cluster
from mrl_eval.evaluate.retrieval import Ranking, search, tie_key
from mrl_eval.evaluate.stats import MetricStats, StatsSettings, summarize
from mrl_eval.limits import whole_number
from mrl_eval.methods.grid import GridResult, GridSettings

DEFAULT_DIMS = "25%,50%,100%"
BYTES_PER_FLOAT32 = 4

# progress(label, total) -> advance(n): the CLI draws it; the core only reports.
ProgressFactory = Callable[[str, int], Callable[[int], None]]


def _no_progress(label: str, total: int) -> Callable[[int], None]:
    return lambda n: None


def sample_data_dir() -> Path:
    """The bundled Cranfield collection: inside the installed package, or at the root of a source checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "sample_data" / "cranfield", package.parent / "sample_data" / "cranfield"):
        if (candidate / "corpus.jsonl").is_file():
            return candidate
    raise MrlEvalError("the bundled sample data is missing from this install; pass a data folder")


def parse_dims(spec: str | None) -> list[tuple[str, float]]:
    """'64,128,25%' -> [('abs', 64), ('abs', 128), ('pct', 25.0)]; anything else is a usage error."""
    items = []
    for raw in (spec or DEFAULT_DIMS).split(","):
        token = raw.strip()
        pct = token.endswith("%")
        number = token[:-1].strip() if pct else token
        if not re.fullmatch(r"\d+(\.\d+)?" if pct else r"\d+", number or "x") or float(number) <= 0:
            raise UsageError(
                f"--dims: {token!r} is not a positive whole number of dims or a percentage; "
                "use e.g. --dims 64,128,25%,50%"
            )
        if pct and float(number) > 100:
            raise UsageError(f"--dims: {token!r} is over 100% of the full dim")
        items.append(("pct", float(number)) if pct else ("abs", whole_number(number, "--dims")))
    return items


def resolve_dims(spec: str | None, full_dim: int) -> list[int]:
    """Sorted distinct dims; percentages round to the nearest dim (at least 1); the full dim is always in."""
    dims = {full_dim}
    for kind, value in parse_dims(spec):
        dim = max(1, int(value * full_dim / 100 + 0.5)) if kind == "pct" else int(value)
        if dim > full_dim:
            raise UsageError(f"--dims: {dim} is larger than the model's full dim {full_dim}")
        dims.add(dim)
    return sorted(dims)


@dataclass(frozen=True)
class DimResult:
    dim: int
    fraction: float
    bytes_per_vector: int
    metrics: dict[str, float]  # mean over the evaluated queries
    stats: dict[str, MetricStats] = field(default_factory=dict)  # CIs and the paired comparison with the full dim
    precision: str = "float32"  # the sweep's own results; other precisions and PCA are grid cells (grid.py)
    method: str = "prefix"


def dim_results(
    per_query: dict[int, dict[str, dict[str, float]]],
    full_dim: int,
    query_ids: list[str],
    settings: StatsSettings | None = None,
) -> list[DimResult]:
    """Means over `query_ids` for every dim and metric, with their statistics when `settings` are given."""
    stats = summarize(per_query, full_dim, query_ids, settings) if settings else {}
    return [
        DimResult(
            dim=dim,
            fraction=round(dim / full_dim, 6),
            bytes_per_vector=dim * BYTES_PER_FLOAT32,
            metrics={m: float(np.mean([values[q] for q in query_ids])) for m, values in per_query[dim].items()},
            stats=stats.get(dim, {}),
        )
        for dim in sorted(per_query)
    ]


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


def evaluate(
    vectors: Vectors,
    qrels: dict[str, dict[str, int]],
    dims: list[int],
    metric_names: list[str],
    ignore_identical_ids: bool = False,
    progress: ProgressFactory = _no_progress,
    stats: StatsSettings | None = None,
    grid: GridSettings | None = None,
    ray: RaySettings | None = None,
    engine: EngineSettings | None = None,
) -> SweepResult:
    """Score every dim in one pass over the corpus and compute each metric per query; then, if `grid` asks for
    more than float32 prefixes, every cell of the grid from the same vectors. With `ray` active (inside
    `ray_search.cluster`), the pass runs as one Ray task per corpus shard, with identical rankings. Qrels metrics are
    evaluated on the judged queries; label-free ones alone (fidelity.py) on every query."""
    needs_qrels = any(not is_label_free(m) for m in metric_names)
    rows = [i for i, qid in enumerate(vectors.query_ids) if qrels.get(qid) or not needs_qrels]
    query_ids = [vectors.query_ids[i] for i in rows]
    if not rows:
        raise MrlEvalError("no query has relevance judgments; check that the qrels use the queries' ids")
    exclude = None
    if ignore_identical_ids:
        position = {doc_id: i for i, doc_id in enumerate(vectors.doc_ids)}
        exclude = np.array([position.get(qid, -1) for qid in query_ids], dtype=np.int64)
    if ray is not None and ray.active:
        from mrl_eval.evaluate.ray_search import search_on_ray

        rankings = search_on_ray(
            vectors.queries[rows],
            vectors.docs,
            dims,
            M.max_depth(metric_names),
            tie_key(vectors.doc_ids),
            ray,
            exclude=exclude,
            on_progress=progress(f"Scoring {len(dims)} dims on Ray", vectors.docs.shape[0]),
        )
    else:
        rankings = search(
            vectors.queries[rows],
            vectors.docs,
            dims,
            M.max_depth(metric_names),
            tie_key(vectors.doc_ids),
            exclude=exclude,
            on_progress=progress(f"Scoring {len(dims)} dims", vectors.docs.shape[0]),
        )
    full_dim = vectors.full_dim
    reference = rankings[full_dim].doc_index
    per_query = {
        d: score_ranking(query_ids, rankings[d].doc_index, vectors.doc_ids, qrels, metric_names, reference)
        for d in dims
    }
    results = dim_results(per_query, full_dim, query_ids, stats)
    skipped = len(vectors.query_ids) - len(rows)
    grid_result = None
    if grid is not None and grid.active:
        from mrl_eval.methods.grid import evaluate_grid

        full_top = reference[:, : min(10, reference.shape[1])]
        grid_result = evaluate_grid(
            vectors.docs,
            np.asarray(vectors.queries[rows], np.float32),
            list(vectors.doc_ids),
            query_ids,
            qrels,
            dims,
            metric_names,
            tie_key(vectors.doc_ids),
            exclude,
            per_query,
            full_top,
            grid,
            stats,
            progress,
            reference,
        )
    engine_result = None
    if engine is not None and engine.active:
        from mrl_eval.engines.run import measure

        engine_result = measure(
            engine,
            docs=vectors.docs,
            queries=np.asarray(vectors.queries[rows], np.float32),
            dims=dims,
            precisions=grid.precisions if grid is not None else ("float32",),
            doc_ids=list(vectors.doc_ids),
            query_ids=query_ids,
            qrels=qrels,
            metric_names=metric_names,
            doc_key=tie_key(vectors.doc_ids),
            exclude=exclude,
            reference_per_query=per_query[full_dim],
            stats=stats,
            progress=progress,
        )
    return SweepResult(
        full_dim, results, per_query, query_ids, skipped, list(vectors.doc_ids), rankings, grid_result, engine_result
    )


def _fingerprint(source: str) -> dict[str, str]:
    """A data file's sha256; an MTEB task's data ("mteb:Task@revision/...") is pinned by the revision in its name."""
    return {} if source.startswith("mteb:") else {"sha256": file_fingerprint(Path(source))}


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


@dataclass(frozen=True)
class SweepConfig:
    data: Path | None = None
    corpus: Path | None = None
    queries: Path | None = None
    qrels: Path | None = None
    split: str = "test"
    id_column: str = "_id"
    text_column: str = "text"
    title_column: str = "title"
    mteb_task: str | None = None  # an MTEB retrieval task instead of DATA: loaded by mteb (see mteb_tasks.py)
    mteb_subset: str | None = None
    mteb_data: Path | None = None  # a local copy of the task's dataset repo, for offline use
    embeddings: Path | None = None
    provider: str = "sentence-transformers"
    model: str | None = None
    query_prompt: str | None = None
    doc_prompt: str | None = None
    query_prompt_name: str | None = None
    doc_prompt_name: str | None = None
    batch_size: int | None = None
    device: str | None = None
    trust_remote_code: bool = False  # run the model folder's own Python code (sentence-transformers)
    backend: str | None = None  # sentence-transformers: torch (None), onnx or openvino
    # --provider openai (None: not given, the provider's default); the key itself is never a setting
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int | None = None
    max_retries: int | None = None
    timeout: float | None = None  # seconds to wait for an answer
    on_long_input: str | None = None
    max_cost: float | None = None
    price_per_1m_tokens: tuple[str, ...] | None = None  # "MODEL=PRICE": US dollars per million input tokens
    pre_truncate: str = "none"  # "layernorm": nomic-embed-text-v1.5's layer norm before the prefix (pre_truncate.py)
    cache_dir: Path | None = None
    cache_dtype: str = "float32"
    dims: str | None = None
    metrics: tuple[str, ...] = ()  # () = the mode's defaults: M.DEFAULT_METRICS with qrels, label-free ones without
    ignore_identical_ids: bool = False
    stats: StatsSettings = field(default_factory=StatsSettings)
    loss_metric: str = ""  # "" = the first metric; a recommend rule's metric is always computed
    grid: GridSettings = field(default_factory=GridSettings)
    ray: RaySettings = field(default_factory=RaySettings)
    save_runs: Path | None = None  # written by report.write_trec_runs; here only to check the ids before any work
    engine: EngineSettings = field(default_factory=EngineSettings)
    queries_from_corpus: int | None = None  # pseudo-queries: passages of N sampled documents (pseudo_queries.py)
    growth: GrowthSettings | None = None  # nested corpus subsamples, fit, projection (growth.py)


@dataclass(frozen=True)
class SweepRun:
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


def _load_data(config: SweepConfig, require_qrels: bool = True) -> tuple[Collection, str]:
    """The collection and its name; qrels optional in label-free mode, queries in pseudo-query mode."""
    if config.mteb_task is not None:
        from mrl_eval.data.mteb_tasks import load_task_collection

        return load_task_collection(config)
    explicit = config.corpus or config.queries or config.qrels
    folder = config.data if (config.data or explicit) else sample_data_dir()
    collection = load_collection(
        folder,
        corpus=config.corpus,
        queries=config.queries,
        qrels=config.qrels,
        split=config.split,
        id_column=config.id_column,
        text_column=config.text_column,
        title_column=config.title_column,
        require_texts=config.embeddings is None,
        require_qrels=require_qrels,
        require_queries=config.queries_from_corpus is None,
    )
    name = folder.name if folder else Path(next(iter(collection.sources.values()))).stem
    return collection, name


def _provider_options(config: SweepConfig) -> dict:
    """The providers' keyword arguments from the config (None: not given)."""
    return {
        "query_prompt": config.query_prompt,
        "doc_prompt": config.doc_prompt,
        "query_prompt_name": config.query_prompt_name,
        "doc_prompt_name": config.doc_prompt_name,
        "batch_size": config.batch_size,
        "device": config.device,
        "trust_remote_code": config.trust_remote_code or None,  # None: not given (an openai run may leave it off)
        "backend": config.backend,
        "base_url": config.base_url,
        "api_key_env": config.api_key_env,
        "concurrency": config.concurrency,
        "max_retries": config.max_retries,
        "timeout": config.timeout,
        "on_long_input": config.on_long_input,
        "max_cost": config.max_cost,
        "price_per_1m_tokens": tuple(config.price_per_1m_tokens or ()) or None,
    }


def _embed(
    config: SweepConfig, collection: Collection, progress: ProgressFactory, ray_info: dict | None = None
) -> tuple[Vectors, dict, int]:
    from mrl_eval.data.cache import default_cache_dir, embed_cached, missing_texts
    from mrl_eval.providers import get_provider

    options = _provider_options(config)
    cache_dir = config.cache_dir or default_cache_dir()
    provider = get_provider(config.provider, config.model, cache_dir=cache_dir, **dict(options))  # a copy: it pops
    on_ray = 0
    if ray_info is not None:  # the cluster fills the cache; the single-machine path below then finds it full
        from mrl_eval.data.ray_embed import fill_cache

        workers = config.ray.workers or (
            int(ray_info["gpus"] // config.ray.gpus_per_worker) if config.ray.gpus_per_worker else ray_info["cpus"]
        )
        for role, texts in (("document", collection.doc_texts), ("query", collection.query_texts)):
            on_ray += fill_cache(
                provider,
                (config.provider, config.model, options),
                texts,
                role,
                cache_dir,
                config.cache_dtype,
                workers=max(1, workers),
                gpus_per_worker=config.ray.gpus_per_worker,
                progress=progress,
            )
    if hasattr(provider, "preflight"):  # a paid API: check inputs and estimate the cost before any request
        roles = (("document", collection.doc_texts), ("query", collection.query_texts))
        pending = {r: missing_texts(provider, t, r, cache_dir, config.cache_dtype) for r, t in roles}
        provider.preflight(pending, every=dict(roles))  # every: the cost of the whole collection too
    docs, n_docs = embed_cached(
        provider,
        collection.doc_texts,
        "document",
        cache_dir,
        progress("Embedding documents", len(collection.doc_texts)),
        config.cache_dtype,
    )
    queries, n_queries = embed_cached(
        provider,
        collection.query_texts,
        "query",
        cache_dir,
        progress("Embedding queries", len(collection.query_texts)),
        config.cache_dtype,
    )
    model = {
        "provider": provider.name,
        "name": provider.model,
        "fingerprint": provider.fingerprint,
        "prompts": {"query": provider.prompt("query"), "document": provider.prompt("document")},
        "cache_dtype": config.cache_dtype,
        **(provider.info() if hasattr(provider, "info") else {}),  # an API's endpoint, cost estimate, requests
    }
    vectors = Vectors(list(collection.doc_ids), docs, list(collection.query_ids), np.asarray(queries, np.float32))
    return vectors, model, on_ray + n_docs + n_queries


def _check_vectors_match(collection: Collection, vectors: Vectors, folder: Path) -> None:
    problems = check_qrels(collection.qrels, vectors.query_ids, vectors.doc_ids, collection.sources.get("qrels", ""))
    vector_ids, corpus_ids = set(vectors.doc_ids), set(collection.doc_ids)
    if collection.doc_ids and corpus_ids != vector_ids:
        only_corpus = [d for d in collection.doc_ids if d not in vector_ids]
        only_vectors = sorted(vector_ids - corpus_ids)
        problems.append(
            f"{folder / 'corpus_ids.txt'}: does not list the same documents as {collection.sources['corpus']} "
            f"({len(only_corpus)} only in the corpus, e.g. {only_corpus[:3]}; {len(only_vectors)} only in the "
            f"vectors, e.g. {only_vectors[:3]})"
        )
    raise_problems(problems, "The vectors do not match the data", "Embed the same corpus and queries, or fix the ids.")


def _judged(query_ids: list[str], qrels: dict[str, dict[str, int]], label_free: bool = False) -> list[str]:
    """The queries a run file will hold: those with judgments, or every query in a label-free run."""
    return list(query_ids) if label_free else [q for q in query_ids if qrels.get(q)]


def run(config: SweepConfig, progress: ProgressFactory = _no_progress) -> SweepRun:
    """Load the data, get full-size vectors (precomputed or embedded through the cache) and sweep the dims."""
    if config.mteb_task is not None or config.mteb_subset is not None or config.mteb_data is not None:
        from mrl_eval.data.mteb_tasks import apply_task_settings

        config = apply_task_settings(config)  # the task's main score and identical-ids rule, as MTEB scores it
    requested = M.parse_metrics(list(config.metrics)) if config.metrics else []
    pseudo = config.queries_from_corpus is not None
    if pseudo:  # pseudo-queries have no judgments: label-free metrics only, and never the document itself
        choose_metrics(requested, has_qrels=False, required=config.loss_metric or None)
        config = replace(config, ignore_identical_ids=True)
    parse_dims(config.dims)  # usage errors before any slow work
    check_pre_truncate(config.pre_truncate)
    config.grid.check()
    config.ray.check()
    config.engine.check()
    needs_qrels = any(not is_label_free(m) for m in [*requested, config.loss_metric] if m)
    collection, data_name = _load_data(config, require_qrels=needs_qrels and not pseudo)
    queries_info: dict = {}
    if pseudo:
        n, seed = int(config.queries_from_corpus or 0), config.stats.seed
        collection, queries_info = P.from_collection(collection, n, seed, embed=config.embeddings is None)
    metric_names = choose_metrics(requested, bool(collection.qrels), config.loss_metric or None)
    config = replace(config, metrics=tuple(metric_names))
    label_free = all(is_label_free(m) for m in metric_names)
    if config.engine.active and any(is_label_free(m) for m in metric_names):
        raise UsageError(
            "--engine faiss/pgvector scores qrels metrics only in this version; drop --engine for a label-free run"
        )
    session = ray_cluster(config.ray) if config.ray.active else contextlib.nullcontext(None)
    with session as ray_info:
        if config.embeddings is not None:
            vectors = load_vectors(config.embeddings)
            if pseudo:
                vectors, queries_info = P.from_vectors(vectors, n, seed)
            _check_vectors_match(collection, vectors, config.embeddings)
            if config.save_runs is not None:
                check_trec_ids(_judged(vectors.query_ids, collection.qrels, label_free), vectors.doc_ids)
            info = read_model_info(config.embeddings)
            model = {
                "provider": "precomputed",
                "name": str(info.get("model") or config.embeddings.name),
                "fingerprint": file_fingerprint(config.embeddings / "corpus.npy"),
                "path": str(config.embeddings),
            }
            embedded_now = 0
        else:
            if config.save_runs is not None:  # before the model runs
                check_trec_ids(_judged(collection.query_ids, collection.qrels, label_free), collection.doc_ids)
            vectors, model, embedded_now = _embed(config, collection, progress, ray_info)
        vectors = pre_truncate(vectors, config.pre_truncate)
        model["pre_truncate"] = config.pre_truncate
        model["full_dim"] = vectors.full_dim
        dims = resolve_dims(config.dims, vectors.full_dim)
        for note in zero_vector_notes(vectors, dims):
            warnings.warn(note, MrlEvalWarning, stacklevel=2)
        result = evaluate(
            vectors,
            collection.qrels,
            dims,
            metric_names,
            config.ignore_identical_ids,
            progress,
            config.stats.check(),
            config.grid,
            config.ray,
            config.engine.check(),
        )
    if ray_info is not None:
        model["scored_on"] = {"ray": ray_info}
    loss_metric = config.loss_metric if config.loss_metric in metric_names else metric_names[0]
    config = replace(config, loss_metric=loss_metric)
    texts = dict(zip(collection.query_ids, collection.query_texts))
    losses = query_losses(result, collection.qrels, texts, loss_metric, k=10)
    growth = None
    if config.growth is not None:
        from mrl_eval.evaluate.growth import measure_growth

        growth = measure_growth(
            vectors,
            collection.qrels,
            dims,
            metric_names,
            loss_metric,
            config.growth,
            exclude_self=pseudo,
            progress=progress,
        )
    counts = {
        "corpus": len(vectors.doc_ids),
        "queries": len(vectors.query_ids),
        "qrels": sum(map(len, collection.qrels.values())),
    }
    data = {
        role: {"path": str(path), **_fingerprint(str(path)), "count": counts[role]}
        for role, path in collection.sources.items()
        if path
    }
    return SweepRun(config, data_name, data, model, embedded_now, result, losses, queries_info, growth)
