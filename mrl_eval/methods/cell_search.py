"""Exact top-k for float16, int8 and binary cells, all of them in one pass over the corpus, codes made per chunk.

The corpus (a memory map is fine) is read chunk by chunk; each chunk is cut and normalised at every dim asked
for, encoded with each cell's `precision.Codec`, scored against the queries and merged into a running top-k per
cell. No cell's codes for the whole corpus are ever held, so memory is bounded by the chunk, not the corpus.

Exact scores, exact ties (the philosophy of `evaluate/retrieval.py`): a ranking must be a function of the
vectors alone, not of how the corpus was chunked, so near-ties and exact ties fall the same way every time.

- binary: the score `dim - 2 * hamming` (the dot product of the +-1 sign vectors) is an integer, computed exactly
  (a float32 product of +-1 values stays below 2**24), so it is the same in any order; the running
  merge by (score desc, doc_key desc, index asc), a strict total order, is exact across chunks.
- float16 and int8: the score is <query, decoded document>, a float32 query against float32 decoded values, and
  no float summation of it is exact by construction. So, as `retrieval.py` does, the float32 BLAS product only
  shortlists `retrieval.shortlist_size(k)` candidates per query; each candidate is then rescored on its own: the
  products q_i * x_i are exact in float64 (24 + 24 significand bits) and are summed by numpy's pairwise
  summation along the dim axis, whose order depends on `dim` only, so a (query, doc) pair always gets the same
  float64 score wherever it sits. Candidates are ranked by that score, ties doc id descending.
  The shortlist is provably sufficient: a float32 dot product of length d, in any order, errs by at most
  gamma_d * sum_i |q_i x_i| with gamma_d = d u / (1 - d u), u = 2**-24 (Higham, Accuracy and Stability of
  Numerical Algorithms, 3.1; fused multiply-adds only lower it), and sum_i |q_i x_i| <= |q| |x| (Cauchy-Schwarz;
  the largest decoded norm |x| is tracked during the pass). A document that never entered a full shortlist scored
  at most its lowest float32 score, so its rescored score is at most that plus the bound (1% added for the float64
  rounding); where that could reach the k-th rescored score, the query is rescored against the whole corpus.

Tie rule: as `retrieval.py` (trec_eval): equal scores are ordered by doc id descending (a higher `doc_key`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mrl_eval.evaluate.retrieval import Ranking, merge_shortlist, rescore_shortlists, shortlist_size, without_row
from mrl_eval.methods.precision import BLOCK_BYTES, Codec, blocks, normalised

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")  # numpy >= 2
FLOAT32_UNIT = 2.0**-24


def bit_words(codes: np.ndarray) -> np.ndarray:
    """Packed bits as uint64 words (zero-padded; zero bits xor to zero) where numpy can count them, else bytes."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if not _HAS_BITWISE_COUNT:
        return codes
    pad = -codes.shape[1] % 8
    if pad:
        codes = np.concatenate([codes, np.zeros((codes.shape[0], pad), np.uint8)], axis=1)
    return codes.view(np.uint64)


def popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x) if _HAS_BITWISE_COUNT else _POPCOUNT[x]


def pair_scores(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """float64 <q, x> of each pair, on its own: q (..., d) against x (..., m, d); exact products, pairwise sums
    along d in an order fixed by d alone."""
    return (np.asarray(x, np.float64) * np.asarray(q, np.float64)[..., None, :]).sum(axis=-1)


def error_bound(q: np.ndarray, dim: int, max_doc_norm: float) -> np.ndarray:
    """Per query: the largest float32 error of a score against any decoded document (see the module docstring)."""
    gamma = dim * FLOAT32_UNIT / (1 - dim * FLOAT32_UNIT)
    norms = np.sqrt(np.einsum("ij,ij->i", q.astype(np.float64), q.astype(np.float64)))
    return gamma * norms * max_doc_norm * 1.01 + 1e-30


def chunk_rows(n_queries: int, dim: int) -> int:
    """Corpus rows per chunk: the queries x chunk scores and the chunk's float64 rows each ~64 MiB at most."""
    return max(1, BLOCK_BYTES // (8 * max(n_queries, dim, 1)))


def keep_best(cand_s: np.ndarray, cand_i: np.ndarray, k: int, doc_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best k columns of each row by (score desc, doc_key desc, index asc), a strict total order.

    A strict total order makes the running merge exact: the corpus-wide top k under it is contained in the union of
    every chunk's top k, so chunk boundaries that split a group of tied scores change nothing.
    """
    m, width = cand_s.shape
    if width > k:
        # Pre-filter to the columns scoring at least the k-th score (all ties with it kept), then sort only those.
        kth = -np.partition(-cand_s, k - 1, axis=1)[:, k - 1 : k]
        keep = cand_s >= kth
        counts = keep.sum(axis=1)
        rows, cols = np.divmod(np.flatnonzero(keep), width)
        slot = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        kept_s = np.full((m, int(counts.max())), -np.inf, np.float64)
        kept_i = np.full(kept_s.shape, -1, np.int64)
        kept_s[rows, slot] = cand_s[rows, cols]
        kept_i[rows, slot] = cand_i[rows, cols]
        cand_s, cand_i = kept_s, kept_i
    key = np.where(cand_i >= 0, doc_key[np.maximum(cand_i, 0)], 0)
    order = np.lexsort((cand_i, -key, -cand_s), axis=1)[:, :k]
    return np.take_along_axis(cand_s, order, axis=1), np.take_along_axis(cand_i, order, axis=1)


def _signs(codes: np.ndarray, dim: int) -> np.ndarray:
    """Packed sign bits as a float32 matrix of +1 (bit set) and -1."""
    return np.unpackbits(codes, axis=1)[:, :dim].astype(np.float32) * 2 - 1


class _Cell:
    """The running state of one cell during the pass."""

    def __init__(self, codec: Codec, queries: np.ndarray, k: int):
        self.codec = codec
        self.q = normalised(queries, codec.dim)  # float32; binary cells encode it too
        self.q_signs = _signs(codec.encode(self.q), codec.dim) if codec.precision == "binary" else None
        m = queries.shape[0]
        self.best_s = np.empty((m, 0), np.float64 if self.q_signs is not None else np.float32)
        self.best_i = np.empty((m, 0), np.int64)
        self.k = k
        self.max_doc_norm = 0.0  # of the decoded documents seen
        self.full_rescores = 0  # queries whose shortlist could not be proven sufficient (for tests)

    def add(self, x: np.ndarray, start: int, exclude_hit: tuple | None, doc_key: np.ndarray, capacity: int) -> None:
        codes = self.codec.encode(x)
        if self.q_signs is not None:
            # dim - 2 * hamming is the dot product of the +-1 sign vectors: a float32 matrix product of +-1 values,
            # exact (integers below 2**24), gives it far faster than xor + popcount in numpy
            score = (self.q_signs @ _signs(codes, self.codec.dim).T).astype(np.float64)
        else:
            decoded = self.codec.decode(codes)
            norms = np.einsum("ij,ij->i", decoded, decoded, dtype=np.float64)
            self.max_doc_norm = max(self.max_doc_norm, float(np.sqrt(norms.max(initial=0.0))))
            score = self.q @ decoded.T  # float32: a shortlist only
        if exclude_hit is not None:
            score[exclude_hit[0], exclude_hit[1]] = -np.inf
        if self.q_signs is not None:
            index = np.broadcast_to(np.arange(start, start + x.shape[0], dtype=np.int64), score.shape)
            self.best_s, self.best_i = keep_best(
                np.concatenate([self.best_s, score], axis=1),
                np.concatenate([self.best_i, index], axis=1),
                self.k,
                doc_key,
            )
        else:
            self.best_s, self.best_i = merge_shortlist(self.best_s, self.best_i, score, start, capacity)


def search_cells(
    queries: np.ndarray,
    docs: np.ndarray,
    codecs: Sequence[Codec],
    k: int,
    doc_key: np.ndarray,
    exclude: np.ndarray | None = None,
    chunk_size: int | None = None,
) -> list[Ranking]:
    """Exact top-k of every codec's cell, in one pass over `docs` (full-size rows; a memory map is fine).

    Returns min(k, n) columns per query like `retrieval.search`, one Ranking per codec; `exclude[q]` is a corpus
    row query q must not retrieve (or -1). Where fewer documents can be ranked, doc_index is -1 and score -inf.
    """
    n, m = docs.shape[0], queries.shape[0]
    k_eff = max(0, min(k, n))
    if k_eff == 0 or not codecs:
        return [Ranking(np.empty((m, 0), np.int64), np.empty((m, 0), np.float64)) for _ in codecs]
    capacity = min(shortlist_size(k_eff), n)
    cells = [_Cell(c, queries, k_eff) for c in codecs]
    dims = sorted({c.dim for c in codecs})
    step = chunk_size or chunk_rows(m, dims[-1])
    for start, stop in blocks(n, step):
        raw = np.asarray(docs[start:stop, : dims[-1]])
        hit = None
        if exclude is not None:
            mask = (exclude >= start) & (exclude < stop)
            hit = (np.flatnonzero(mask), exclude[mask] - start)
        for dim in dims:
            x = normalised(raw, dim)
            for cell in cells:
                if cell.codec.dim == dim:
                    cell.add(x, start, hit, doc_key, capacity)
    rankings = []
    for cell in cells:
        if cell.q_signs is not None:
            ranked = np.isfinite(cell.best_s)
            rankings.append(Ranking(np.where(ranked, cell.best_i, -1), np.where(ranked, cell.best_s, -np.inf)))
        else:
            rankings.append(_finalize(cell, docs, k_eff, doc_key, exclude))
    return rankings


def _decoded_rows(codec: Codec, docs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The decoded documents at corpus `rows` (any shape), shape (*rows.shape, dim), float32; each distinct row is
    read once, in file order."""
    unique, inverse = np.unique(rows.ravel(), return_inverse=True)
    raw = np.asarray(docs[unique], np.float32) if unique.size else np.empty((0, docs.shape[1]), np.float32)
    decoded = codec.decode(codec.encode(normalised(raw, codec.dim)))
    return decoded[inverse].reshape(*rows.shape, codec.dim)


def _finalize(cell: _Cell, docs: np.ndarray, k: int, doc_key: np.ndarray, exclude: np.ndarray | None) -> Ranking:
    """Rescore each query's float32 shortlist in float64 and keep the best k by (score desc, doc id desc)."""

    def exact_scores(b0: int, b1: int, idx: np.ndarray) -> np.ndarray:
        return pair_scores(cell.q[b0:b1], _decoded_rows(cell.codec, docs, idx))

    def rescore_all(q: int, excluded: int) -> tuple[np.ndarray, np.ndarray]:
        cell.full_rescores += 1
        return _rescore_all(cell, q, docs, excluded)

    return rescore_shortlists(
        cell.best_s,
        cell.best_i,
        k,
        doc_key,
        n_docs=docs.shape[0],
        dim=cell.codec.dim,
        exact_scores=exact_scores,
        slack=error_bound(cell.q, cell.codec.dim, cell.max_doc_norm),
        rescore_all=rescore_all,
        exclude=exclude,
    )


def _rescore_all(cell: _Cell, q: int, docs: np.ndarray, excluded: int) -> tuple[np.ndarray, np.ndarray]:
    """Query `q` against every document, each pair scored as in `_finalize`."""
    step = max(1, BLOCK_BYTES // (8 * cell.codec.dim))
    parts = []
    for s, e in blocks(docs.shape[0], step):
        x = cell.codec.decode(cell.codec.encode(normalised(np.asarray(docs[s:e]), cell.codec.dim)))
        parts.append(pair_scores(cell.q[q], x))
    return without_row(np.arange(docs.shape[0], dtype=np.int64), np.concatenate(parts), excluded)
