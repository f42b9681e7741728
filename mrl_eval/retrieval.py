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

Tie rule (trec_eval, ``form_res_rels.c``): equal scores are ordered by doc id descending (string order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# Budget for the per-chunk float32 temporaries (raw scores, cosine scores, merge buffers).
CHUNK_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class Ranking:
    """Top-k per query, best first. `doc_index` is -1 where fewer than k documents could be ranked."""

    doc_index: np.ndarray  # (n_queries, k) int64
    score: np.ndarray  # (n_queries, k) float32


def tie_key(doc_ids: Sequence[str]) -> np.ndarray:
    """Position of each doc id in ascending string order; higher key wins a score tie (doc id descending)."""
    order = np.argsort(np.asarray(doc_ids, dtype=object), kind="stable")
    key = np.empty(len(doc_ids), dtype=np.int64)
    key[order] = np.arange(len(doc_ids), dtype=np.int64)
    return key


def chunk_size_for(n_queries: int, n_docs: int, k: int) -> int:
    """Corpus rows per chunk so the float32 temporaries stay within CHUNK_BYTES."""
    per_row = max(1, n_queries) * 4 * 4  # raw, cosine, and the concatenated merge buffers
    rows = max(1024, CHUNK_BYTES // per_row - k)
    return int(min(max(n_docs, 1), rows))


def _prefix_norms(x: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """(len(dims), n) L2 norms of the first d components, one row per dim; zeros replaced by 1."""
    sq = np.square(x[:, : dims[-1]], dtype=np.float32)
    cum = np.cumsum(sq, axis=1, dtype=np.float64)
    norms = np.sqrt(cum[:, np.asarray(dims) - 1].T).astype(np.float32)
    norms[norms == 0] = 1.0  # an all-zero prefix scores 0 against everything instead of NaN
    return norms


def _select_topk(score: np.ndarray, index: np.ndarray, k: int, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best k columns of each row by (score desc, key desc), unsorted except in rows with boundary ties."""
    n = score.shape[1]
    if n <= k:
        return score, index
    part = np.argpartition(-score, k - 1, axis=1)[:, :k]
    top_s = np.take_along_axis(score, part, axis=1)
    top_i = np.take_along_axis(index, part, axis=1)
    kth = top_s.min(axis=1, keepdims=True)
    # argpartition picks an arbitrary subset of the docs tied at the k-th score; redo those rows exactly.
    for r in np.flatnonzero((score >= kth).sum(axis=1) > k):
        order = np.lexsort((-key[index[r]], -score[r]))[:k]
        top_s[r], top_i[r] = score[r, order], index[r, order]
    return top_s, top_i


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
    """
    dims = sorted(set(int(d) for d in dims))
    n_docs = corpus.shape[0]
    n_queries = queries.shape[0]
    k_eff = min(k, n_docs)
    q = np.ascontiguousarray(queries[:, : dims[-1]], dtype=np.float32)
    q_norms = _prefix_norms(q, dims)
    step = chunk_size or chunk_size_for(n_queries, n_docs, k_eff)
    bounds = list(zip([0, *dims[:-1]], dims))

    best_s = {d: np.empty((n_queries, 0), np.float32) for d in dims}
    best_i = {d: np.empty((n_queries, 0), np.int64) for d in dims}
    for start in range(0, n_docs, step):
        stop = min(start + step, n_docs)
        c = np.ascontiguousarray(corpus[start:stop, : dims[-1]], dtype=np.float32)
        c_norms = _prefix_norms(c, dims)
        index = np.broadcast_to(np.arange(start, stop, dtype=np.int64), (n_queries, stop - start))
        if exclude is not None:
            hit = (exclude >= start) & (exclude < stop)
            rows, cols = np.flatnonzero(hit), exclude[hit] - start
        raw = np.zeros((n_queries, stop - start), np.float32)
        for j, (lo, hi) in enumerate(bounds):
            raw += q[:, lo:hi] @ c[:, lo:hi].T
            score = raw / q_norms[j][:, None]
            score /= c_norms[j][None, :]
            if exclude is not None:
                score[rows, cols] = -np.inf
            d = dims[j]
            best_s[d], best_i[d] = _select_topk(
                np.concatenate([best_s[d], score], axis=1),
                np.concatenate([best_i[d], index], axis=1),
                k_eff,
                doc_key,
            )
        if on_progress:
            on_progress(stop - start)

    rankings = {}
    for d in dims:
        s, i = best_s[d], best_i[d]
        order = np.lexsort((-doc_key[i], -s), axis=-1)
        s, i = np.take_along_axis(s, order, axis=1), np.take_along_axis(i, order, axis=1)
        i = np.where(np.isneginf(s), -1, i)
        rankings[d] = Ranking(doc_index=i, score=s)
    return rankings
