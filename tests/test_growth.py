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
from mrl_eval.data.vectors import Vectors, load_vectors
from mrl_eval.errors import MrlEvalWarning
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


def test_the_fit_is_least_squares_on_the_largest_sizes_with_a_backtest_one_size_lower(scored):
    *_, growth, values, sizes, query_ids = scored
    growth = G.GrowthSettings(seeds=2, scale="100k,10M", resamples=300, widen=1.5)
    result = G.fit_growth(values["ndcg@10"], sizes, [64, 768], growth, metric="ndcg@10", n_queries=len(query_ids))
    drop = (values["ndcg@10"][:, :, 1] - values["ndcg@10"][:, :, 0]).mean(axis=(0, 2))
    x = np.log(sizes)
    oracle = linregress(x[-3:], drop[-3:])  # the line on the three largest sizes
    backtest = linregress(x[-4:-1], drop[-4:-1])  # the same fit one size lower
    d64 = result.dims[0]
    assert d64.slope == pytest.approx(oracle.slope) and d64.intercept == pytest.approx(oracle.intercept)
    assert result.fit_sizes == sizes[-3:]
    error = backtest.intercept + backtest.slope * x[-1] - drop[-1]
    assert d64.backtest_error == pytest.approx(error)
    assert d64.flat_backtest_error == pytest.approx(drop[-2] - drop[-1])
    assert d64.model_error == pytest.approx(abs(error))  # one dim below full: its own error is the run's RMS
    for name, size in {"100k": 100_000, "10M": 10_000_000}.items():
        p = d64.projection[name]
        assert p["drop"] == pytest.approx(oracle.intercept + oracle.slope * np.log(size))
        assert p["noise_ci"][0] < p["drop"] < p["noise_ci"][1]
        scaled = abs(error) * (np.log(size) - x[-1]) / (x[-1] - x[-2])  # in steps of the backtest's distance
        assert p["model_error"] == pytest.approx(scaled)
        expected = np.clip([p["noise_ci"][0] - 1.5 * scaled, p["noise_ci"][1] + 1.5 * scaled], -1, 1)
        np.testing.assert_allclose(p["drop_ci"], expected)
    assert d64.projection["10M"]["model_error"] > d64.projection["100k"]["model_error"] > 0  # farther out, wider
    assert result.dims[1].projection["10M"]["drop"] == 0.0  # the full dim against itself
    assert result.backtest["better_than_flat"] == (abs(error) < abs(drop[-2] - drop[-1]))


def _result(sizes: list[int], targets: dict[str, int], **extra) -> G.GrowthResult:
    """A growth result around one dim whose drop is 0.1 everywhere: only what the note reads matters."""
    projection = {
        n: {"size": t, "drop": 0.1, "drop_ci": [0.0, 0.2], "noise_ci": [0.05, 0.15], "model_error": 0.05}
        for n, t in targets.items()
    }
    dim = G.DimGrowth(64, [[0.1] * len(sizes)], [[0.5] * len(sizes)], 0.1, 0.0, projection)
    return G.GrowthResult("ndcg@10", [1.0] * len(sizes), sizes, sizes[-3:], 1, 10, targets, 0.95, [dim], **extra)


@pytest.mark.parametrize(
    ("largest", "target", "said"),
    [(1000, 1200, "1.2x"), (1000, 2000, "2x"), (5183, 1_000_000, "193x"), (518, 1_000_000, "1,931x")],
)
def test_growth_note_factor_is_the_extrapolation_measured(largest, target, said):
    # the bug: a 1.2x extrapolation printed as "1x beyond the largest measured size"
    note = G.extrapolation_note(_result([largest // 4, largest // 2, largest], {"target": target}))
    assert f"({said} " in note


def test_growth_note_says_when_the_line_is_no_better_than_no_growth():
    backtest = {"fit_sizes": [1, 2, 3], "size": 4, "line_mean_abs_error": 0.02, "flat_mean_abs_error": 0.01}
    validation = {
        "n_collections": 3,
        "collections": "a, b, c",
        "extrapolation": "2x",
        "loco_coverage": 0.9,
        "cases": 10,
        "median_abs_error": 0.02,
        "flat_median_abs_error": 0.01,
        "better_than_flat": False,
        "largest_validated": 4.0,
    }
    result = _result(
        [100, 200, 400], {"1M": 1_000_000}, backtest={**backtest, "better_than_flat": False}, validation=validation
    )
    note = G.extrapolation_note(result)
    assert "here the line did no better than assuming no growth" in note
    assert "no better than assuming no growth, so read the interval" in note
    assert "the recommendation does not use the projection" in note
    assert "Nothing was validated near 2,500x" in note
    better = _result(
        [100, 200, 400],
        {"1M": 1_000_000},
        backtest={**backtest, "better_than_flat": True},
        validation={**validation, "better_than_flat": True},
    )
    assert "no better" not in G.extrapolation_note(better)


def _all_judged_copy(folder):
    """scifact-subset cut to its judged documents (with their vectors): every document is judged."""
    qrels = (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()
    judged = {line.split("\t")[1] for line in qrels[1:]}
    (folder / "qrels").mkdir(parents=True)
    (folder / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")
    (folder / "queries.jsonl").write_text((SCIFACT / "queries.jsonl").read_text())
    lines = [line for line in (SCIFACT / "corpus.jsonl").read_text().splitlines() if json.loads(line)["_id"] in judged]
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    vectors = folder / "vectors"
    vectors.mkdir()
    ids = (GEMMA / "corpus_ids.txt").read_text().split()
    rows = [i for i, doc_id in enumerate(ids) if doc_id in judged]
    np.save(vectors / "corpus.npy", np.load(GEMMA / "corpus.npy")[rows])
    (vectors / "corpus_ids.txt").write_text("\n".join(ids[i] for i in rows) + "\n")
    for name in ("queries.npy", "queries_ids.txt", "model.json"):
        (vectors / name).write_bytes((GEMMA / name).read_bytes())
    return folder, vectors, len(rows)


def _refuse(constant):
    raise ValueError(f"non-finite {constant} in the JSON")


def test_growth_on_an_all_judged_corpus_is_left_out_and_the_json_stays_valid(cli_env):
    folder, vectors, n_docs = _all_judged_copy(cli_env / "all-judged")
    args = ["sweep", folder, "--embeddings", vectors, "--dims", 64, "--growth", "--growth-seeds", 2, "--json"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--resamples", 200]])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout, parse_constant=_refuse)
    assert document.get("growth") is None
    assert f"every one of the {n_docs:,} documents is judged" in result.stderr
    assert "--growth: left out of this run" in result.stderr and result.stderr.count("--growth") == 1
    from mrl_eval import load_run

    assert load_run(cli_env / "reports" / "all-judged__embeddinggemma-300m.json").report.growth is None


@pytest.mark.parametrize(
    ("n_docs", "judged", "why"),
    [(1, 0, "only 1 document to subsample"), (20, 20, "every one of the 20"), (30, 20, "only 10 unjudged documents")],
)
def test_growth_that_cannot_be_fitted_warns_once_and_returns_nothing(n_docs, judged, why):
    rng = np.random.default_rng(0)
    doc_ids = [f"d{i}" for i in range(n_docs)]
    vectors = Vectors(doc_ids, rng.normal(size=(n_docs, 8)), ["q0", "q1"], rng.normal(size=(2, 8)))
    qrels = {q: {d: 1 for d in doc_ids[:judged]} for q in ("q0", "q1")} if judged else {}
    metric = "ndcg@10" if judged else "overlap@10"
    with pytest.warns(MrlEvalWarning) as caught:
        assert G.measure_growth(vectors, qrels, [4, 8], [metric], metric, G.GrowthSettings(seeds=2)) is None
    assert len(caught) == 1 and why in str(caught[0].message)


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
