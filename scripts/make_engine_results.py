"""Regenerate docs/engines.md's measured tables from the shared collections, with mrl-eval itself, and check that
HNSW at efSearch >= corpus size scores exactly what exact search scores.

    .venv/bin/python scripts/make_engine_results.py   # rewrites the block between the engine markers
    .venv/bin/python scripts/make_engine_results.py --reuse DIR   # reuse DIR/<run>/*.json reports of an earlier run

For SciFact and Cranfield with the EmbeddingGemma-300m vectors it runs `mrl-eval sweep --engine faiss` (HNSW and
flat, every precision, efSearch 16, 64, 256 and the corpus size) and, for Cranfield, `--engine pgvector` (a
throwaway local PostgreSQL; float32, halfvec, binary_quantize at 128 d and the full dim; hnsw.ef_search 40 and 100,
with the shortlist-then-rerank query over 100 rows; pgvector builds HNSW indexes an order of magnitude slower than
FAISS, so the larger SciFact run is left to the user). The check fails the script: at efSearch = corpus size every FAISS HNSW cell must equal exact search
(float32: mrl-eval's exact sweep; float16, int8: FAISS's flat index of the same codec) query by query to 1e-4, and
find every exact neighbour. No number in the block is typed by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from make_results import replace_block

ROOT = Path(__file__).resolve().parents[1]
SHARED = next(
    (p for p in (ROOT.parent / "shared" / "datasets", ROOT.parents[1] / "shared" / "datasets") if p.is_dir()),
    ROOT.parent / "shared" / "datasets",
)  # a checkout or a worktree
DOC = ROOT / "docs" / "engines.md"
MODEL = "embeddinggemma-300m"
DIMS = "128,256"
START, END = "<!-- engines:start -->", "<!-- engines:end -->"
METRIC = "ndcg@10"


def sweep(dataset: str, engine_flags: list[str], out: Path, dims: str = DIMS, reuse: Path | None = None) -> dict:
    if reuse is not None and (reuse / out.name / f"{dataset}__{MODEL}.json").is_file():
        return json.loads((reuse / out.name / f"{dataset}__{MODEL}.json").read_text())
    folder = SHARED / dataset
    cmd = [sys.executable, "-m", "mrl_eval", "sweep", str(folder), "--embeddings", str(folder / "embeddings" / MODEL)]
    cmd += ["--dims", dims, "--metrics", "ndcg@10,recall@100", "--resamples", "2000", "--out", str(out), "--json"]
    print(" ".join(cmd[3:] + engine_flags), file=sys.stderr)
    done = subprocess.run([*cmd, *engine_flags], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    return json.loads(done.stdout)


def check_exact(doc: dict, n_docs: int) -> int:
    """efSearch >= corpus size: HNSW equals exact search, query by query. Returns the number of cells checked."""
    section = doc["engine"]
    per_query = section["per_query"]
    checked = 0
    for cell in section["cells"]:
        if cell["ef_search"] != n_docs:
            continue
        if cell["neighbour_recall"] != 1.0:
            sys.exit(f"{cell['label']}: neighbour recall {cell['neighbour_recall']} at efSearch = corpus size")
        if cell["precision"] == "binary":  # Hamming ties at a cutoff: the neighbour check above is the exact one
            continue
        reference = (
            doc["per_query"][str(cell["dim"])]
            if cell["precision"] == "float32"
            else per_query[f"faiss:flat:{cell['dim']}:{cell['precision']}"]
        )
        for metric, values in per_query[cell["label"]].items():
            worst = max(abs(v - reference[metric][q]) for q, v in values.items())
            if worst > 1e-4:
                sys.exit(f"{cell['label']}: {metric} differs from exact search by {worst:.2e}")
        checked += 1
    return checked


def exact_cells(doc: dict) -> dict[tuple[int, str], dict]:
    return {(c["dim"], c["precision"]): c for c in doc["grid"]["cells"] if c["method"] == "prefix"}


def table(doc: dict, engine: str, skip_ef: int | None = None) -> list[str]:
    section, exact = doc["engine"], exact_cells(doc)
    n_docs = doc["n_docs"]
    lines = [
        f"| cell | {METRIC} exact | {METRIC} in {engine} | Δ vs exact full-dim [95% CI] | neighbour recall@10 | "
        "short lists | memory incl. index | latency p50 / p95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in section["cells"]:
        if c["index"] != "hnsw" or c["ef_search"] == skip_ef:
            continue
        base = exact[(c["dim"], c["precision"])]
        st = c["stats"][METRIC]
        memory = (c["index_bytes"] + section["table_bytes"]) / 1e6
        lines.append(
            f"| {c['label']} | {base['metrics'][METRIC]:.4f} | {c['metrics'][METRIC]:.4f} | {st['delta']:+.4f} "
            f"[{st['delta_ci'][0]:+.4f}, {st['delta_ci'][1]:+.4f}] | {c['neighbour_recall']:.3f} | "
            f"{c['short_lists']} | {memory:.2f} MB | "
            f"{c['latency_ms']['median']:.3f} / {c['latency_ms']['p95']:.3f} ms |"
        )
    exact_rows = ", ".join(
        f"{d} {p} {n_docs * c['bytes_per_vector'] / 1e6:.2f} MB, {c['latency_ms']:.3f} ms"
        for (d, p), c in exact.items()
    )
    lines += ["", f"Exact scan of the same codes (vectors only, plain numpy, median ms per query): {exact_rows}."]
    return lines


def main() -> None:
    reuse = Path(sys.argv[sys.argv.index("--reuse") + 1]) if "--reuse" in sys.argv else None
    blocks: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in ("scifact", "cranfield"):
            n_docs = sum(1 for _ in (SHARED / dataset / "corpus.jsonl").open())
            flags = ["--engine", "faiss", "--index", "hnsw,flat", "--precisions", "float32,float16,int8,binary"]
            doc = sweep(dataset, [*flags, "--ef-search", f"16,64,256,{n_docs}"], Path(tmp) / dataset, reuse=reuse)
            checked = check_exact(doc, n_docs)
            server = doc["engine"]["server"]["version"]
            blocks += [
                f"### {dataset}: FAISS {server}, HNSW M = 16, efConstruction = 64",
                "",
                f"{n_docs:,} documents, {doc['queries_evaluated']} queries, {MODEL}. Check passed: at efSearch = "
                f"{n_docs:,} (the corpus size) the {checked} float HNSW cells equal exact search query by query "
                "(to 1e-4) and every HNSW cell finds every exact neighbour.",
                "",
                *table(doc, "FAISS", skip_ef=n_docs),
                "",
            ]
        pg_flags = ["--engine", "pgvector", "--precisions", "float32,float16,binary", "--ef-search", "40,100"]
        doc = sweep("cranfield", [*pg_flags, "--rerank", "100"], Path(tmp) / "pg", dims="128", reuse=reuse)
        server = doc["engine"]["server"]["version"]
        blocks += [
            f"### cranfield: {server} (throwaway local server), HNSW m = 16, ef_construction = 64",
            "",
            f"The table of full-size vectors ({doc['engine']['table_bytes'] / 1e6:.2f} MB) is counted in every row's "
            "memory. Latency includes the round trip over the Unix socket. `rerank100`: the shortlist-then-rerank "
            "query (100 rows from the index, ordered by the full-size cosine).",
            "",
            *table(doc, "pgvector"),
            "",
        ]
    DOC.write_text(replace_block(DOC.read_text(), START, END, blocks))
    print(f"wrote {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
