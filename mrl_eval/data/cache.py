"""Full-size vectors on disk, keyed by provider, model, prompt and text hash; filled batch by batch, resumable, safe
for concurrent runs, and checked on every read.

Layout: ``<cache_dir>/<provider>/<model-slug>-<role>-<namespace hash>/`` holds ``meta.json``, shards and assembled
matrices (the file format is `cache_files`). The namespace hash covers the cache format, the provider, the model
fingerprint, the role (query/document), the exact prompt, the dtype and any input policy that changes a vector
(--on-long-input), so vectors are never served for another model, endpoint, prompt, text, policy or precision. A
shard is one ``<sha256>.npz`` holding a batch's text keys and rows together, written under a temporary name and
renamed into place: concurrent writers can only add whole shards, never pair one's keys with another's rows, and
a kill -9 leaves nothing that is read, so a rerun embeds only the missing texts. A finished set of texts is
assembled once, under an flock, into ``matrix-<hash of its keys>-<sha256>.npy`` and read through a memory map, so a
corpus larger than memory is scored a chunk at a time. A file that fails its checksum, shape, dtype or finiteness
check is removed with a warning and its texts are embedded again: nothing is ever scored from it. docs/cache.md
says what is guaranteed.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from mrl_eval.data import cache_files as F
from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.providers import CutsLongInputs, EmbeddingProvider, Role

# Texts handed to the provider per call: large enough that it can sort by length and fill batches, small enough
# that an interruption loses little.
FLUSH_TEXTS = 512
DTYPES = ("float32", "float16")
FORMAT = 2  # 1: separate <n>.npy and <n>.keys files, numbered by an existence check (unsafe for concurrent runs)
MAX_REPAIRS = 3  # rounds of re-embedding damaged entries before giving up
_warned_old: set[Path] = set()


class CacheWarning(UserWarning):
    """Something about the cache the user should know, which did not stop the run (a damaged file, an old one)."""


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _warn(message: str) -> None:
    warnings.warn(f"mrl-eval: {message}", CacheWarning, stacklevel=3)


class VectorCache:
    """The cached vectors of one (provider, model, role, prompt, policy, dtype) namespace."""

    def __init__(self, cache_dir: Path, provider: EmbeddingProvider, role: Role, dtype: str = "float32") -> None:
        if dtype not in DTYPES:
            raise UsageError(f"--cache-dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
        self.dtype = np.dtype(dtype)
        identity = {
            "format": FORMAT,
            "provider": provider.name,
            "model": provider.model,
            "fingerprint": provider.fingerprint,
            "role": role,
            "prompt": provider.prompt(role),
            "dtype": dtype,
            "on_long_input": provider.on_long_input if isinstance(provider, CutsLongInputs) else None,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(provider.model).name or provider.model)[:60]
        self.dir = Path(cache_dir) / provider.name / f"{slug}-{role}-{digest}"
        self._warn_old_format(self.dir.parent, f"{slug}-{role}-")
        meta = self.dir / "meta.json"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise F.write_error(self.dir, err) from err
        if not meta.is_file():  # a complete read-only cache is still read; a missing file needs a write
            F.atomic_write(meta, json.dumps(identity, indent=1).encode())
        F.remove_stale_temporaries(self.dir)
        self._where: dict[str, tuple[Path, int]] = {}
        for shard in sorted(self.dir.glob(f"*{F.SHARD_SUFFIX}")):
            try:
                keys = F.read_shard_keys(shard, self.dtype)
            except FileNotFoundError:
                continue  # removed by another run that found it damaged
            except F.Damaged as err:
                self._discard(shard, err)
                continue
            for row, key in enumerate(keys):
                self._where.setdefault(key, (shard, row))

    @staticmethod
    def _warn_old_format(provider_dir: Path, prefix: str) -> None:
        old = [p.parent for p in provider_dir.glob(f"{prefix}*/000000.keys")]  # format 1 numbered from 0
        for folder in sorted(set(old) - _warned_old):
            _warned_old.add(folder)
            _warn(f"{folder} is a cache in the old format, which is not read (its texts are embedded again); delete it")

    def _discard(self, path: Path, err: F.Damaged, then: str = "its texts are embedded again") -> None:
        """Forget a damaged file's rows and remove it, so they are made again; say so, naming it."""
        self._where = {k: v for k, v in self._where.items() if v[0] != path}
        try:
            path.unlink(missing_ok=True)
            fate = f"removed; {then}"
        except OSError:
            fate = f"not read; {then} (delete it)"
        _warn(f"damaged cache file {path} ({err}) {fate}")

    def missing(self, keys: Sequence[str]) -> list[str]:
        """Distinct keys not yet cached, in first-seen order."""
        return [k for k in dict.fromkeys(keys) if k not in self._where]

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Write one shard (keys and rows in one file) atomically."""
        shard = F.write_shard(self.dir, keys, np.asarray(vectors, dtype=self.dtype))
        for row, key in enumerate(keys):
            self._where.setdefault(key, (shard, row))

    def _matrix(self, stem: str, n_rows: int) -> np.ndarray | None:
        """An assembled matrix for `stem` that passes its checks, or None (a damaged one is removed)."""
        for path in sorted(self.dir.glob(f"{stem}-*.npy")):
            try:
                return F.read_matrix(path, n_rows, self.dtype)
            except FileNotFoundError:
                continue
            except F.Damaged as err:
                self._discard(path, err, then="it is assembled again from the shards")
        return None

    def gather(self, keys: Sequence[str]) -> np.ndarray | None:
        """Rows for `keys`, in order, as one read-only memory-mapped matrix (assembled once, then reused), or None
        when a shard turned out damaged: it was discarded, and `missing` now lists its texts."""
        if not keys:
            return np.zeros((0, 0), self.dtype)
        stem = "matrix-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:20]
        matrix = self._matrix(stem, len(keys))
        if matrix is not None:
            return matrix
        with F.locked(self.dir):  # one run assembles; the others wait, then read its matrix
            matrix = self._matrix(stem, len(keys))
            if matrix is not None:
                return matrix
            shards = self._read_shards({self._where[k][0] for k in keys})
            if shards is None:
                return None
            dim = next(iter(shards.values())).shape[1] if shards else 0
            pieces = self._pieces(keys, shards)
            path = F.write_matrix(self.dir, stem, pieces, shape=(len(keys), dim), dtype=self.dtype)
        return np.load(path, mmap_mode="r", allow_pickle=False)  # checked as it was written

    def _read_shards(self, paths: set[Path]) -> dict[Path, np.ndarray] | None:
        """Every shard's rows, fully checked; None after discarding the damaged ones (and any of another dim)."""
        shards: dict[Path, np.ndarray] = {}
        is_whole = True
        for path in sorted(paths):
            try:
                keys, vectors = F.read_shard(path, self.dtype)
            except FileNotFoundError:
                self._where = {k: v for k, v in self._where.items() if v[0] != path}
                is_whole = False
                continue
            except F.Damaged as err:
                self._discard(path, err)
                is_whole = False
                continue
            shards[path] = vectors
        dims: Counter[int] = Counter()
        for vectors in shards.values():
            dims[vectors.shape[1]] += vectors.shape[0]
        if len(dims) > 1:  # one namespace, one model: rows of another width were not written by it
            usual = dims.most_common(1)[0][0]
            for path, vectors in shards.items():
                if vectors.shape[1] != usual:
                    self._discard(path, F.Damaged(f"rows of {vectors.shape[1]} values where the others have {usual}"))
            return None
        return shards if is_whole else None

    def _pieces(self, keys: Sequence[str], shards: dict[Path, np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        by_shard: dict[Path, list[tuple[int, int]]] = {}
        for out_row, key in enumerate(keys):
            shard, row = self._where[key]
            by_shard.setdefault(shard, []).append((out_row, row))
        for shard, pairs in by_shard.items():
            out_rows, rows = (np.array(x) for x in zip(*pairs))
            yield out_rows, shards[shard][rows]


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
    text_of = dict(zip(keys, texts))
    embedded = _fill(cache, provider, keys, text_of, role, on_progress)
    for _ in range(MAX_REPAIRS):
        matrix = cache.gather(keys)
        if matrix is not None:
            return matrix, embedded
        embedded += _fill(cache, provider, keys, text_of, role, None)  # the rows of damaged files, again
    raise MrlEvalError(
        f"the embedding cache in {cache.dir} was damaged again after {MAX_REPAIRS} repairs (see the warnings): "
        "check the disk, or delete that folder and run again"
    )


def _fill(
    cache: VectorCache,
    provider: EmbeddingProvider,
    keys: list[str],
    text_of: dict[str, str],
    role: Role,
    on_progress: Callable[[int], None] | None,
) -> int:
    """Embed and cache the texts the cache lacks; the number embedded."""
    todo = cache.missing(keys)
    pending = set(todo)
    if on_progress:
        on_progress(sum(1 for k in keys if k not in pending))
    todo.sort(key=lambda k: -len(text_of[k]))
    counts = Counter(keys)
    for group, vectors in _batches(provider, todo, text_of, role):
        if vectors.shape[0] != len(group) or not np.isfinite(vectors).all():
            raise MrlEvalError(
                f"{provider.name} model {provider.model!r} returned {vectors.shape[0]} vectors for {len(group)} "
                "texts, or vectors with NaN/inf; nothing was cached for this batch. Check the model."
            )
        cache.add(group, vectors)
        if on_progress:
            on_progress(sum(counts[k] for k in group))
    return len(todo)
