"""Per-query losses: the queries that score lower at a dim than at the full dim, and the relevant documents they
lost from the top k."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mrl_eval.evaluate.retrieval import Ranking


def query_losses(
    per_query: Mapping[int, Mapping[str, Mapping[str, float]]],
    rankings: Mapping[int, Ranking],
    full_dim: int,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    qrels: dict[str, dict[str, int]],
    texts: dict[str, str],
    metric: str,
    k: int = 10,
) -> dict[int, list[dict]]:
    """For each dim below full: the queries whose `metric` falls, worst first, with the relevant docs that were in
    the full dim's top k and are not in this dim's top k (without qrels, label-free: every such doc). `rankings`
    hold one row per query of `query_ids`."""
    full = full_dim
    scores = per_query
    top_full = rankings[full].doc_index[:, :k]
    out: dict[int, list[dict]] = {}
    for dim in sorted(d for d in scores if d != full):
        top = rankings[dim].doc_index[:, :k]
        rows = []
        for row, qid in enumerate(query_ids):
            delta = scores[dim][metric][qid] - scores[full][metric][qid]
            if delta >= 0:
                continue
            kept = set(top[row].tolist())
            lost = [
                doc_ids[i]
                for i in top_full[row].tolist()
                if i >= 0 and i not in kept and (not qrels or qrels[qid].get(doc_ids[i], 0) >= 1)
            ]
            rows.append(
                {
                    "query_id": qid,
                    "text": texts.get(qid, ""),
                    "full": scores[full][metric][qid],
                    "value": scores[dim][metric][qid],
                    "delta": delta,
                    "lost_relevant": lost,
                }
            )
        out[dim] = sorted(rows, key=lambda r: (r["delta"], r["query_id"]))
    return out
