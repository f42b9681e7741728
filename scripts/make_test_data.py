"""Rebuild tests/data/scifact-subset from ../shared/datasets/scifact: all queries and qrels, the judged documents
plus random others up to 600, and the matching rows of each model's float16 vectors.

    python scripts/make_test_data.py
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "datasets" / "scifact"
TARGET = ROOT / "tests" / "data" / "scifact-subset"
DOCS = 600
MODELS = ("all-minilm-l6-v2", "embeddinggemma-300m")


def main() -> None:
    qrels = (SOURCE / "qrels" / "test.tsv").read_text().split("\n")
    judged = {line.split("\t")[1] for line in qrels[1:] if line}
    docs = [json.loads(line) for line in (SOURCE / "corpus.jsonl").read_text().split("\n") if line]
    others = [d["_id"] for d in docs if d["_id"] not in judged]
    random.Random(0).shuffle(others)
    keep = judged | set(others[: DOCS - len(judged)])
    (TARGET / "qrels").mkdir(parents=True, exist_ok=True)
    with open(TARGET / "corpus.jsonl", "w", encoding="utf-8") as out:
        for doc in docs:
            if doc["_id"] in keep:
                out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    shutil.copy(SOURCE / "queries.jsonl", TARGET / "queries.jsonl")
    shutil.copy(SOURCE / "qrels" / "test.tsv", TARGET / "qrels" / "test.tsv")
    for model in MODELS:
        source, target = SOURCE / "embeddings" / model, TARGET / "embeddings" / model
        target.mkdir(parents=True, exist_ok=True)
        ids = [i for i in (source / "corpus_ids.txt").read_text().split("\n") if i]
        rows = [n for n, doc_id in enumerate(ids) if doc_id in keep]
        np.save(target / "corpus.npy", np.load(source / "corpus.npy")[rows].astype(np.float16))
        (target / "corpus_ids.txt").write_text("".join(ids[n] + "\n" for n in rows))
        for name in ("queries.npy", "queries_ids.txt", "model.json"):
            shutil.copy(source / name, target / name)
    print(f"{TARGET}: {len(keep)} documents ({len(judged)} judged)")


if __name__ == "__main__":
    main()
