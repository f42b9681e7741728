"""Plain helpers shared by test modules (fixtures live in tests/conftest.py). Test modules import only
tests.conftest, tests.helpers and the oracles (tests.reference_search, tests.faiss_oracle, tests.fuzzing), never
each other (tests/test_architecture.py checks it)."""

from __future__ import annotations

from mrl_eval import __version__


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
