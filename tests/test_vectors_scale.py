"""Vectors whose scale is extreme or whose dtype is float64: scored as their unit versions, in every path."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import mrl_eval
from mrl_eval.data.vectors import SAFE_NORMS, Vectors, rescale_extreme_rows
from mrl_eval.errors import MrlEvalWarning
from tests.conftest import brute_force_run, data_path, read_qrels_tsv, require

CRANFIELD = data_path("cranfield")
MINILM = CRANFIELD / "embeddings" / "all-minilm-l6-v2"
SETTINGS = {"dims": "64,128", "resamples": 200, "precisions": "float32,int8,binary"}


def _scaled_copy(tmp_path: Path, factor: float, dtype: type) -> Path:
    out = tmp_path / f"scaled-{factor:g}"
    shutil.copytree(MINILM, out)
    docs = np.load(out / "corpus.npy").astype(np.float64)
    docs[[3, 10, 50]] *= factor
    np.save(out / "corpus.npy", docs.astype(dtype))
    queries = np.load(out / "queries.npy").astype(np.float64)
    queries[[0, 5]] *= factor
    np.save(out / "queries.npy", queries.astype(dtype))
    return out


@pytest.fixture(scope="module")
def unit_run() -> mrl_eval.SweepRun:
    return mrl_eval.sweep(CRANFIELD, embeddings=MINILM, **SETTINGS)


@pytest.mark.parametrize(("factor", "dtype"), [(1e30, np.float32), (1e-25, np.float64), (1e150, np.float64)])
def test_bug_rows_of_huge_or_tiny_norm_score_as_their_unit_versions(tmp_path, unit_run, factor, dtype):
    pytrec_eval = require("pytrec_eval")
    folder = _scaled_copy(tmp_path, factor, dtype)
    with pytest.warns(MrlEvalWarning, match=r"3 document vectors have a norm outside"):
        run = mrl_eval.sweep(CRANFIELD, embeddings=folder, **SETTINGS)
    assert run.per_query == unit_run.per_query  # every dim, every query
    assert {c.label: c.metrics for c in run.cells} == {c.label: c.metrics for c in unit_run.cells}
    # the oracle: exact float64 cosine of the scaled vectors themselves, scored by pytrec_eval
    docs, queries = np.load(folder / "corpus.npy"), np.load(folder / "queries.npy")
    doc_ids = (folder / "corpus_ids.txt").read_text().split()
    query_ids = (folder / "queries_ids.txt").read_text().split()
    qrels = read_qrels_tsv(CRANFIELD / "qrels" / "test.tsv")
    for dim in (64, 384):
        ranked = brute_force_run(queries, docs, doc_ids, dim, 10)
        trec_run = {q: {d: s for d, s in ranked[i]} for i, q in enumerate(query_ids) if q in qrels}
        theirs = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(trec_run)
        ours = run.per_query[dim]["ndcg@10"]
        assert {q: round(v, 9) for q, v in ours.items()} == {q: round(v["ndcg_cut_10"], 9) for q, v in theirs.items()}


def test_bug_a_float64_corpus_with_precisions_is_not_divided_in_place(tmp_path, unit_run):
    """A float64 .npy memory map was normalised in place (read-only: a traceback; writable: wrong codes)."""
    folder = tmp_path / "f64"
    shutil.copytree(MINILM, folder)
    np.save(folder / "corpus.npy", np.load(folder / "corpus.npy").astype(np.float64))
    run = mrl_eval.sweep(CRANFIELD, embeddings=folder, **SETTINGS)
    assert {c.label: c.metrics for c in run.cells} == {c.label: c.metrics for c in unit_run.cells}


def test_rows_inside_the_safe_range_are_left_as_they_are():
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((20, 8)).astype(np.float32)
    docs[0] *= SAFE_NORMS[1] / 10  # large but safe
    docs[1] = 0  # zero rows are another matter (zero_vector_notes)
    vectors = Vectors([str(i) for i in range(20)], docs, ["q"], docs[:1].copy())
    out, notes = rescale_extreme_rows(vectors)
    assert notes == [] and out.docs is docs
