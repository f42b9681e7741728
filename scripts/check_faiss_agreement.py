"""Check that mrl-eval's float16, int8 and binary cells rank exactly as FAISS does, on the full shared collections.

    .venv/bin/python scripts/check_faiss_agreement.py           # prints the table, exits 1 on any disagreement
    .venv/bin/python scripts/check_faiss_agreement.py --write   # also writes it into docs/precision.md

For SciFact, Cranfield and CACM with both precomputed models, at several dims: the normalised prefixes go through
FAISS (`IndexScalarQuantizer` QT_fp16 / QT_8bit with METRIC_INNER_PRODUCT, `IndexBinaryFlat`), the whole corpus is
ranked and ordered by mrl-eval's tie rule (doc id descending; FAISS breaks ties its own way), and the top 100 is
compared with mrl-eval's: scores at every rank within 5e-6 (FAISS sums in float32), a document both hold at ranks of
equal score, a document only one holds tied with the 100th. nDCG@10 and recall@100 of both rankings are compared too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from make_results import replace_block  # noqa: E402

from mrl_eval.data.collection_files import load_collection  # noqa: E402
from mrl_eval.data.vectors import load_vectors  # noqa: E402
from mrl_eval.evaluate import metric_registry as M  # noqa: E402
from mrl_eval.evaluate.retrieval import tie_key  # noqa: E402
from mrl_eval.methods.cell_search import search_cells  # noqa: E402
from mrl_eval.methods.precision import fit_codecs  # noqa: E402
from tests.faiss_oracle import by_tie_rule, disagreements, faiss_search, unit_prefix  # noqa: E402

SHARED = Path(os.environ.get("MRL_EVAL_SHARED", ROOT.parent / "shared")) / "datasets"  # ../shared by default
DATASETS = ("scifact", "cranfield", "cacm")
MODELS = ("all-minilm-l6-v2", "embeddinggemma-300m")
PRECISIONS = ("float16", "int8", "binary")
DIMS = (32, 64, 128, 256)
K = 100
TOLERANCE = 5e-6
METRICS = ["ndcg@10", "recall@100"]
START, END = "<!-- faiss:start -->", "<!-- faiss:end -->"


def check(dataset: str, model: str) -> list[tuple]:
    folder = SHARED / dataset
    collection = load_collection(folder)
    vectors = load_vectors(folder / "embeddings" / model)
    rows = [i for i, q in enumerate(vectors.query_ids) if collection.qrels.get(q)]
    query_ids = [vectors.query_ids[i] for i in rows]
    queries = np.asarray(vectors.queries[rows], np.float32)
    key = tie_key(vectors.doc_ids)
    cells = [(d, p) for d in (*DIMS, vectors.full_dim) for p in PRECISIONS]
    codecs = fit_codecs(vectors.docs, cells)
    ours = dict(zip(cells, search_cells(queries, vectors.docs, [codecs[c] for c in cells], K, key)))
    results = []
    for dim, precision in cells:
        x, q = unit_prefix(vectors.docs, dim), unit_prefix(queries, dim)
        scores, ids = by_tie_rule(*faiss_search(x, q, precision, x.shape[0]), key, K)
        mine = ours[(dim, precision)]
        problems = disagreements(mine.doc_index, mine.score, ids, scores, TOLERANCE)
        same = float((mine.doc_index == ids).all(axis=1).mean())
        a = M.score_ranking(query_ids, mine.doc_index, vectors.doc_ids, collection.qrels, METRICS)
        b = M.score_ranking(query_ids, ids, vectors.doc_ids, collection.qrels, METRICS)
        delta = max(abs(np.mean(list(a[m].values())) - np.mean(list(b[m].values()))) for m in METRICS)
        ndcg = float(np.mean(list(a["ndcg@10"].values())))
        results.append((dataset, model, dim, precision, len(rows), same, len(problems), ndcg, delta))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="write the table into docs/precision.md")
    args = parser.parse_args()
    import faiss

    lines = [
        f"Checked with FAISS {faiss.__version__} by `scripts/check_faiss_agreement.py` on the shared collections: "
        f"top {K} per query, both models, every dim below and the full dim.",
        "",
        "| collection | model | dim | precision | queries | identical top 100 | beyond ties | nDCG@10 | largest metric gap |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    failed = 0
    for dataset in DATASETS:
        for model in MODELS:
            for row in check(dataset, model):
                dataset_, model_, dim, precision, n, same, problems, ndcg, delta = row
                failed += problems
                lines.append(
                    f"| {dataset_} | {model_} | {dim} | {precision} | {n} | {same:.1%} | {problems} | {ndcg:.4f} | "
                    f"{delta:.1e} |"
                )
                print(lines[-1], flush=True)
    lines += [
        "",
        "*identical top 100*: queries whose 100 documents come in the same order in both; *beyond ties*: documents "
        f"placed differently by more than a tie (scores equal within {TOLERANCE:g}, FAISS's float32 rounding); "
        "*largest metric gap*: nDCG@10 or recall@100 of mrl-eval's ranking against FAISS's.",
    ]
    print("\n".join(lines))
    if args.write:
        page = ROOT / "docs" / "precision.md"
        page.write_text(replace_block(page.read_text(encoding="utf-8"), START, END, lines), encoding="utf-8")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
