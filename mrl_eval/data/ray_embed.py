"""Embedding on a Ray cluster: Ray Data `map_batches` over a pool of model actors, each writing its own cache shards.

The cluster only fills the cache; everything after that is the single-machine path. The driver lists the texts the
cache lacks (`VectorCache.missing`), longest first as on one machine, and hands them to Ray Data in batches of
`cache.FLUSH_TEXTS`. Each actor builds the provider once (the model is loaded once per actor, on a GPU when
`--ray-gpus-per-worker` gives it one) and, for each batch, embeds it and writes one cache shard. Shards are
content-addressed and written whole under a temporary name (see `data/cache.py`), so N actors never write the same
shard, never pair one's keys with another's rows, and an interrupted run leaves only whole shards: the rerun
embeds just the texts that are still missing. The driver then reads the vectors through `embed_cached`, which
finds them all cached and assembles the matrix as usual, so the vectors equal those of a single-machine run of
the same provider.

The cache folder must be one that every worker can read and write at the same path: on a local cluster, any
folder; on a real cluster, a shared filesystem (NFS, EFS, a mounted bucket) passed as `--cache-dir`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrl_eval.data.cache import FLUSH_TEXTS, VectorCache, text_key
from mrl_eval.errors import MrlEvalError
from mrl_eval.providers import EmbeddingProvider, Role, get_provider


class EmbedActor:
    """One model on one worker: embeds a batch and writes it to the cache as one shard."""

    def __init__(
        self, provider: str, model: str | None, options: dict[str, Any], cache_dir: str, role: Role, dtype: str
    ):

        self.provider = get_provider(provider, model, cache_dir=Path(cache_dir), **options)
        self.cache = VectorCache(Path(cache_dir), self.provider, role, dtype)
        self.role = role

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = [str(k) for k in batch["key"]]
        vectors = self.provider.embed([str(t) for t in batch["text"]], self.role)
        if vectors.shape[0] != len(keys) or not np.isfinite(vectors).all():
            raise MrlEvalError(
                f"{self.provider.name} model {self.provider.model!r} returned {vectors.shape[0]} vectors for "
                f"{len(keys)} texts, or vectors with NaN/inf; nothing was cached for this batch. Check the model."
            )
        self.cache.add(keys, vectors)
        return {"texts": np.array([len(keys)])}


def fill_cache(
    provider: EmbeddingProvider,
    spec: tuple[str, str | None, dict[str, Any]],
    texts: Sequence[str],
    role: Role,
    cache_dir: Path,
    dtype: str,
    *,
    workers: int,
    gpus_per_worker: float = 0.0,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> int:
    """Embed the texts that the cache lacks on the connected Ray cluster; the number embedded. `provider` is the
    driver's own (it names the cache folder); `spec` = (provider name, model, options) builds the same provider in
    each actor."""
    import ray

    cache = VectorCache(cache_dir, provider, role, dtype)
    text_of = {text_key(t): t for t in texts}
    todo = cache.missing(list(text_of))
    if not todo:
        return 0
    todo.sort(key=lambda k: -len(text_of[k]))  # similar lengths share a batch: little padding
    name, model, options = spec
    worker_options = dict(options)
    if (
        gpus_per_worker
        and name == "sentence-transformers"
        and worker_options.get("device") is None
        and worker_options.get("backend") in (None, "torch")
    ):  # onnx/openvino run on the CPU
        worker_options["device"] = "cuda"
    resources = {"num_gpus": gpus_per_worker} if gpus_per_worker else {"num_cpus": 1}
    items = [{"key": k, "text": text_of[k]} for k in todo]
    data = ray.data.from_items(items, override_num_blocks=max(1, -(-len(items) // FLUSH_TEXTS)))
    embedded = data.map_batches(
        EmbedActor,
        fn_constructor_kwargs={
            "provider": name,
            "model": model,
            "options": worker_options,
            "cache_dir": str(cache_dir),
            "role": role,
            "dtype": dtype,
        },
        batch_size=FLUSH_TEXTS,
        concurrency=max(1, workers),
        **resources,
    )
    advance = progress(f"Embedding {len(todo):,} {role} texts on Ray", len(todo)) if progress else None
    done = 0
    for batch in embedded.iter_batches(batch_size=None):
        n = int(np.sum(batch["texts"]))
        done += n
        if advance:
            advance(n)
    if done != len(todo):
        raise MrlEvalError(f"the Ray workers embedded {done} of {len(todo)} texts; run again to embed the rest")
    return done
