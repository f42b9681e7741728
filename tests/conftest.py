from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Property-based tests (test_fuzz_*.py) are derandomized: the same examples on every run and machine, so a CI failure
# reproduces locally. `HYPOTHESIS_PROFILE=explore pytest tests/test_fuzz_*.py` draws fresh random examples instead.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("explore", parent=settings.get_profile("ci"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def data_path(name: str) -> Path:
    """A collection shipped in tests/data (see its README): "cranfield" or "scifact-subset", each with
    `embeddings/<model>/` for all-minilm-l6-v2 and embeddinggemma-300m."""
    path = DATA / name
    assert (path / "qrels").is_dir(), f"no test collection {name} in {DATA}"
    return path


def read_qrels_tsv(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines()[1:]:
        qid, did, rel = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(rel)
    return qrels


def brute_force_run(
    queries: np.ndarray, docs: np.ndarray, doc_ids: list[str], dim: int, depth: int
) -> list[list[tuple[str, float]]]:
    """Independent reference: full cosine matrix at `dim`, ordered by (score desc, doc id desc) as trec_eval."""
    q = queries[:, :dim].astype(np.float64)
    d = docs[:, :dim].astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    scores = q @ d.T
    runs = []
    for row in scores:
        top = np.argsort(-row, kind="stable")[: depth * 2]
        ranked = sorted(((doc_ids[i], float(row[i])) for i in top), key=lambda p: (p[1], p[0]), reverse=True)
        runs.append(ranked[:depth])
    return runs


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """Run the CLI with its cache and reports inside tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path
