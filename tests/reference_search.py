"""Reference scoring paths the fused kernel (`mrl_eval/evaluate/kernel.py`) is tested and benchmarked against:
`search_numpy`, the one-pass numpy path (numpy passes over each dim's score block: scale, compare, merge), and
`search_per_dim`, one full search per dim as notebooks do. They share the exact stage with the package (so the
rankings are comparable bit for bit) and nothing of the kernel's scoring. Test code, not shipped."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mrl_eval.evaluate.retrieval import (
    Ranking,
    _finalize,
    _prefix_norms,
    chunk_size_for,
    merge_shortlist,
    shortlist_size,
)


def search_numpy(
    queries: np.ndarray,
    corpus: np.ndarray,
    dims: Sequence[int],
    k: int,
    doc_key: np.ndarray,
    exclude: np.ndarray | None = None,
    chunk_size: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[int, Ranking]:
    """`search` without the compiled kernel: numpy passes over each dim's score block (scale, compare, merge).

    The reference the kernel is tested against, and what the benchmark measures the kernel against.
    """
    dims = sorted(set(int(d) for d in dims))
    n_docs = corpus.shape[0]
    n_queries = queries.shape[0]
    k_eff = min(k, n_docs)
    capacity = min(shortlist_size(k_eff), n_docs)
    q = np.ascontiguousarray(queries[:, : dims[-1]], dtype=np.float32)
    q_inv = 1.0 / _prefix_norms(q, dims)
    step = chunk_size or chunk_size_for(n_queries, n_docs, dims[-1])
    bounds = list(zip([0, *dims[:-1]], dims))
    raw_buffer = np.empty((n_queries, min(step, n_docs)), np.float32)
    score_buffer = np.empty_like(raw_buffer)

    best_s = {d: np.empty((n_queries, 0), np.float32) for d in dims}
    best_i = {d: np.empty((n_queries, 0), np.int64) for d in dims}
    for start in range(0, n_docs, step):
        stop = min(start + step, n_docs)
        c = np.ascontiguousarray(corpus[start:stop, : dims[-1]], dtype=np.float32)
        c_inv = 1.0 / _prefix_norms(c, dims)
        if exclude is not None:
            hit = (exclude >= start) & (exclude < stop)
            rows, cols = np.flatnonzero(hit), exclude[hit] - start
        raw = raw_buffer[:, : stop - start]
        score = score_buffer[:, : stop - start]
        for j, (lo, hi) in enumerate(bounds):
            if j == 0:
                np.matmul(q[:, lo:hi], c[:, lo:hi].T, out=raw)
            else:
                raw += q[:, lo:hi] @ c[:, lo:hi].T
            np.multiply(raw, q_inv[j][:, None], out=score)
            score *= c_inv[j][None, :]
            if exclude is not None:
                score[rows, cols] = -np.inf
            d = dims[j]
            best_s[d], best_i[d] = merge_shortlist(best_s[d], best_i[d], score, start, capacity)
        if on_progress:
            on_progress(stop - start)
    return {d: _finalize(queries, corpus, d, best_s[d], best_i[d], k_eff, doc_key, exclude) for d in dims}


def search_per_dim(
    queries: np.ndarray,
    corpus: np.ndarray,
    dims: Sequence[int],
    k: int,
    doc_key: np.ndarray,
    chunk_size: int | None = None,
) -> dict[int, Ranking]:
    """The naive path, one full search per dim: cut, re-normalise, score. A reference for tests and benchmarks."""
    rankings = {}
    k_eff = min(k, corpus.shape[0])
    capacity = min(shortlist_size(k_eff), corpus.shape[0])
    for d in sorted(set(dims)):
        q = np.ascontiguousarray(queries[:, :d], dtype=np.float32)
        q /= _prefix_norms(q, [d])[0][:, None]
        step = chunk_size or chunk_size_for(q.shape[0], corpus.shape[0], d)
        best_s, best_i = np.empty((q.shape[0], 0), np.float32), np.empty((q.shape[0], 0), np.int64)
        for start in range(0, corpus.shape[0], step):
            c = np.ascontiguousarray(corpus[start : start + step, :d], dtype=np.float32)
            c /= _prefix_norms(c, [d])[0][:, None]
            best_s, best_i = merge_shortlist(best_s, best_i, q @ c.T, start, capacity)
        rankings[d] = _finalize(queries, corpus, d, best_s, best_i, k_eff, doc_key, None)
    return rankings
