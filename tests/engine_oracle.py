"""numpy brute force over the codes an engine stores, independent of mrl_eval: the oracle for neighbour recall.

Scores follow the engines' convention in mrl_eval (higher is better): FAISS returns inner products of the
normalised prefix (float32), Hamming distances negated (binary); pgvector returns the negated cosine distance
(`<=>`, 1 - cosine) of the prefix as stored (float32 `vector`, float16 `halfvec`), or the negated Hamming distance
(`<~>`) of the sign bits.
"""

from __future__ import annotations

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def exact_scores(engine: str, docs: np.ndarray, queries: np.ndarray, dim: int, precision: str) -> np.ndarray:
    """Every (query, doc) score at `dim` and `precision`, as the engine scores the codes it stores."""
    if precision == "binary":
        q, d = np.asarray(queries[:, :dim]) > 0, np.asarray(docs[:, :dim]) > 0
        return -(q[:, None, :] != d[None, :, :]).sum(axis=2).astype(np.float64)
    store = {"float32": np.float32, "float16": np.float16}[precision]
    q = np.asarray(queries[:, :dim], np.float64)
    d = np.asarray(docs[:, :dim], np.float64)
    if engine == "faiss":  # the normalised prefix is stored; the float32 query asks it (inner product)
        return (
            _unit(q).astype(np.float32).astype(np.float64)
            @ _unit(d).astype(np.float32).astype(store).astype(np.float64).T
        )
    # pgvector casts the prefix as it is to the stored type, then takes the cosine
    q, d = q.astype(np.float32).astype(store), d.astype(np.float32).astype(store)
    return _unit(q.astype(np.float64)) @ _unit(d.astype(np.float64)).T - 1.0


def top_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """Each query's k best scores, best first."""
    return -np.sort(-scores, axis=1)[:, :k]


def recall_of_ids(ids: np.ndarray, scores: np.ndarray, k: int, atol: float = 1e-5) -> float:
    """Mean share of the exact top k found among the first k returned `ids` (-1 = none): a returned doc counts when
    its oracle score reaches the k-th best oracle score (ann-benchmarks' rule: a tie at the cut is not a miss)."""
    kth = top_scores(scores, k)[:, k - 1]
    found = []
    for q, row in enumerate(ids[:, :k]):
        got = row[row >= 0]
        found.append(min(k, int((scores[q, got] >= kth[q] - atol).sum())) / k)
    return float(np.mean(found))
