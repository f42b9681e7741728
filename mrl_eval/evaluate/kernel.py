"""The fused scoring kernel: every swept dim's running top-k from one pass over each tile of segment products.

For a tile of queries x corpus rows, BLAS writes one float32 product block per segment between swept dims
(``<q[lo:hi], c[lo:hi]>``); the segments sum to the full dim, so their products cost the flops of one full-dim
product. The kernel (`_kernel_numba.fold`) then walks the tile once: it adds segment j into a running prefix dot
product (the dot product at dim j), scales it by the query's and the row's prefix norms, counts the scores above
each dim's current threshold in a vectorised pass, and pushes only those into that dim's bounded min-heap. Nothing is
written back and no per-dim pass over a score matrix is made: that was the cost of the numpy path
(`retrieval.search_numpy`, kept as the reference).

Tiles are small enough (TILE_BYTES) to stay in a core's cache between BLAS writing them and the kernel reading
them. Each thread owns a contiguous range of queries (their heaps are its own; BLAS runs single-threaded inside
it), so the threads never share a heap; loading a corpus chunk (float16 or float32 to float32, prefix norms) is
split by rows between the same threads.

Candidates enter a heap only above its lowest score once it is full (strictly above: a tie with the lowest stays
out), as in the numpy path; the exact float64 stage (`retrieval._finalize`) then settles the ranking, so both paths
give identical rankings. Compiled once by numba and cached on disk (`cache=True`: next to the module, or the
user's cache folder when that is read-only); numba is imported when a search runs, never at the CLI's start-up.
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

TILE_BYTES = 512 * 1024  # segment products of one tile (dims x queries x rows, float32): a core's L2
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
        kernels = (nb.push, nb._push_run, nb.fold, nb.inverse_prefix_norms)
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
    seg, one = np.zeros((1, 1, 1), np.float32), np.ones((1, 1), np.float32)
    nb.fold(seg, one, one, 0, 0, 0, np.full(1, -1, np.int64), *new_heaps(1, 1, 1))
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
        tile_queries = min(per_thread, 256 if n_dims == 1 else 128)
        # below 256 rows a tile costs BLAS more than the cache saves the kernel
        tile_rows = max(256, TILE_BYTES // (4 * n_dims * tile_queries) // 64 * 64)
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
                seg = tiles[t].get((q1 - q0, r1 - r0))
                if seg is None:
                    seg = tiles[t][(q1 - q0, r1 - r0)] = np.empty((len(dims), q1 - q0, r1 - r0), np.float32)
                for j, (lo, hi) in enumerate(bounds):
                    np.matmul(q[q0:q1, lo:hi], c[r0:r1, lo:hi].T, out=seg[j])
                nb.fold(seg, q_inv, c_inv, q0, r0, start, exclude, *heaps)

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
