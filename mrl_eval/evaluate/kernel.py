"""The fused scoring kernel: every swept dim's running top-k, folded in as BLAS makes each tile of products.

Prefix dot products nest: the dot product at dim j is the one at dim j-1 plus the segment between them. For a tile
of queries x corpus rows, BLAS writes one segment's float32 products at a time (the segments sum to the full dim,
so they cost the flops of one full-dim product), and the kernel (`_kernel_numba.fold_segment`) at once adds them
into the tile's running dot products, scales those by the query's and the row's prefix norms, counts the scores
above dim j's current threshold in a vectorised pass, and pushes only those into dim j's bounded min-heap. The
tile (TILE_QUERIES x TILE_ROWS) stays in the thread's cache between BLAS writing it and the kernel reading it, and
no per-dim pass over a score matrix is made: that was the cost of the numpy path (`tests/reference_search.search_numpy`, kept
as the reference).

Each thread owns a contiguous range of queries (their heaps are its own) and calls BLAS on one thread; loading a
corpus chunk (float16 or float32 to float32, prefix norms) is split by rows between the same threads.

Candidates enter a heap only above its lowest score once it is full (strictly above: a tie with the lowest stays
out), as in the numpy path; the exact float64 stage (`retrieval._finalize`) then settles the ranking, so both paths
give identical rankings. Compiled once by numba and cached on disk (`cache=True`: next to the module, or the
user's cache folder when that is read-only; a damaged cache file is rebuilt with a warning); numba is imported when
a search runs, never at the CLI's start-up.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Heaps of every (dim, query): scores, doc rows, fill counts, and the score a candidate must beat.
Heaps = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

# A tile: queries x corpus rows whose products one thread makes and folds while they are in its cache (two float32
# blocks: one segment's products and the running dot products, 1 MiB each). Measured at 1M x 1024 on 2 cores:
# smaller tiles cost BLAS more than the cache saves the kernel, larger ones spill.
TILE_QUERIES, TILE_ROWS = 256, 1024
CHUNK_BYTES = 16 * 1024**2  # one corpus chunk as float32, loaded at a time
MIN_QUERIES_PER_THREAD = 32


def new_heaps(n_dims: int, n_queries: int, capacity: int) -> Heaps:
    return (
        np.full((n_dims, n_queries, capacity), -np.inf, np.float32),
        np.full((n_dims, n_queries, capacity), -1, np.int64),
        np.zeros((n_dims, n_queries), np.int64),
        np.full((n_dims, n_queries), -np.inf, np.float32),
    )


@lru_cache(maxsize=1)
def compiled():
    """The numba module, its kernels compiled (or loaded from numba's cache), and the seconds that took."""
    start = time.perf_counter()
    from mrl_eval.evaluate import _kernel_numba as nb

    try:
        _first_call(nb)
    except Exception as err:  # a damaged file in numba's cache (numba raises what unpickling raised)
        kernels = (nb.push, nb._push_run, nb.fold_segment, nb.inverse_prefix_norms)
        for dispatcher in kernels:
            dispatcher._cache.flush()  # an empty index: the next call compiles and writes the files again
        folders = sorted({str(d._cache.cache_path) for d in kernels})
        warnings.warn(
            f"mrl-eval: numba's cache of the scoring kernel in {', '.join(folders)} could not be read "
            f"({type(err).__name__}: {err}); compiled it again",
            KernelCacheWarning,
            stacklevel=2,
        )
        _first_call(nb)
    return nb, time.perf_counter() - start


class KernelCacheWarning(UserWarning):
    """numba's on-disk cache of the kernel was damaged and has been rebuilt."""


def _first_call(nb) -> None:
    one = np.ones((1, 1), np.float32)
    nb.fold_segment(one, one.copy(), True, 0, one, one, 0, 0, 0, np.full(1, -1, np.int64), *new_heaps(1, 1, 1))
    nb.inverse_prefix_norms(one, np.ones(1, np.int64), np.empty((1, 1), np.float32))


def compile_seconds() -> float:
    """Seconds the kernels took to become ready in this process: compile on a cold cache, load on a warm one."""
    return compiled()[1]


def thread_count(n_queries: int) -> int:
    """Threads for a search: the CPUs this process may use, capped by NUMBA_NUM_THREADS or OMP_NUM_THREADS where
    set (Ray sets the latter to a task's CPUs), with enough queries each."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    caps = [cpus]
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        with contextlib.suppress(ValueError):
            caps.append(int(os.environ.get(name, "")))
    return max(1, min(*caps, n_queries // MIN_QUERIES_PER_THREAD))


@dataclass(frozen=True)
class Plan:
    threads: int
    chunk_rows: int  # corpus rows loaded (as float32) at a time
    tile_rows: int  # corpus rows per tile
    tile_queries: int  # queries per tile

    @staticmethod
    def for_search(n_queries: int, n_dims: int, dim: int, n_docs: int, chunk_rows: int | None = None) -> Plan:
        threads = thread_count(n_queries)
        per_thread = -(-n_queries // threads)
        tile_queries, tile_rows = max(1, min(per_thread, TILE_QUERIES)), TILE_ROWS
        chunk = chunk_rows or max(tile_rows, CHUNK_BYTES // (4 * dim))
        return Plan(threads, int(min(max(n_docs, 1), chunk)), int(min(tile_rows, chunk)), int(tile_queries))


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread (restored after): each of our threads calls it on its own small tile, where BLAS's own
    threads would cost more in start-up and synchronisation than they save."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


def fold_corpus(
    q: np.ndarray,
    q_inv: np.ndarray,
    corpus: np.ndarray,
    dims: Sequence[int],
    *,
    heaps: Heaps,
    exclude: np.ndarray,
    plan: Plan,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Fold every corpus row into the heaps of every (dim, query). `q` (queries, dims[-1]) float32 and `q_inv`
    (dims, queries) its reciprocal prefix norms; `exclude[q]` is the corpus row query q must not retrieve, or -1."""
    nb = compiled()[0]
    dim = dims[-1]
    cuts = np.asarray(dims, np.int64)
    bounds = list(zip([0, *dims[:-1]], dims))
    n_docs, n_queries = corpus.shape[0], q.shape[0]
    rows_buffer = np.empty((plan.chunk_rows, dim), np.float32)
    edges = np.linspace(0, n_queries, plan.threads + 1).astype(int)
    tiles: list[dict[tuple[int, int], np.ndarray]] = [{} for _ in range(plan.threads)]

    def load(part: tuple[int, int], start: int, c: np.ndarray, c_inv: np.ndarray) -> None:
        a, b = part
        np.copyto(c[a:b], np.asarray(corpus[start + a : start + b, :dim]), casting="same_kind")
        nb.inverse_prefix_norms(c[a:b], cuts, c_inv[:, a:b])

    def score(t: int, start: int, c: np.ndarray, c_inv: np.ndarray) -> None:
        for r0 in range(0, c.shape[0], plan.tile_rows):
            r1 = min(r0 + plan.tile_rows, c.shape[0])
            for q0 in range(edges[t], edges[t + 1], plan.tile_queries):
                q1 = min(q0 + plan.tile_queries, edges[t + 1])
                pair = tiles[t].get((q1 - q0, r1 - r0))
                if pair is None:
                    pair = tiles[t][(q1 - q0, r1 - r0)] = np.empty((2, q1 - q0, r1 - r0), np.float32)
                prod, acc = pair
                for j, (lo, hi) in enumerate(bounds):
                    np.matmul(q[q0:q1, lo:hi], c[r0:r1, lo:hi].T, out=prod)
                    nb.fold_segment(prod, acc, j == 0, j, q_inv, c_inv, q0, r0, start, exclude, *heaps)

    with ThreadPoolExecutor(plan.threads) as pool, single_threaded_blas():
        for start in range(0, n_docs, plan.chunk_rows):
            m = min(plan.chunk_rows, n_docs - start)
            c, c_inv = rows_buffer[:m], np.empty((len(dims), m), np.float32)
            row_edges = np.linspace(0, m, plan.threads + 1).astype(int)
            parts = list(zip(row_edges[:-1], row_edges[1:]))
            list(pool.map(lambda p, s=start, c=c, ci=c_inv: load(p, s, c, ci), parts))
            list(pool.map(lambda t, s=start, c=c, ci=c_inv: score(t, s, c, ci), range(plan.threads)))
            if on_progress:
                on_progress(m)


def shortlists(heaps: Heaps, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Dim j's candidates per query (unordered, -inf / -1 in empty slots), as the exact stage takes them."""
    return heaps[0][j], heaps[1][j]
