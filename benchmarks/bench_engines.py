"""Engine path overhead: building and querying K FAISS indexes (one per swept dim) against one full-dim index.

    .venv/bin/python benchmarks/bench_engines.py          # prints a Markdown section; run_all.py collects it

Shared SciFact, EmbeddingGemma-300m vectors (5,183 docs, 300 queries), float32, HNSW M = 16, efConstruction = 64,
efSearch 64, k = 100, one thread. The baseline is what a user does by hand for the full dim: build one
`HNSW16,Flat` index and search every query once, one at a time. The engine path (`engines.evaluate_engine`) does
that for each of the K dims and also searches the flat index of each dim (the neighbour-recall reference) and scores
the metrics; the ratio is its cost per dim against the hand-built full-dim index.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCIFACT = (
    next((p for p in (ROOT.parent / "shared", ROOT.parents[1] / "shared") if p.is_dir()), ROOT.parent / "shared")
    / "datasets"
    / "scifact"
)  # a checkout or a worktree
DIMS = [64, 128, 256, 512, 768]


def main() -> str:
    import faiss

    from mrl_eval.data.collection_files import load_collection
    from mrl_eval.data.vectors import load_vectors
    from mrl_eval.engines import EngineSettings
    from mrl_eval.engines.faiss import prepare
    from mrl_eval.engines.run import measure
    from mrl_eval.evaluate.inputs import ScoringInputs
    from mrl_eval.evaluate.retrieval import tie_key
    from mrl_eval.pipeline.score import score_vectors

    collection = load_collection(SCIFACT)
    vectors = load_vectors(SCIFACT / "embeddings" / "embeddinggemma-300m")
    metrics = ["ndcg@10", "recall@100"]
    exact = score_vectors(vectors, collection.qrels, DIMS, metrics)
    rows = [i for i, q in enumerate(vectors.query_ids) if collection.qrels.get(q)]
    queries = np.asarray(vectors.queries[rows], np.float32)

    faiss.omp_set_num_threads(1)
    started = time.perf_counter()
    index = faiss.index_factory(768, "HNSW16,Flat", faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 64
    index.add(prepare(vectors.docs, 768, "float32"))
    index.hnsw.efSearch = 64
    q = prepare(queries, 768, "float32")
    for i in range(q.shape[0]):
        index.search(q[i : i + 1], 100)
    one = time.perf_counter() - started

    started = time.perf_counter()
    measure(
        EngineSettings(engine="faiss", ef_search=(64,)),
        ScoringInputs(
            docs=vectors.docs,
            queries=queries,
            doc_ids=list(vectors.doc_ids),
            query_ids=exact.query_ids,
            qrels=collection.qrels,
            metric_names=metrics,
            doc_key=tie_key(vectors.doc_ids),
            exclude=None,
        ),
        dims=DIMS,
        precisions=("float32",),
        reference_per_query=exact.per_query[768],
        stats=None,
    )
    engine = time.perf_counter() - started
    k = len(DIMS)
    return "\n".join(
        [
            "## Engines: K FAISS indexes against one full-dim index",
            "",
            f"Shared SciFact, EmbeddingGemma-300m ({vectors.docs.shape[0]:,} docs, {len(rows)} queries), float32, "
            "HNSW M = 16, efConstruction = 64, efSearch = 64, k = 100, one thread, every query searched one at a "
            f"time. Engine path: {k} dims ({', '.join(map(str, DIMS))}), each with its HNSW index, its flat index "
            "(the neighbour-recall reference) and the metrics.",
            "",
            "| run | seconds | per index |",
            "|---|---:|---:|",
            f"| one full-dim HNSW index, built and searched by hand | {one:.2f} | {one:.2f} |",
            f"| `--engine faiss`, {k} dims | {engine:.2f} | {engine / k:.2f} |",
            "",
            f"The engine path costs {engine / one:.1f}x the single full-dim index for {k} indexes: "
            f"{engine / k / one:.2f}x per index, the smaller dims being cheaper to build and search.",
            "",
        ]
    )


if __name__ == "__main__":
    print(main())
