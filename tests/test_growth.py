"""--growth: nested subsamples that keep every judged document, the scores on them (against pytrec_eval on a
brute-force ranking of the subsample), the fit (against scipy's linregress) and the projection, and the CLI output
with its chart."""

from __future__ import annotations

import json

import numpy as np
import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import linregress
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.vectors import load_vectors
from mrl_eval.evaluate import growth as G
from tests.conftest import brute_force_run, data_path

SCIFACT = data_path("scifact-subset")
GEMMA = SCIFACT / "embeddings" / "embeddinggemma-300m"


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300), st.data(), st.integers(0, 2**16))
def test_subsamples_are_nested_keep_the_judged_documents_and_have_the_stated_sizes(n_docs, data, seed):
    keep = np.array(sorted(data.draw(st.sets(st.integers(0, n_docs - 1), max_size=n_docs))), np.int64)
    subsamples = G.nested_subsamples(n_docs, keep, G.FRACTIONS, seed)
    rest = n_docs - len(keep)
    for fraction, rows in zip(G.FRACTIONS, subsamples):
        assert len(set(rows.tolist())) == len(rows) == len(keep) + round(fraction * rest)
        assert set(keep.tolist()) <= set(rows.tolist())
    for small, large in zip(subsamples, subsamples[1:]):
        assert set(small.tolist()) <= set(large.tolist())
    assert subsamples[-1].tolist() == list(range(n_docs))


def test_seeds_draw_different_subsamples():
    keep = np.arange(10)
    a = G.nested_subsamples(1000, keep, G.FRACTIONS, 0)[0]
    b = G.nested_subsamples(1000, keep, G.FRACTIONS, 1)[0]
    assert set(a.tolist()) != set(b.tolist())


@pytest.fixture(scope="module")
def scored():
    collection = load_collection(SCIFACT, require_texts=False)
    vectors = load_vectors(GEMMA)
    growth = G.GrowthSettings(seeds=2).check()
    values, sizes, query_ids = G.score_subsamples(vectors, collection.qrels, [64, 768], ["ndcg@10"], growth)
    return collection, vectors, growth, values, sizes, query_ids


def test_a_subsample_scores_as_pytrec_eval_scores_a_brute_force_ranking_of_it(scored):
    collection, vectors, growth, values, sizes, query_ids = scored
    position = {d: i for i, d in enumerate(vectors.doc_ids)}
    judged = np.array(sorted({position[d] for q in query_ids for d in collection.qrels[q]}), np.int64)
    rows = G.nested_subsamples(len(vectors.doc_ids), judged, growth.fractions, growth.seed + 1)[1]  # seed 1, 1/8
    assert len(rows) == sizes[1]
    ids = [vectors.doc_ids[i] for i in rows]
    q = np.asarray(vectors.queries)[[vectors.query_ids.index(x) for x in query_ids]]
    ranking = brute_force_run(q, np.asarray(vectors.docs)[rows], ids, 64, 10)
    run = {qid: {doc: 10.0 - rank for rank, (doc, _) in enumerate(r)} for qid, r in zip(query_ids, ranking)}
    qrels = {qid: collection.qrels[qid] for qid in query_ids}
    oracle = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    expected = [oracle[qid]["ndcg_cut_10"] for qid in query_ids]
    np.testing.assert_allclose(values["ndcg@10"][1, 1, 0], expected, atol=1e-9)


def test_the_fit_is_least_squares_on_log_size_and_the_projection_follows_it(scored):
    *_, growth, values, sizes, query_ids = scored
    growth = G.GrowthSettings(seeds=2, scale="100k,10M", resamples=300)
    result = G.fit_growth(values["ndcg@10"], sizes, [64, 768], growth, metric="ndcg@10", n_queries=len(query_ids))
    drop = (values["ndcg@10"][:, :, 1] - values["ndcg@10"][:, :, 0]).mean(axis=(0, 2))
    oracle = linregress(np.log(sizes), drop)
    d64 = result.dims[0]
    assert d64.slope == pytest.approx(oracle.slope) and d64.intercept == pytest.approx(oracle.intercept)
    for name, size in {"100k": 100_000, "10M": 10_000_000}.items():
        p = d64.projection[name]
        assert p["drop"] == pytest.approx(oracle.intercept + oracle.slope * np.log(size))
        assert p["drop_ci"][0] < p["drop"] < p["drop_ci"][1]
    assert d64.projection["10M"]["drop_ci"][1] - d64.projection["10M"]["drop_ci"][0] > (
        d64.projection["100k"]["drop_ci"][1] - d64.projection["100k"]["drop_ci"][0]
    )  # farther out, wider
    assert result.dims[1].projection["10M"]["drop"] == 0.0  # the full dim against itself


def test_growth_through_the_cli_writes_the_curve_projection_note_and_chart(cli_env):
    args = ["sweep", SCIFACT, "--embeddings", GEMMA, "--dims", 64, "--growth", "--growth-seeds", 2, "--scale", "1M"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--resamples", 500, "--json"]])
    assert result.exit_code == 0, result.output
    growth = json.loads(result.stdout)["growth"]
    assert growth["seeds"] == 2 and growth["targets"] == {"1M": 1_000_000} and growth["metric"] == "ndcg@10"
    assert len(growth["sizes"]) == 5 and growth["sizes"][-1] == 600
    assert "Extrapolation, not a measurement" in growth["note"] and "1,000,000" in growth["note"]
    for suffix in (".growth.png", ".growth.svg"):
        path = cli_env / "reports" / f"scifact-subset__embeddinggemma-300m{suffix}"
        assert path.is_file() and path.stat().st_size > 1000
    markdown = (cli_env / "reports" / "scifact-subset__embeddinggemma-300m.md").read_text()
    assert "projected @ 1M" in markdown and "Extrapolation, not a measurement" in markdown


def test_growth_seeds_without_growth_is_a_usage_error(cli_env):
    result = CliRunner().invoke(app, ["sweep", str(SCIFACT), "--embeddings", str(GEMMA), "--growth-seeds", "3"])
    assert result.exit_code == 2 and "--growth-seeds goes with --growth" in result.output
