"""Metric computation: mrl-eval's metrics vs pytrec_eval (trec_eval's C code) on the same runs.

    .venv/bin/python benchmarks/run_all.py --only bench_metrics

Each side starts from its natural input: mrl-eval from the ranked doc-index arrays the scorer produces, pytrec_eval
from the dict-of-dicts run it takes (building that dict is not timed). Same measures: nDCG@10, recall@100, MAP@100,
P@10. The numbers must be identical (largest per-query difference shown).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OURS = ["ndcg@10", "recall@100", "map@100", "precision@10"]
THEIRS = {"ndcg@10": "ndcg_cut_10", "recall@100": "recall_100", "map@100": "map_cut_100", "precision@10": "P_10"}


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def compare(name: str, query_ids, ranked, scores, doc_ids, qrels) -> str:
    import pytrec_eval

    from mrl_eval.evaluate import metric_registry as M

    run = {q: {doc_ids[i]: float(s) for i, s in zip(ranked[r], scores[r]) if i >= 0} for r, q in enumerate(query_ids)}
    judged = {q: qrels[q] for q in query_ids if q in qrels}
    ours_t = best_of(lambda: M.score_ranking(query_ids, ranked, doc_ids, qrels, OURS))

    def theirs():
        return pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10", "recall.100", "map_cut.100", "P.10"}).evaluate(
            run
        )

    theirs_t = best_of(theirs)
    a, b = M.score_ranking(query_ids, ranked, doc_ids, qrels, OURS), theirs()
    diff = max(abs(a[m][q] - b[q][THEIRS[m]]) for m in OURS for q in a[m])
    return (
        f"| {name} | {len(query_ids):,} x {ranked.shape[1]} | {ours_t * 1000:.1f} ms | {theirs_t * 1000:.1f} ms | "
        f"{theirs_t / ours_t:.1f}x | {diff:.1e} |"
    )


def main() -> str:
    from mrl_eval.data.vectors import load_vectors
    from mrl_eval.evaluate.retrieval import search, tie_key

    rows = []
    scifact = ROOT.parent / "shared" / "datasets" / "scifact"
    if scifact.is_dir():
        vectors = load_vectors(scifact / "embeddings" / "embeddinggemma-300m")
        qrels: dict[str, dict[str, int]] = {}
        for line in (scifact / "qrels" / "test.tsv").read_text().splitlines()[1:]:
            q, d, rel = line.split("\t")
            qrels.setdefault(q, {})[d] = int(rel)
        ranking = search(vectors.queries, vectors.docs, [768], 100, tie_key(vectors.doc_ids))[768]
        rows.append(
            compare(
                "SciFact, EmbeddingGemma run",
                vectors.query_ids,
                ranking.doc_index,
                ranking.score,
                vectors.doc_ids,
                qrels,
            )
        )
    rng = np.random.default_rng(0)
    n_docs, n_queries, depth = 100_000, 1000, 1000
    doc_ids = [f"d{i}" for i in range(n_docs)]
    query_ids = [f"q{i}" for i in range(n_queries)]
    ranked = np.stack([rng.choice(n_docs, depth, replace=False) for _ in range(n_queries)])
    scores = -np.sort(-rng.random((n_queries, depth)), axis=1)
    qrels = {
        q: {doc_ids[d]: int(rng.integers(0, 4)) for d in np.concatenate([ranked[r, :30], rng.choice(n_docs, 20)])}
        for r, q in enumerate(query_ids)
    }
    rows.append(compare("synthetic, graded qrels", query_ids, ranked, scores, doc_ids, qrels))
    return "\n".join(
        [
            "## Metrics: mrl-eval vs pytrec_eval",
            "",
            "nDCG@10, recall@100, MAP@100 and P@10 on the same runs, best of 5.",
            "",
            "| run | queries x depth | mrl-eval | pytrec_eval | pytrec_eval / mrl-eval | largest difference |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )


if __name__ == "__main__":
    print(main())
