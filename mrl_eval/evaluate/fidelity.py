"""Label-free fidelity: how much of the full-dim exact ranking a smaller dim keeps, per query, with no qrels.

Without relevance judgments the reference is the full-dim exact ranking of the same query (the one a deployment
at full size would return). For one query, with `F` the full dim's ranking and `D` the dim's, both best first
and each document at most once:

- `overlap@k`: |top k of D ∩ top k of F| / |top k of F| (the share of the full-size top k that survives).
- `shortlist_recall@k`: the share of the full dim's top 10 found inside the dim's top k: what a
  shortlist-then-rerank pipeline needs (the reranker can only restore what the shortlist kept). The same
  quantity the two-stage table reports as "shortlist recall".
- `rbo@k`: rank-biased overlap (Webber, Moffat and Zobel 2010, "A similarity measure for indefinite rankings",
  ACM TOIS 28(4)), the extrapolated variant for two lists of the same depth k (their eq. 30):
  ``RBO_ext = X_k / k * p^k + (1 - p) / p * sum_{d=1..k} X_d / d * p^d`` with `X_d` the overlap of the two
  top-d prefixes and p = 0.9 (`RBO_P`): the top 10 ranks carry 86% of the weight (their eq. 21). It is 1 for
  identical lists and 0 for disjoint ones, and rewards agreement near the top.

Where a corpus holds fewer than k rankable documents, lists are cut to the documents there are (-1 padding is
skipped) and the denominators are the full dim's list length, so the full dim scores 1 on every measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrl_eval import defaults
from mrl_eval.evaluate.metric_base import RankedQueries

DEFAULT_LABEL_FREE_METRICS = defaults.LABEL_FREE_METRICS
RBO_P = 0.9
SHORTLIST_TARGET = 10  # shortlist_recall@k: how much of the full dim's top 10 the dim's top k holds
# shortlist_recall@k reaches 1 (every query's full-dim top 10 inside the dim's top k) on small corpora, at large dims
# and large k; from this mean on it can no longer tell dims apart, and the reports say so.
SATURATED = 0.99
_ROWS_PER_BLOCK = 512  # queries per block of the (queries, k, k) comparison


def _blocks(kind: str, ranking: RankedQueries, k: int) -> np.ndarray:
    """`kind` measured block by block of queries (the comparison holds (rows, k, k) booleans)."""
    if ranking.reference is None:
        raise ValueError("label-free metrics need the full dim's ranking as the reference")
    ranked = np.asarray(ranking.ranked, np.int64)
    reference = np.asarray(ranking.reference, np.int64)
    parts = [
        _measure(kind, ranked[s : s + _ROWS_PER_BLOCK], reference[s : s + _ROWS_PER_BLOCK], k)
        for s in range(0, ranked.shape[0], _ROWS_PER_BLOCK)
    ]
    return np.concatenate(parts) if parts else np.empty(0)


@dataclass(frozen=True)
class Overlap:
    name: str = "overlap"
    needs_qrels: bool = False
    mteb_name: str | None = None
    about: str = "share of the full dim's top k that is in this dim's top k"

    def score(self, ranking: RankedQueries, k: int) -> np.ndarray:
        return _blocks(self.name, ranking, k)


@dataclass(frozen=True)
class ShortlistRecall:
    name: str = "shortlist_recall"
    needs_qrels: bool = False
    mteb_name: str | None = None
    about: str = f"share of the full dim's top {SHORTLIST_TARGET} inside this dim's top k"

    def score(self, ranking: RankedQueries, k: int) -> np.ndarray:
        return _blocks(self.name, ranking, k)


@dataclass(frozen=True)
class RBO:
    name: str = "rbo"
    needs_qrels: bool = False
    mteb_name: str | None = None
    about: str = f"rank-biased overlap with the full dim's ranking (extrapolated, p = {RBO_P})"

    def score(self, ranking: RankedQueries, k: int) -> np.ndarray:
        return _blocks(self.name, ranking, k)


METRICS = (Overlap(), ShortlistRecall(), RBO())


def _compact(ranking: np.ndarray, k: int) -> np.ndarray:
    """The first k real entries of each row (padding moved to the end and kept as -1)."""
    order = np.argsort(ranking < 0, axis=1, kind="stable")
    return np.take_along_axis(ranking, order, axis=1)[:, :k]


def _measure(kind: str, ranked: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    if kind == "shortlist_recall":
        target = _compact(reference, SHORTLIST_TARGET)
        pool = _compact(ranked, k)
        found = ((target[:, :, None] == pool[:, None, :]) & (target[:, :, None] >= 0)).any(axis=2).sum(axis=1)
        return _share(found, (target >= 0).sum(axis=1))
    a, b = _compact(ranked, k), _compact(reference, k)
    same = (a[:, :, None] == b[:, None, :]) & (a[:, :, None] >= 0)  # (rows, i in a, j in b)
    length = (b >= 0).sum(axis=1)
    if kind == "overlap":
        return _share(same.sum(axis=(1, 2)), length)
    return _rbo_ext(same, length, a.shape[1])


def _share(count: np.ndarray, total: np.ndarray) -> np.ndarray:
    return np.where(total > 0, count / np.maximum(total, 1), 1.0)  # nothing to find: nothing was lost


def _rbo_ext(same: np.ndarray, length: np.ndarray, k: int) -> np.ndarray:
    """Webber et al.'s eq. 30 at each row's depth L (its list length): X_d counts the documents at rank <= d in
    both lists, i.e. the shared documents whose worse rank of the two is <= d."""
    rows = same.shape[0]
    if k == 0:
        return np.ones(rows)
    hit_rows, i, j = np.nonzero(same)
    first_shared = np.zeros((rows, k), np.float64)
    np.add.at(first_shared, (hit_rows, np.maximum(i, j)), 1.0)
    overlap = np.cumsum(first_shared, axis=1)  # X_d for d = 1..k
    depth = np.arange(1, k + 1, dtype=np.float64)
    in_list = depth[None, :] <= length[:, None]
    weight = (1 - RBO_P) / RBO_P * RBO_P**depth / depth
    body = np.where(in_list, overlap * weight[None, :], 0.0).sum(axis=1)
    last = np.maximum(length, 1)
    x_last = np.take_along_axis(overlap, (last - 1)[:, None], axis=1)[:, 0]
    value = body + x_last / last * RBO_P ** last.astype(np.float64)
    return np.where(length > 0, value, 1.0)
