"""Full-size vectors on disk, keyed by provider, model, prompt and text hash; filled batch by batch, resumable.

Layout: ``<cache_dir>/<provider>/<model-slug>-<role>-<namespace hash>/`` holds ``meta.json`` and shards. A shard
is ``<n>.npy`` (rows in the cache dtype, float32 or float16) plus ``<n>.keys`` (one text hash per row). The
namespace hash covers the provider, the model fingerprint, the role (query/document), the exact prompt and the
dtype, so vectors are never served for another model, prompt, text or precision. A finished set of texts is
assembled once into ``matrix-<hash of its keys>.npy`` and read through a memory map, so a corpus larger than
memory is scored a chunk at a time. Each shard is written to a temporary name and renamed into place, keys last: a crash or
kill -9 leaves either a complete shard or nothing that is read, and a rerun embeds only the missing texts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.providers import EmbeddingProvider, Role

# Texts handed to the provider per call: large enough that it can sort by length and fill batches, small enough
# that an interruption loses little.
FLUSH_TEXTS = 512
DTYPES = ("float32", "float16")


def default_cache_dir() -> Path:
    """XDG: $XDG_CACHE_HOME/mrl-eval, else ~/.cache/mrl-eval."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mrl-eval"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class VectorCache:
    """The cached vectors of one (provider, model, role, prompt) namespace."""

    def __init__(self, cache_dir: Path, provider: EmbeddingProvider, role: Role, dtype: str = "float32") -> None:
        if dtype not in DTYPES:
            raise UsageError(f"--cache-dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
        self.dtype = np.dtype(dtype)
        identity = {
            "provider": provider.name,
            "model": provider.model,
            "fingerprint": provider.fingerprint,
            "role": role,
            "prompt": provider.prompt(role),
            "dtype": dtype,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(provider.model).name or provider.model)[:60]
        self.dir = Path(cache_dir) / provider.name / f"{slug}-{role}-{digest}"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            meta = self.dir / "meta.json"
            if not meta.exists():
                _atomic_write(meta, json.dumps(identity, indent=1).encode())
        except OSError as err:
            raise MrlEvalError(f"cannot write the embedding cache at {self.dir} ({err}); pass --cache-dir") from err
        self._where: dict[str, tuple[Path, int]] = {}
        keys_files = sorted(self.dir.glob("*.keys"))
        self._next_shard = len(keys_files)  # counted once: a provider that returns many small batches adds many
        for keys_file in keys_files:
            rows = keys_file.read_text().split()
            for row, key in enumerate(rows):
                self._where.setdefault(key, (keys_file.with_suffix(".npy"), row))

    def missing(self, keys: Sequence[str]) -> list[str]:
        """Distinct keys not yet cached, in first-seen order."""
        return [k for k in dict.fromkeys(keys) if k not in self._where]

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Write one shard atomically: rows first, then the keys that make them visible."""
        n = self._next_shard
        while (self.dir / f"{n:06d}.keys").exists() or (self.dir / f"{n:06d}.npy").exists():
            n += 1
        self._next_shard = n + 1
        stem = self.dir / f"{n:06d}"
        buf = _npy_bytes(np.asarray(vectors, dtype=self.dtype))
        _atomic_write(stem.with_suffix(".npy"), buf)
        _atomic_write(stem.with_suffix(".keys"), ("\n".join(keys) + "\n").encode())
        for row, key in enumerate(keys):
            self._where.setdefault(key, (stem.with_suffix(".npy"), row))

    def gather(self, keys: Sequence[str]) -> np.ndarray:
        """Rows for `keys`, in order, as one read-only memory-mapped matrix (assembled once, then reused)."""
        digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:20]
        path = self.dir / f"matrix-{digest}.npy"
        if path.is_file():
            matrix = np.load(path, mmap_mode="r", allow_pickle=False)
            if matrix.shape[0] == len(keys):
                return matrix
        by_shard: dict[Path, list[tuple[int, int]]] = {}
        for out_row, key in enumerate(keys):
            shard, row = self._where[key]
            by_shard.setdefault(shard, []).append((out_row, row))
        dim = np.load(next(iter(by_shard)), mmap_mode="r").shape[1] if by_shard else 0
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".matrix-", suffix=".npy")
        os.close(fd)
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=self.dtype, shape=(len(keys), dim))
            for shard, pairs in by_shard.items():
                data = np.load(shard, mmap_mode="r", allow_pickle=False)
                out_rows, rows = (np.array(x) for x in zip(*pairs))
                out[out_rows] = data[rows]
            out.flush()
            del out
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return np.load(path, mmap_mode="r", allow_pickle=False)


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _batches(
    provider: EmbeddingProvider, todo: list[str], text_of: dict[str, str], role: Role
) -> Iterator[tuple[list[str], np.ndarray]]:
    """(keys, vectors) as the provider finishes them: its own requests if it has `embed_batches`, else groups of
    FLUSH_TEXTS."""
    embed_batches = getattr(provider, "embed_batches", None)
    if embed_batches is not None:
        for positions, vectors in embed_batches([text_of[k] for k in todo], role):
            yield [todo[i] for i in positions], vectors
        return
    for start in range(0, len(todo), FLUSH_TEXTS):
        group = todo[start : start + FLUSH_TEXTS]
        yield group, provider.embed([text_of[k] for k in group], role)


def missing_texts(
    provider: EmbeddingProvider, texts: Sequence[str], role: Role, cache_dir: Path, dtype: str = "float32"
) -> list[str]:
    """The distinct texts the cache lacks: what embedding `texts` would send (for a cost estimate)."""
    cache = VectorCache(cache_dir, provider, role, dtype)
    text_of = {text_key(t): t for t in texts}
    return [text_of[k] for k in cache.missing(list(text_of))]


def embed_cached(
    provider: EmbeddingProvider,
    texts: Sequence[str],
    role: Role,
    cache_dir: Path,
    on_progress: Callable[[int], None] | None = None,
    dtype: str = "float32",
) -> tuple[np.ndarray, int]:
    """Full-size vectors for `texts` (rows in order), embedding only what the cache lacks.

    Returns the matrix and the number of texts that were embedded now. `on_progress(n)` reports texts done,
    cached ones included. Texts are sent longest first in groups of FLUSH_TEXTS, so batches are padded little,
    and each group is written to the cache as soon as it is back. A provider with `embed_batches` (an API that
    sends many requests at once) gets all the missing texts in one call and yields (positions, vectors) as each
    request finishes; each of those is written at once, so an interrupted run loses no finished request.
    """
    cache = VectorCache(cache_dir, provider, role, dtype)
    keys = [text_key(t) for t in texts]
    todo = cache.missing(keys)
    pending = set(todo)
    if on_progress:
        on_progress(sum(1 for k in keys if k not in pending))
    text_of = dict(zip(keys, texts))
    todo.sort(key=lambda k: -len(text_of[k]))
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    for group, vectors in _batches(provider, todo, text_of, role):
        if vectors.shape[0] != len(group) or not np.isfinite(vectors).all():
            raise MrlEvalError(
                f"{provider.name} model {provider.model!r} returned {vectors.shape[0]} vectors for {len(group)} "
                "texts, or vectors with NaN/inf; nothing was cached for this batch. Check the model."
            )
        cache.add(group, vectors)
        if on_progress:
            on_progress(sum(counts[k] for k in group))
    return cache.gather(keys), len(todo)
