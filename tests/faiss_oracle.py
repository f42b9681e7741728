"""FAISS as the independent oracle for precision cells: the same normalised prefixes through the index each
precision corresponds to, and a check that two top-k lists agree up to ties.

Used by tests/test_precision.py (on tests/data) and scripts/check_faiss_agreement.py (on the shared collections).
"""

from __future__ import annotations

import numpy as np


def unit_prefix(x: np.ndarray, dim: int) -> np.ndarray:
    """Independent of mrl_eval: the first `dim` values over their float64 norm, as float32 (zero rows stay zero)."""
    p = np.asarray(x[:, :dim], dtype=np.float64)
    norms = np.linalg.norm(p, axis=1, keepdims=True)
    return np.divide(p, norms, out=np.zeros_like(p), where=norms > 0).astype(np.float32)


def faiss_index(docs: np.ndarray, precision: str, train: np.ndarray | None = None):
    """The FAISS index that stores normalised `docs` at `precision` (`train`: the rows the int8 ranges come from)."""
    import faiss

    dim = docs.shape[1]
    if precision == "binary":
        index = faiss.IndexBinaryFlat((dim + 7) // 8 * 8)  # zero padding bits add nothing to a Hamming distance
        index.add(np.packbits(docs > 0, axis=1))
        return index
    if precision == "float32":
        index = faiss.IndexFlatIP(dim)
    else:
        kind = {"float16": faiss.ScalarQuantizer.QT_fp16, "int8": faiss.ScalarQuantizer.QT_8bit}[precision]
        index = faiss.IndexScalarQuantizer(dim, kind, faiss.METRIC_INNER_PRODUCT)
        index.train(docs if train is None else train)
    index.add(docs)
    return index


def faiss_search(docs: np.ndarray, queries: np.ndarray, precision: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids), best first, larger is better: inner products, or dim - 2 * Hamming for binary."""
    index = faiss_index(docs, precision)
    if precision == "binary":
        distances, ids = index.search(np.packbits(queries > 0, axis=1), k)
        return docs.shape[1] - 2.0 * distances.astype(np.float64), ids
    scores, ids = index.search(queries, k)
    return scores.astype(np.float64), ids


def by_tie_rule(scores: np.ndarray, ids: np.ndarray, doc_key: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A full FAISS result re-ordered by (score desc, doc_key desc), cut to k: FAISS breaks ties its own way."""
    order = np.lexsort((-doc_key[ids], -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


def disagreements(
    ours_i: np.ndarray, ours_s: np.ndarray, theirs_i: np.ndarray, theirs_s: np.ndarray, tol: float
) -> list[str]:
    """Where two best-first top-k lists differ by more than a permutation within groups of scores equal up to
    `tol`: the score at each rank must agree, a document both lists hold must sit at ranks of equal score, and a
    document only one list holds must score within `tol` of the k-th score (a tie at the cut). [] if they agree."""
    problems = []
    for q in range(ours_i.shape[0]):
        if np.max(np.abs(ours_s[q] - theirs_s[q])) > tol:
            problems.append(f"query {q}: scores by rank differ by {np.max(np.abs(ours_s[q] - theirs_s[q])):.2e}")
            continue
        rank_ours = {int(d): r for r, d in enumerate(ours_i[q])}
        rank_theirs = {int(d): r for r, d in enumerate(theirs_i[q])}
        for doc in rank_ours.keys() | rank_theirs.keys():
            if doc in rank_ours and doc in rank_theirs:
                gap = abs(ours_s[q, rank_ours[doc]] - theirs_s[q, rank_theirs[doc]])
            elif doc in rank_ours:
                gap = abs(ours_s[q, rank_ours[doc]] - ours_s[q, -1])
            else:
                gap = abs(theirs_s[q, rank_theirs[doc]] - theirs_s[q, -1])
            if gap > tol:
                problems.append(f"query {q}: doc row {doc} placed {gap:.2e} apart")
    return problems
