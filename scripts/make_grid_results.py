"""Regenerate the "Beyond truncation" tables of docs/pca-two-stage.md from the shared collections, with mrl-eval itself.

    .venv/bin/python scripts/make_grid_results.py   # rewrites the grid block of docs/pca-two-stage.md

For each shared collection (SciFact, Cranfield, CACM) and each precomputed model (all-MiniLM-L6-v2, not MRL-trained;
EmbeddingGemma-300m, MRL-trained) it runs one `mrl-eval recommend` with every precision, the PCA comparison and
two-stage retrieval, keeps the Markdown reports, charts and CSVs in docs/results/grid/, and writes the tables into
docs/pca-two-stage.md and the precision grid into docs/precision.md. No number in those blocks is typed by hand; the wording of
each finding is mrl-eval's own statement.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from make_results import replace_block

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MRL_EVAL_SHARED", ROOT.parent / "shared")) / "datasets"  # ../shared by default
OUT = ROOT / "docs" / "results" / "grid"
DATASETS = ("scifact", "cranfield", "cacm")
MODELS = {"all-minilm-l6-v2": "32,64,128,192,256", "embeddinggemma-300m": "32,64,128,256,512"}
PRECISIONS = ("float32", "float16", "int8", "binary")
TWO_STAGE = "64,128,binary"
SHORTLISTS = "100,200,1000"
MAX_DROP = "0.01"
START, END = "<!-- grid:start -->", "<!-- grid:end -->"  # in docs/pca-two-stage.md
PAGE = ROOT / "docs" / "pca-two-stage.md"
PRECISION_MARKERS = ("<!-- precision:start -->", "<!-- precision:end -->")  # in docs/precision.md


def run(dataset: str, model: str) -> dict:
    folder = SHARED / dataset
    out = OUT / f"{dataset}__{model}"
    cmd = [
        sys.executable,
        "-m",
        "mrl_eval",
        "recommend",
        str(folder),
        "--embeddings",
        str(folder / "embeddings" / model),
        "--dims",
        MODELS[model],
        "--precisions",
        ",".join(PRECISIONS),
        "--compare",
        "pca",
        "--two-stage",
        TWO_STAGE,
        "--shortlist",
        SHORTLISTS,
        "--max-drop",
        MAX_DROP,
        "--optimize",
        "bytes",
        "--out",
        str(out),
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 3):
        sys.exit(done.stderr)
    return json.loads(done.stdout)


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    docs = {(d, m): run(d, m) for d in DATASETS for m in MODELS}
    lines = pca_table(docs) + precision_tables(docs) + two_stage_tables(docs)
    PAGE.write_text(replace_block(PAGE.read_text(encoding="utf-8"), START, END, lines), encoding="utf-8")
    page = ROOT / "docs" / "precision.md"
    text = replace_block(page.read_text(encoding="utf-8"), *PRECISION_MARKERS, precision_grid(docs))
    page.write_text(text, encoding="utf-8")
    shutil.copy(
        OUT / "scifact__embeddinggemma-300m" / "scifact__embeddinggemma-300m.pareto.png",
        ROOT / "docs" / "results" / "pareto-scifact-gemma.png",
    )
    # keep what a reader opens (the Markdown report, its charts, the CSV); the JSON, HTML and SVG copies of the same
    # runs are megabytes each and the command above regenerates them
    for path in OUT.rglob("*"):
        if path.is_file() and not path.name.endswith(KEEP):
            path.unlink()


KEEP = (".md", ".csv", ".png")


def _cells(doc: dict) -> dict[str, dict]:
    return {c["label"]: c for c in doc["grid"]["cells"]}


def pca_table(docs: dict) -> list[str]:
    lines = [
        "## Truncation against PCA, nDCG@10",
        "",
        "Each cell: the first d dims (truncation) / PCA to d dims (basis fitted on the searched corpus).",
        "",
        "| collection | model | 32 d | 64 d | 128 d | 256 d | full |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (dataset, model), doc in docs.items():
        cells = _cells(doc)
        row = []
        for d in (32, 64, 128, 256):
            row.append(
                f"{cells[f'prefix:{d}:float32']['metrics']['ndcg@10']:.3f} / {cells[f'pca:{d}:float32']['metrics']['ndcg@10']:.3f}"
            )
        full = doc["full_dim"]
        row.append(f"{cells[f'prefix:{full}:float32']['metrics']['ndcg@10']:.3f} ({full} d)")
        lines.append(f"| {dataset} | {model} | " + " | ".join(row) + " |")
    lines += ["", "What mrl-eval concludes from each (margin 0.01 nDCG@10):", ""]
    for (dataset, model), doc in docs.items():
        lines.append(f"- **{dataset}, {model}:** {doc['pca']['safety']['statement']}")
    return lines + [""]


def precision_grid(docs: dict) -> list[str]:
    """nDCG@10 of every dim x precision on SciFact, for each model, the recommended cell in bold."""
    lines = [
        "float16 and int8 store the documents and score them against the float32 query, as FAISS's "
        "`IndexScalarQuantizer` (QT_fp16, QT_8bit with per-dim min/max ranges from the corpus) does; binary: sign bits "
        f"ranked by Hamming distance (`IndexBinaryFlat`). The cheapest cell within {MAX_DROP} of full size "
        f"(`recommend --optimize bytes --max-drop {MAX_DROP}`) is in bold.",
        "",
    ]
    for model in MODELS:
        doc = docs[("scifact", model)]
        cells = _cells(doc)
        chosen = doc["recommendation"].get("label")
        dims = sorted({c["dim"] for c in cells.values()})
        lines += [f"**{model}**", "", "| dim | " + " | ".join(PRECISIONS) + " |", "|---:|" + "---:|" * len(PRECISIONS)]
        for d in dims:
            row = []
            for p in PRECISIONS:
                c = cells[f"prefix:{d}:{p}"]
                text = f"{c['metrics']['ndcg@10']:.4f} ({c['bytes_per_vector']:,} B)"
                row.append(f"**{text}**" if c["label"] == chosen else text)
            lines.append(f"| {d} | " + " | ".join(row) + " |")
        rec = doc["recommendation"]
        lines += [
            "",
            f"Recommendation: {rec['method']} {rec['dim']} d at {rec['precision']} "
            f"({rec['storage']['bytes_per_vector']:,} bytes/vector, nDCG@10 {rec['value']:.4f} against "
            f"{rec['full_value']:.4f} at full size)."
            if rec["dim"] is not None
            else "Recommendation: no cell is within the margin.",
            "",
        ]
    return lines


def precision_tables(docs: dict) -> list[str]:
    lines = ["## Precision grid on SciFact, nDCG@10 (bytes per vector)", "", *precision_grid(docs)]
    latency = docs[("scifact", "embeddinggemma-300m")]["grid"]["latency"]
    machine = latency["machine"]
    lines += [
        f"Measured exact-scan latency per query on SciFact (5,183 docs) on {machine['processor']}, "
        f"{machine['cpu_count']} cores, numpy {machine['numpy']} ({machine['blas']}), one BLAS thread; relative "
        "figures, not an index benchmark:",
        "",
        "| cell | ms/query |",
        "|---|---:|",
    ]
    cells = _cells(docs[("scifact", "embeddinggemma-300m")])
    for label in (
        "prefix:768:float32",
        "prefix:256:float32",
        "prefix:768:float16",
        "prefix:768:int8",
        "prefix:768:binary",
    ):
        lines.append(f"| {label} | {cells[label]['latency_ms']:.3f} |")
    lines += [
        "",
        "numpy has no float16 or int8 matrix kernels, so those scans upcast to float32 as they go and are slower "
        "here than they would be in a vector database.",
        "",
        "![quality against bytes per vector, SciFact, EmbeddingGemma-300m](results/pareto-scifact-gemma.png)",
        "",
    ]
    return lines


def two_stage_tables(docs: dict) -> list[str]:
    lines = [
        "## Two-stage retrieval on SciFact: shortlist small, rerank with full vectors",
        "",
        "| model | first stage | shortlist | nDCG@10 | vs full | shortlist recall@10 | first-stage index |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for model in MODELS:
        doc = docs[("scifact", model)]
        for r in doc["two_stage"]["rows"]:
            st = r["stats"]["ndcg@10"]
            lines.append(
                f"| {model} | {r['first_stage']} | {r['shortlist']:,} | {r['metrics']['ndcg@10']:.3f} | "
                f"{st['delta']:+.3f} | {r['shortlist_recall']:.3f} | {r['cost']['first_stage_index_bytes']:,} B |"
            )
    lines += [""]
    for model in MODELS:
        rec = docs[("scifact", model)]["two_stage"]["recommendation"]
        if rec["first_stage"] is None:
            lines.append(f"- {model}: no two-stage configuration is within {MAX_DROP} of full size.")
        else:
            lines.append(
                f"- {model}: the cheapest configuration within {MAX_DROP} of full size is a {rec['first_stage']} "
                f"first stage with a shortlist of {rec['shortlist']:,} (nDCG@10 {rec['value']:.3f}, "
                f"shortlist recall@10 {rec['shortlist_recall']:.3f})."
            )
    return lines + [""]


if __name__ == "__main__":
    main()
