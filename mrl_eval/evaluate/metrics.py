"""Retrieval metrics at a cutoff k, with trec_eval semantics (numpy only).

Every definition follows trec_eval 9 (https://github.com/usnistgov/trec_eval) at its default
relevance_level 1, so values agree with `trec_eval -m <measure>` and pytrec_eval to rounding.
For one query, with `rel(d)` its qrels value for document d (0 when unjudged) and ranks starting at 1:

- relevant: `rel(d) >= 1`. `R` = the number of relevant documents among all the query's judgments,
  retrieved or not.
- `ndcg@k` (trec_eval `ndcg_cut.k`): `DCG@k / IDCG@k`, where `DCG@k = sum_{r<=k} gain(r) / log2(r + 1)`,
  the gain is the linear graded relevance `max(rel, 0)` (negative judgments count as 0), and `IDCG@k`
  is the same sum over all the query's judged relevance values sorted descending, cut at k. 0 when
  `IDCG@k` is 0.
- `recall@k` (`recall.k`): relevant documents in the top k / `R`; 0 when `R` is 0.
- `mrr@k` (`recip_rank` on a run cut at k): 1 / rank of the first relevant document within the top k,
  else 0.
- `map@k` (`map_cut.k`): the sum, over each relevant document retrieved at rank `r <= k`, of precision
  at `r`, divided by `R` (relevant documents not retrieved count as precision 0); 0 when `R` is 0.
- `precision@k` (`P.k`): relevant documents in the top k / k, dividing by k even when fewer than k
  documents were retrieved.

Which queries are evaluated, as trec_eval: a query with no judgments at all is skipped (left out of the
result); a query whose judgments are all below 1 is evaluated and scores 0 everywhere.

Ordering is the caller's job: rankings arrive already sorted by trec_eval's rule (score descending,
then doc_id descending as a string; see `retrieval.py`), each document at most once per query.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrl_eval.evaluate.metric_base import RankedQueries


@dataclass(frozen=True)
class NDCG:
    name: str = "ndcg"
    needs_qrels: bool = True
    mteb_name: str | None = "ndcg"
    about: str = "normalised discounted cumulative gain (trec_eval ndcg_cut)"

    def score(self, ranking: RankedQueries, k: int) -> np.ndarray:
        col = ranking.cut(k)
        top = ranking.ideal_dcg[:, col]
        return np.where(top > 0, ranking.dcg[:, col] / np.where(top > 0, top, 1.0), 0.0)


@dataclass(frozen=True)
class Recall:
    name: str = "recall"
    needs_qrels: bool = True
    mteb_name: str | None = "recall"
    about: str = "share of the relevant documents in the top k (trec_eval recall)"

    def score(self, ranking: RankedQueries, k: int) -> np.ndarray:
        has_rel = ranking.num_relevant > 0
        found = ranking.relevant_found[:, ranking.cut(k)]
        return np.where(has_rel, found / np.where(has_rel, ranking.num_relevant, 1.0), 0.0)


@dataclass(frozen=True)
class MRR:
    name: str = "mrr"
    needs_qrels: bool = True
    mteb_name: str | None = "mrr"
    about: str = "reciprocal rank of the first relevant document within the top k (trec_eval recip_rank)"

    def score(self, ranking: RankedQueries, k: int) -> np.ndarray:
        is_rel = ranking.is_relevant
        first = np.where(is_rel.any(axis=1), is_rel.argmax(axis=1) + 1, np.inf)
        return np.where(first <= k, 1.0 / first, 0.0)


@dataclass(frozen=True)
class MAP:
    name: str = "map"
    needs_qrels: bool = True
    mteb_name: str | None = "map"
    about: str = "average precision over the relevant documents, cut at k (trec_eval map_cut)"

    def score(self, ranking: RankedQueries, k: int) -> np.ndarray:
        ranks = np.arange(1, ranking.width + 1, dtype=np.float64)
        found = ranking.relevant_found
        precision_sum = np.cumsum(np.where(ranking.is_relevant, found / ranks, 0.0), axis=1)
        has_rel = ranking.num_relevant > 0
        return np.where(has_rel, precision_sum[:, ranking.cut(k)] / np.where(has_rel, ranking.num_relevant, 1.0), 0.0)


@dataclass(frozen=True)
class Precision:
    name: str = "precision"
    needs_qrels: bool = True
    mteb_name: str | None = "precision"
    about: str = "relevant documents in the top k over k (trec_eval P)"

    def score(self, ranking: RankedQueries, k: int) -> np.ndarray:
        return ranking.relevant_found[:, ranking.cut(k)] / k


METRICS = (NDCG(), Recall(), MRR(), MAP(), Precision())
