"""What a metric is (`Metric`, a Protocol) and what it is computed from (`RankedQueries`: one ranking of a set of
queries, with the arrays every trec_eval measure is built from, computed once and shared).

A metric is registered in `metric_registry.py`; adding one is a class in a module plus its name there. Qrels
metrics read `judged_*` (the queries' relevance judgments), label-free ones `reference` (the full dim's ranking of
the same queries); `needs_qrels` says which, and decides which queries a metric is evaluated on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np

RELEVANCE_LEVEL = 1  # trec_eval's default: a judgment >= 1 makes a document relevant


class Metric(Protocol):
    name: str  # written `<name>@<k>`, e.g. ndcg@10
    needs_qrels: bool  # False: measured against the full dim's ranking of the same query (label-free)
    mteb_name: str | None  # MTEB's score at k is f"{mteb_name}_at_{k}"; None where MTEB has no such score
    about: str  # one line, for the help and the docs

    def score(self, ranking: RankedQueries, k: int) -> np.ndarray:
        """One value per query of `ranking`, in [0, 1]."""
        ...


def compact(ranking: np.ndarray) -> np.ndarray:
    """Move padding (negative indices) to the end of each row, keeping the order of the real entries."""
    is_pad = ranking < 0
    if not is_pad.any():
        return ranking
    order = np.argsort(is_pad, axis=1, kind="stable")
    return np.take_along_axis(ranking, order, axis=1)


@dataclass(frozen=True, eq=False)
class RankedQueries:
    """One ranking of some queries: `ranked` (n, depth) doc indices best first, -1 as padding (skipped: documents
    after it move up a rank). Qrels metrics read `judged` (each query's judgments, none empty); label-free ones
    `reference` (the full dim's ranking of the same queries). `width` is how deep any metric looks."""

    ranked: np.ndarray
    width: int
    doc_ids: Sequence[str] = ()
    judged: Sequence[dict[str, int]] = ()
    reference: np.ndarray | None = field(default=None, repr=False)

    @cached_property
    def ranking(self) -> np.ndarray:
        """The ranking with padding moved to the end, cut at `width`."""
        return compact(self.ranked.astype(np.int64, copy=False))[:, : self.width]

    @cached_property
    def relevance(self) -> np.ndarray:
        """(n, width) qrels value of each ranked doc; 0 where unjudged, padding or past depth."""
        ranking, judged = self.ranking, self.judged
        n_rows, depth = ranking.shape
        n_docs = max(len(self.doc_ids), 1)
        wanted = set().union(*judged)
        doc_index = {doc_id: i for i, doc_id in enumerate(self.doc_ids) if doc_id in wanted}
        # One sorted key per (row, doc) judgment, so every lookup is a single vectorised searchsorted.
        keys: list[int] = []
        values: list[int] = []
        for row, judgments in enumerate(judged):
            for doc_id, value in judgments.items():
                index = doc_index.get(doc_id)
                if index is not None:
                    keys.append(row * n_docs + index)
                    values.append(int(value))
        rel = np.zeros((n_rows, self.width), dtype=np.int64)
        if not keys or depth == 0:
            return rel
        key_arr = np.asarray(keys, dtype=np.int64)
        order = np.argsort(key_arr)
        key_arr = key_arr[order]
        value_arr = np.asarray(values, dtype=np.int64)[order]
        wanted_keys = np.arange(n_rows, dtype=np.int64)[:, None] * n_docs + ranking
        pos = np.minimum(np.searchsorted(key_arr, wanted_keys), len(key_arr) - 1)
        hit = (key_arr[pos] == wanted_keys) & (ranking >= 0)
        rel[:, :depth] = np.where(hit, value_arr[pos], 0)
        return rel

    @cached_property
    def is_relevant(self) -> np.ndarray:
        return self.relevance >= RELEVANCE_LEVEL

    @cached_property
    def discount(self) -> np.ndarray:
        return 1.0 / np.log2(np.arange(2, self.width + 2, dtype=np.float64))

    @cached_property
    def dcg(self) -> np.ndarray:
        """Cumulative DCG with linear gains max(rel, 0) (negative judgments count as 0)."""
        gain = np.maximum(self.relevance, 0).astype(np.float64)
        return np.cumsum(gain * self.discount, axis=1)

    @cached_property
    def ideal_dcg(self) -> np.ndarray:
        """Cumulative DCG of all the query's judged values sorted descending."""
        ideal = np.zeros((len(self.judged), self.width), dtype=np.float64)
        for row, judgments in enumerate(self.judged):
            best = sorted((max(v, 0) for v in judgments.values()), reverse=True)[: self.width]
            ideal[row, : len(best)] = best
        return np.cumsum(ideal * self.discount, axis=1)

    @cached_property
    def num_relevant(self) -> np.ndarray:
        """R: relevant documents among all the query's judgments, retrieved or not."""
        return np.array(
            [sum(v >= RELEVANCE_LEVEL for v in judgments.values()) for judgments in self.judged], dtype=np.float64
        )

    @cached_property
    def relevant_found(self) -> np.ndarray:
        """Relevant documents within the top r, for every r."""
        return np.cumsum(self.is_relevant, axis=1, dtype=np.float64)

    def cut(self, k: int) -> int:
        """The column of rank k (ranks past the width are constant)."""
        return min(k, self.width) - 1
