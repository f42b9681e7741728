"""Full-size vectors for a collection: precomputed ones read from a folder, or embedded once through the cache (on
this machine, or by model actors on a Ray cluster that fill the same cache)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mrl_eval.data.cache import embed_cached, missing_texts
from mrl_eval.data.collection import Collection
from mrl_eval.data.vectors import Vectors, load_vectors, read_model_info
from mrl_eval.evaluate.ray_search import RaySettings
from mrl_eval.files import default_cache_dir
from mrl_eval.pipeline.load import file_fingerprint
from mrl_eval.pipeline.settings import ModelSettings
from mrl_eval.progress import ProgressFactory
from mrl_eval.providers import get_provider
from mrl_eval.providers.base import SizedWithoutRequests


def precomputed(model: ModelSettings) -> tuple[Vectors, dict[str, Any]]:
    """The vectors of `--embeddings` and what the report says of their model."""
    assert model.embeddings is not None  # the caller's contract
    vectors = load_vectors(model.embeddings)
    info = read_model_info(model.embeddings)
    about = {
        "provider": "precomputed",
        "name": str(info.get("model") or model.embeddings.name),
        "fingerprint": file_fingerprint(model.embeddings / "corpus.npy"),
        "path": str(model.embeddings),
    }
    return vectors, about


def embedded(
    model: ModelSettings,
    collection: Collection,
    progress: ProgressFactory,
    *,
    ray: RaySettings,
    ray_info: dict | None = None,
    check_full_dim: Callable[[int], object] | None = None,
) -> tuple[Vectors, dict[str, Any], int]:
    """Every text of `collection` embedded at full size through the cache; the model's description; how many
    texts were sent to the model in this run (0 on a fully cached rerun). `check_full_dim(full_dim)` runs before
    any text is embedded (a swept dim above the model's size fails before the slow part, not after it)."""
    options = model.provider_options()
    cache_dir = model.cache_dir or default_cache_dir()
    provider = get_provider(model.provider, model.model, cache_dir=cache_dir, **dict(options))  # a copy: it pops
    roles = (("document", collection.doc_texts), ("query", collection.query_texts))
    missing = {r: missing_texts(provider, t, r, cache_dir, model.cache_dtype) for r, t in roles}
    if check_full_dim is not None and any(missing.values()) and isinstance(provider, SizedWithoutRequests):
        check_full_dim(provider.full_dim_without_requests())  # the model is about to run: its size costs nothing
    on_ray = 0
    if ray_info is not None:  # the cluster fills the cache; the single-machine path below then finds it full
        from mrl_eval.data.ray_embed import fill_cache  # ray is imported only by a run on Ray

        workers = ray.workers or (
            int(ray_info["gpus"] // ray.gpus_per_worker) if ray.gpus_per_worker else ray_info["cpus"]
        )
        for role, texts in roles:
            on_ray += fill_cache(
                provider,
                (model.provider, model.model, options),
                texts,
                role,
                cache_dir,
                model.cache_dtype,
                workers=max(1, workers),
                gpus_per_worker=ray.gpus_per_worker,
                progress=progress,
            )
    if hasattr(provider, "preflight"):  # a paid API: check inputs and estimate the cost before any request
        if ray_info is not None:  # the cluster filled the cache
            missing = {r: missing_texts(provider, t, r, cache_dir, model.cache_dtype) for r, t in roles}
        provider.preflight(missing, every=dict(roles))  # every: the cost of the whole collection too
    docs, n_docs = embed_cached(
        provider,
        collection.doc_texts,
        "document",
        cache_dir,
        progress("Embedding documents", len(collection.doc_texts)),
        model.cache_dtype,
    )
    queries, n_queries = embed_cached(
        provider,
        collection.query_texts,
        "query",
        cache_dir,
        progress("Embedding queries", len(collection.query_texts)),
        model.cache_dtype,
    )
    about = {
        "provider": provider.name,
        "name": provider.model,
        "fingerprint": provider.fingerprint,
        "prompts": {"query": provider.prompt("query"), "document": provider.prompt("document")},
        "cache_dtype": model.cache_dtype,
        **(provider.info() if hasattr(provider, "info") else {}),  # an API's endpoint, cost estimate, requests
    }
    vectors = Vectors(list(collection.doc_ids), docs, list(collection.query_ids), np.asarray(queries, np.float32))
    return vectors, about, on_ray + n_docs + n_queries
