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

import re
from collections.abc import Sequence

import numpy as np

from mrl_eval.errors import UsageError
from mrl_eval.evaluate.fidelity import LABEL_FREE
from mrl_eval.limits import whole_number

SUPPORTED = ("ndcg", "recall", "mrr", "map", "precision")
DEFAULT_METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100")

RELEVANCE_LEVEL = 1  # trec_eval's default: a judgment >= 1 makes a document relevant

_METRIC_RE = re.compile(r"^([a-z_]+)\s*@\s*([0-9]+)$")
_VALID_FORMS = (
    ", ".join(f"{name}@K" for name in SUPPORTED)
    + " with K a positive integer, e.g. ndcg@10; without qrels (label-free, see fidelity.py): "
    + ", ".join(f"{name}@K" for name in LABEL_FREE)
)


def parse_metric(name: str) -> tuple[str, int]:
    """'ndcg@10' -> ('ndcg', 10). Case-insensitive, whitespace-stripped.

    Unknown name, missing/zero/negative/non-integer k -> UsageError (an MrlEvalError) naming the value and listing
    valid forms.
    """
    text = str(name).strip().lower()
    match = _METRIC_RE.match(text)
    if match is None:
        problem = "has no cutoff" if "@" not in text else "has a cutoff that is not a positive integer"
        raise UsageError(f"metric {name!r} {problem}: write it as one of {_VALID_FORMS}.")
    metric, k_text = match.group(1), match.group(2)
    if metric not in SUPPORTED + LABEL_FREE:
        raise UsageError(f"unknown metric {name!r}: use one of {_VALID_FORMS}.")
    k = whole_number(k_text, "--metrics")
    if k <= 0:
        raise UsageError(f"metric {name!r} has cutoff {k}: K must be at least 1; use one of {_VALID_FORMS}.")
    return metric, k


def parse_metrics(spec: str | Sequence[str]) -> list[str]:
    """Comma-separated or list -> canonical names ('ndcg@10'), de-duplicated, order kept."""
    items = [spec] if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in items:
        for part in str(item).split(","):
            if not part.strip():
                continue
            metric, k = parse_metric(part)
            canonical = f"{metric}@{k}"
            if canonical not in names:
                names.append(canonical)
    if not names:
        raise UsageError(f"no metrics given in {spec!r}: name at least one of {_VALID_FORMS}.")
    return names


def max_depth(metrics: Sequence[str]) -> int:
    """Largest k among the metrics: how deep the ranking must go."""
    if not metrics:
        raise UsageError(f"no metrics given: name at least one of {_VALID_FORMS}.")
    return max(parse_metric(name)[1] for name in metrics)


def evaluate(
    query_ids: Sequence[str],
    ranked: np.ndarray,
    doc_ids: Sequence[str],
    qrels: dict[str, dict[str, int]],
    metrics: Sequence[str],
) -> dict[str, dict[str, float]]:
    """Metric name -> query_id -> value, for every query in query_ids that has judgments in qrels.

    `ranked` is (n_queries, depth) int indices into doc_ids, best first; -1 is padding and is skipped
    (documents after it move up a rank). Keys are canonical metric names ('ndcg@10').
    """
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or ranked.shape[0] != len(query_ids):
        raise ValueError(f"ranked has shape {ranked.shape}; expected ({len(query_ids)}, depth)")
    if ranked.size and not np.issubdtype(ranked.dtype, np.integer):
        raise ValueError(f"ranked must hold integer doc indices, not {ranked.dtype}")
    if ranked.size and ranked.max() >= len(doc_ids):
        raise ValueError(f"ranked holds doc index {ranked.max()} but there are only {len(doc_ids)} doc_ids")

    parsed: dict[str, tuple[str, int]] = {}
    for name in metrics:
        metric, k = parse_metric(name)
        if metric in LABEL_FREE:  # measured against a reference ranking, not qrels: fidelity.score_ranking
            raise ValueError(f"{name} is a label-free metric; score it with fidelity.score_ranking")
        parsed.setdefault(f"{metric}@{k}", (metric, k))
    rows = [i for i, query_id in enumerate(query_ids) if qrels.get(query_id)]
    evaluated = [query_ids[i] for i in rows]
    if not parsed:
        return {}
    if not rows:
        return {name: {} for name in parsed}
    judged = [qrels[query_id] for query_id in evaluated]
    # Past the ranking's depth and past a query's number of judgments every cumulative sum below is constant, so the
    # arrays stop there: a cutoff far beyond the corpus (recall@100000000000) costs no more than the corpus itself.
    deepest = max(k for _, k in parsed.values())
    width = max(1, min(deepest, max(ranked.shape[1], max(map(len, judged)))))

    ranking = _compact(ranked[rows].astype(np.int64, copy=False))[:, :width]
    rel = _relevance_matrix(ranking, doc_ids, judged, width)
    gain = np.maximum(rel, 0).astype(np.float64)
    is_rel = rel >= RELEVANCE_LEVEL

    discount = 1.0 / np.log2(np.arange(2, width + 2, dtype=np.float64))
    dcg = np.cumsum(gain * discount, axis=1)
    ideal = np.zeros((len(rows), width), dtype=np.float64)
    for row, judgments in enumerate(judged):
        best = sorted((max(v, 0) for v in judgments.values()), reverse=True)[:width]
        ideal[row, : len(best)] = best
    idcg = np.cumsum(ideal * discount, axis=1)
    num_rel = np.array(
        [sum(v >= RELEVANCE_LEVEL for v in judgments.values()) for judgments in judged], dtype=np.float64
    )
    has_rel = num_rel > 0
    safe_num_rel = np.where(has_rel, num_rel, 1.0)

    rel_found = np.cumsum(is_rel, axis=1, dtype=np.float64)
    ranks = np.arange(1, width + 1, dtype=np.float64)
    precision_sum = np.cumsum(np.where(is_rel, rel_found / ranks, 0.0), axis=1)
    first_rel = np.where(is_rel.any(axis=1), is_rel.argmax(axis=1) + 1, np.inf)

    results: dict[str, dict[str, float]] = {}
    for name, (metric, k) in parsed.items():
        col = min(k, width) - 1
        if metric == "ndcg":
            top = idcg[:, col]
            values = np.where(top > 0, dcg[:, col] / np.where(top > 0, top, 1.0), 0.0)
        elif metric == "recall":
            values = np.where(has_rel, rel_found[:, col] / safe_num_rel, 0.0)
        elif metric == "mrr":
            values = np.where(first_rel <= k, 1.0 / first_rel, 0.0)
        elif metric == "map":
            values = np.where(has_rel, precision_sum[:, col] / safe_num_rel, 0.0)
        else:  # precision
            values = rel_found[:, col] / k
        results[name] = dict(zip(evaluated, values.tolist(), strict=True))
    return results


def mean(per_query: dict[str, float]) -> float:
    """Mean over evaluated queries (0.0 if none)."""
    if not per_query:
        return 0.0
    return float(np.mean(np.fromiter(per_query.values(), dtype=np.float64, count=len(per_query))))


def _compact(ranking: np.ndarray) -> np.ndarray:
    """Move padding (negative indices) to the end of each row, keeping the order of the real entries."""
    is_pad = ranking < 0
    if not is_pad.any():
        return ranking
    order = np.argsort(is_pad, axis=1, kind="stable")
    return np.take_along_axis(ranking, order, axis=1)


def _relevance_matrix(
    ranking: np.ndarray, doc_ids: Sequence[str], judged: list[dict[str, int]], width: int
) -> np.ndarray:
    """(n_queries, width) qrels value of each ranked doc; 0 where unjudged, padding or past depth."""
    n_rows, depth = ranking.shape
    n_docs = max(len(doc_ids), 1)
    wanted = set().union(*judged)
    doc_index = {doc_id: i for i, doc_id in enumerate(doc_ids) if doc_id in wanted}

    # One sorted key per (row, doc) judgment, so every lookup is a single vectorised searchsorted.
    keys: list[int] = []
    values: list[int] = []
    for row, judgments in enumerate(judged):
        for doc_id, value in judgments.items():
            index = doc_index.get(doc_id)
            if index is not None:
                keys.append(row * n_docs + index)
                values.append(int(value))
    rel = np.zeros((n_rows, width), dtype=np.int64)
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
