"""Prefix-truncate, re-normalise, exact cosine top-k: every swept dim in one pass over the corpus.

Scoring at dim d is cosine similarity of the first d components:
``score_d(q, c) = <q[:d], c[:d]> / (|q[:d]| * |c[:d]|)``. Re-normalising after the cut matters: the
prefix of a unit vector is shorter than 1, by a different amount for every document, so ranking by the raw
prefix dot product would favour documents whose mass happens to sit early (MRL paper, Kusupati et al. 2022,
evaluates the re-normalised prefix).

Prefix dot products nest, ``<q[:d2], c[:d2]> = <q[:d1], c[:d1]> + <q[d1:d2], c[d1:d2]>``, so for each corpus
chunk one pass of block matmuls over the segments between swept dims gives every dim's raw scores; the prefix
norms nest the same way. A running top-k per dim is merged after every chunk, so no queries x corpus matrix is
ever held.

Exact scores, exact ties. float32 block products are fast but not bit-reproducible: the same (query, doc) pair
can score differently by ~1e-7 depending on where it sits in a block, which would make near-ties and exact ties
(duplicate documents) fall either way. So the float32 pass only shortlists the top k + a margin per dim; the
shortlist is then rescored in float64, one (query, doc) pair at a time, and ranked by that score. If the shortlist
could have missed a document within float32 error of the k-th score, that query is rescored against the whole
corpus. The final ranking is therefore a function of the vectors alone: any scoring path gives the same one.

Tie rule (trec_eval, ``form_res_rels.c``): equal scores are ordered by doc id descending (string order).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

# Budget for the per-chunk temporaries: an eighth of the memory available now, between 64 and 512 MiB.
MIN_CHUNK_BYTES, MAX_CHUNK_BYTES = 64 * 1024**2, 512 * 1024**2


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), in bytes; None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def chunk_budget() -> int:
    available = available_memory()
    if available is None:
        return 256 * 1024**2
    return int(min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, available // 8)))


# Largest float32 error of a cosine against the float64 value, with room to spare (measured: under 6e-7 at 768 d).
FLOAT32_ERROR = 4e-6


@dataclass(frozen=True)
class Ranking:
    """Top-k per query, best first. `doc_index` is -1 where fewer than k documents could be ranked."""

    doc_index: np.ndarray  # (n_queries, k) int64
    score: np.ndarray  # (n_queries, k) float64, -inf where doc_index is -1


def shortlist_size(k: int) -> int:
    """How many float32 candidates per query and dim are kept for the exact float64 rescoring."""
    return k + max(16, k // 2)


def exact_cosines(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """float64 cosines: `queries` (..., d) against `rows` (..., m, d). Each pair is summed on its own along the
    last axis, so a pair's score does not depend on which other pairs share the batch."""
    dots = np.einsum("...md,...d->...m", rows, queries)
    norms = (
        np.sqrt(np.einsum("...md,...md->...m", rows, rows))
        * np.sqrt(np.einsum("...d,...d->...", queries, queries))[..., None]
    )
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


# Queries per block of the exact stage: the block's float64 rows take about this much memory.
RESCORE_BLOCK_BYTES = 64 * 1024**2

# exact_scores(b0, b1, idx) -> float64 scores of queries b0..b1 against the corpus rows idx (shape (b1 - b0, m))
ExactScores = Callable[[int, int, np.ndarray], np.ndarray]
# rescore_all(q, excluded_row) -> (row ids, float64 scores) of query q against every corpus row but the excluded one
RescoreAll = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


def rescore_shortlists(
    cand_s: np.ndarray,
    cand_i: np.ndarray,
    k: int,
    doc_key: np.ndarray,
    *,
    n_docs: int,
    dim: int,
    exact_scores: ExactScores,
    slack: np.ndarray | float,
    rescore_all: RescoreAll,
    exclude: np.ndarray | None = None,
    threads: int = 1,
) -> Ranking:
    """The exact stage of every scoring path: rescore each query's float32 shortlist exactly and keep the best k by
    (score desc, doc id desc), trec_eval's tie rule.

    `cand_s`/`cand_i` are the float32 shortlists (-inf where empty or excluded). A document outside a full
    shortlist scored at most the shortlist's lowest float32 score, so exactly at most that plus the float32 error
    `slack` (per query, or one bound for all); where that could reach the k-th exact score, the query is rescored
    against the whole corpus (`rescore_all`). The ranking is therefore a function of the vectors alone. Blocks of
    queries are independent; `threads` of them run at once (numpy releases the GIL in the gathers and einsums).
    """
    n_queries, capacity = cand_i.shape
    outside = n_docs > capacity  # some documents never made the shortlist
    slack = np.broadcast_to(np.asarray(slack, np.float64), (n_queries,))
    out_i = np.full((n_queries, k), -1, np.int64)
    out_s = np.full((n_queries, k), -np.inf, np.float64)
    block = max(1, RESCORE_BLOCK_BYTES // max(1, capacity * dim * 8))

    def rescore(b0: int) -> None:
        b1 = min(n_queries, b0 + block)
        valid = np.isfinite(cand_s[b0:b1])
        idx = np.where(valid, cand_i[b0:b1], 0)
        exact = exact_scores(b0, b1, idx)
        exact[~valid] = -np.inf
        order = np.lexsort((-doc_key[idx], -exact), axis=-1)[:, :k]
        top_i = np.take_along_axis(np.where(valid, idx, -1), order, axis=1)
        top_s = np.take_along_axis(exact, order, axis=1)
        for r in range(b1 - b0):
            q = b0 + r
            lowest = cand_s[q][valid[r]].min() if valid[r].any() else np.inf
            if outside and top_s.shape[1] == k and top_s[r, -1] - lowest <= slack[q]:
                ids, scores = rescore_all(q, int(exclude[q]) if exclude is not None else -1)
                best = np.lexsort((-doc_key[ids], -scores))[:k]
                top_i[r], top_s[r] = ids[best], scores[best]
        width = top_i.shape[1]
        out_i[b0:b1, :width], out_s[b0:b1, :width] = top_i, top_s

    starts = range(0, n_queries, block)
    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(min(threads, len(starts))) as pool:
            list(pool.map(rescore, starts))
    else:
        for b0 in starts:
            rescore(b0)
    return Ranking(out_i, np.where(out_i >= 0, out_s, -np.inf))


def without_row(ids: np.ndarray, scores: np.ndarray, excluded: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row but `excluded` (-1: none)."""
    if excluded >= 0:
        return np.delete(ids, excluded), np.delete(scores, excluded)
    return ids, scores


def _finalize(
    queries: np.ndarray,
    corpus: np.ndarray,
    dim: int,
    cand_s: np.ndarray,
    cand_i: np.ndarray,
    k: int,
    key: np.ndarray,
    exclude: np.ndarray | None,
    threads: int = 1,
) -> Ranking:
    """Float32 prefix shortlists ranked by exact float64 cosine; each thread converts its rows into one float64
    buffer it reuses."""
    buffers = threading.local()

    def exact_scores(b0: int, b1: int, idx: np.ndarray) -> np.ndarray:
        size = idx.size * dim
        if getattr(buffers, "rows", None) is None or buffers.rows.size < size:
            buffers.rows = np.empty(size, np.float64)
        rows = buffers.rows[:size].reshape(*idx.shape, dim)
        np.copyto(rows.reshape(-1, dim), corpus[idx.ravel(), :dim])  # exact: float16/32 -> float64
        return exact_cosines(np.asarray(queries[b0:b1, :dim], dtype=np.float64), rows)

    def rescore_all(q: int, excluded: int) -> tuple[np.ndarray, np.ndarray]:
        return _rescore_all(queries[q], corpus, dim, excluded)

    return rescore_shortlists(
        cand_s,
        cand_i,
        k,
        key,
        n_docs=corpus.shape[0],
        dim=dim,
        exact_scores=exact_scores,
        slack=FLOAT32_ERROR,
        rescore_all=rescore_all,
        exclude=exclude,
        threads=threads,
    )


def _rescore_all(query: np.ndarray, corpus: np.ndarray, dim: int, excluded: int) -> tuple[np.ndarray, np.ndarray]:
    step = 8192  # float64 rows: 64 MiB at 1,024 dims
    q = np.asarray(query[:dim], dtype=np.float64)
    scores = np.concatenate(
        [
            exact_cosines(q, np.asarray(corpus[s : s + step, :dim], dtype=np.float64))
            for s in range(0, corpus.shape[0], step)
        ]
    )
    return without_row(np.arange(corpus.shape[0], dtype=np.int64), scores, excluded)


def tie_key(doc_ids: Sequence[str]) -> np.ndarray:
    """Position of each doc id in ascending string order; higher key wins a score tie (doc id descending)."""
    order = np.argsort(np.asarray(doc_ids, dtype=object), kind="stable")
    key = np.empty(len(doc_ids), dtype=np.int64)
    key[order] = np.arange(len(doc_ids), dtype=np.int64)
    return key


# Aim for a queries x chunk score block that stays in the CPU caches: the per-dim passes over it (scale, compare,
# gather) then cost little next to the matrix products.
CACHE_FRIENDLY_BYTES = 8 * 1024**2


def chunk_size_for(n_queries: int, n_docs: int, dim: int, budget: int | None = None) -> int:
    """Corpus rows per chunk: cache-friendly, at least 1,024, and within the memory budget."""
    # per corpus row: raw and cosine float32 scores and a mask byte for every query, the row's float32 vector, and
    # (first chunk only) argpartition's int64 positions
    per_row = max(1, n_queries) * (4 + 4 + 1 + 8) + 4 * dim
    largest = max(1024, (budget or chunk_budget()) // per_row)
    rows = min(largest, max(1024, CACHE_FRIENDLY_BYTES // (4 * max(1, n_queries))))
    return int(min(max(n_docs, 1), rows))


def _prefix_norms(x: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """(len(dims), n) L2 norms of the first d components, one row per dim; zeros replaced by 1."""
    squares = np.empty((len(dims), x.shape[0]), np.float64)
    total = np.zeros(x.shape[0], np.float64)
    for j, (lo, hi) in enumerate(zip([0, *dims[:-1]], dims)):
        segment = x[:, lo:hi]
        total += np.einsum("ij,ij->i", segment, segment)  # segment sums nest like the dot products
        squares[j] = total
    norms = np.sqrt(squares).astype(np.float32)
    norms[norms == 0] = 1.0  # an all-zero prefix scores 0 against everything instead of NaN
    return norms


def _top_columns(score: np.ndarray, index: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The m best columns of each row by float32 score (ties either way: the exact stage settles them)."""
    if score.shape[1] <= m:
        return score, index
    part = np.argpartition(-score, m - 1, axis=1)[:, :m]
    return np.take_along_axis(score, part, axis=1), np.take_along_axis(index, part, axis=1)


def merge_shortlist(
    best_s: np.ndarray, best_i: np.ndarray, score: np.ndarray, offset: int, capacity: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge a chunk's float32 scores into the running shortlist of `capacity` docs per query.

    Once the shortlist is full, only docs scoring above its current lowest score can enter, and after the first
    chunks those are few: they are gathered sparsely instead of sorting the whole chunk. A doc scoring exactly the
    lowest score is left out; the exact stage accounts for that (see `_finalize`).
    """
    n_queries, n = score.shape
    if best_s.shape[1] >= capacity:
        mask = score > best_s.min(axis=1, keepdims=True)
        counts = mask.sum(axis=1)
        m = int(counts.max())
        if m == 0:
            return best_s, best_i
        rows, cols = np.divmod(np.flatnonzero(mask), n)  # much faster than a 2-D nonzero
        slot = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        cand_s = np.full((n_queries, m), -np.inf, np.float32)
        cand_i = np.full((n_queries, m), -1, np.int64)
        cand_s[rows, slot] = score[rows, cols]
        cand_i[rows, slot] = cols + offset
        cand_s, cand_i = _top_columns(cand_s, cand_i, capacity)
    else:
        index = np.broadcast_to(np.arange(offset, offset + n, dtype=np.int64), score.shape)
        cand_s, cand_i = _top_columns(score, index, capacity)
    return _top_columns(np.concatenate([best_s, cand_s], axis=1), np.concatenate([best_i, cand_i], axis=1), capacity)


def search(
    queries: np.ndarray,
    corpus: np.ndarray,
    dims: Sequence[int],
    k: int,
    doc_key: np.ndarray,
    exclude: np.ndarray | None = None,
    chunk_size: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[int, Ranking]:
    """Exact cosine top-k at every dim in `dims`, in one pass over `corpus` (which may be a memory map).

    `exclude[q]` is a corpus row that query q must not retrieve (or -1): `--ignore-identical-ids`.
    `on_progress(n)` is called with the number of corpus rows finished after each chunk.
    Per chunk: one BLAS product per segment between swept dims, then the fused kernel (`kernel.py`) folds every
    dim's scores into its running shortlist in one pass; the exact stage (`_finalize`) ranks the shortlists.
    """
    from mrl_eval.evaluate import kernel

    dims = sorted(set(int(d) for d in dims))
    n_docs, n_queries = corpus.shape[0], queries.shape[0]
    k_eff = min(k, n_docs)
    capacity = min(shortlist_size(k_eff), n_docs)
    q = np.ascontiguousarray(queries[:, : dims[-1]], dtype=np.float32)
    q_inv = np.ascontiguousarray(1.0 / _prefix_norms(q, dims))
    skip = np.full(n_queries, -1, np.int64) if exclude is None else np.asarray(exclude, np.int64)
    heaps = kernel.new_heaps(len(dims), n_queries, capacity)
    plan = kernel.Plan.for_search(n_queries, len(dims), dims[-1], n_docs, chunk_size)
    kernel.fold_corpus(q, q_inv, corpus, dims, heaps=heaps, exclude=skip, plan=plan, on_progress=on_progress)
    return {
        d: _finalize(queries, corpus, d, *kernel.shortlists(heaps, j), k_eff, doc_key, exclude, plan.threads)
        for j, d in enumerate(dims)
    }
