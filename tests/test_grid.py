"""Precision cells, the PCA baseline, two-stage retrieval and the grid's recommendation, on the vectors in tests/data,
checked against independent oracles (FAISS, numpy's SVD, pytrec_eval)."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.vectors import load_vectors
from mrl_eval.decide.recommend import make_rule, recommend_cell
from mrl_eval.errors import UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.retrieval import search, tie_key
from mrl_eval.evaluate.scales import parse_scales
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.methods import pca as P
from mrl_eval.methods import two_stage as T
from mrl_eval.methods.grid import Cell, GridSettings, parse_methods
from mrl_eval.pipeline.score import score_vectors
from tests.conftest import brute_force_run, data_path
from tests.faiss_oracle import by_tie_rule, faiss_search, unit_prefix

runner = CliRunner()
METRICS = ["ndcg@10", "recall@100"]


def _load(name: str, model: str):
    folder = data_path(name)
    return load_collection(folder), load_vectors(folder / "embeddings" / model)


@pytest.fixture(scope="module")
def scifact_gemma():
    return _load("scifact-subset", "embeddinggemma-300m")


@pytest.fixture(scope="module")
def scifact_grid(scifact_gemma):
    """One sweep with every precision, PCA and two stages, next to the plain sweep of the same dims."""
    collection, vectors = scifact_gemma
    dims = [64, 128, 768]
    settings = StatsSettings(resamples=500)
    plain = score_vectors(vectors, collection.qrels, dims, METRICS, stats=settings)
    grid = GridSettings(
        precisions=("float32", "float16", "int8", "binary"),
        compare_pca=True,
        two_stage="64,binary,128:int8",
        shortlists=f"100,{len(vectors.doc_ids)}",
    )
    full = score_vectors(vectors, collection.qrels, dims, METRICS, stats=settings, grid=grid)
    return plain, full


def test_the_grid_leaves_the_sweep_unchanged_and_its_float32_prefix_cells_are_the_sweep(scifact_grid):
    plain, full = scifact_grid
    assert full.results == plain.results
    assert full.per_query == plain.per_query
    cells = {c.label: c for c in full.grid.cells}
    for r in plain.results:
        cell = cells[f"prefix:{r.dim}:float32"]
        assert cell.metrics == r.metrics  # exactly: the same per-query values
        assert cell.bytes_per_vector == r.bytes_per_vector == 4 * r.dim
        assert cell.stats == r.stats


def test_every_cell_is_scored_with_its_bytes(scifact_grid):
    _, full = scifact_grid
    cells = {c.label: c for c in full.grid.cells}
    assert len(cells) == 2 * 3 * 4  # methods x dims x precisions
    # 768 d: float32 3072 B, float16 1536 B, int8 768 B, binary 768 / 8 = 96 B
    assert [cells[f"prefix:768:{p}"].bytes_per_vector for p in ("float32", "float16", "int8", "binary")] == [
        3072,
        1536,
        768,
        96,
    ]
    for c in cells.values():
        assert 0 <= c.metrics["ndcg@10"] <= 1 and c.latency_ms is not None and c.latency_ms > 0


def _mean(values: dict[str, float]) -> float:
    return float(np.mean(list(values.values())))


@pytest.mark.parametrize("precision", ["float16", "int8", "binary"])
def test_precision_cells_have_the_metrics_of_faiss_rankings(scifact_grid, scifact_gemma, precision):
    """The oracle is FAISS (IndexScalarQuantizer QT_fp16 / QT_8bit, IndexBinaryFlat) on the same normalised prefixes,
    its full ranking ordered by our tie rule (FAISS breaks ties its own way). Binary scores are integers: equal;
    float16 and int8 scores agree to FAISS's float32 rounding, which can only swap near-ties."""
    _, full = scifact_grid
    collection, vectors = scifact_gemma
    cells = {c.label: c for c in full.grid.cells}
    rows = [vectors.query_ids.index(q) for q in full.query_ids]
    key = tie_key(vectors.doc_ids)
    for dim in (64, 128, 768):
        x, q = unit_prefix(vectors.docs, dim), unit_prefix(vectors.queries[rows], dim)
        _, ids = by_tie_rule(*faiss_search(x, q, precision, x.shape[0]), key, 100)
        engine = M.score_ranking(full.query_ids, ids, vectors.doc_ids, collection.qrels, METRICS)
        for name in METRICS:
            tol = 1e-12 if precision == "binary" else 1e-3
            assert cells[f"prefix:{dim}:{precision}"].metrics[name] == pytest.approx(_mean(engine[name]), abs=tol)


def test_pca_at_full_dim_ranks_exactly_like_the_original_vectors(scifact_grid):
    _, full = scifact_grid
    values = full.grid.per_query
    assert values["pca:768:float32"] == values["prefix:768:float32"]


@pytest.mark.parametrize(
    ("name", "model"),
    [("scifact-subset", "all-minilm-l6-v2"), ("cranfield", "embeddinggemma-300m"), ("cranfield", "all-minilm-l6-v2")],
)
def test_pca_rotation_keeps_every_ranking(name, model):
    collection, vectors = _load(name, model)
    rows = [i for i, q in enumerate(vectors.query_ids) if collection.qrels.get(q)]
    queries = np.asarray(vectors.queries[rows], np.float32)
    fit = P.fit(vectors.docs)
    key = tie_key(vectors.doc_ids)
    full = vectors.full_dim
    original = search(queries, vectors.docs, [full], 100, key)[full]
    rotated = search(P.project(queries, fit), P.project(vectors.docs, fit), [full], 100, key)[full]
    assert np.array_equal(original.doc_index, rotated.doc_index)
    basis = fit.basis
    assert np.allclose(basis.T @ basis, np.eye(full), atol=1e-10)  # orthonormal: a rotation
    assert np.all(np.diff(fit.explained) >= -1e-12) and fit.explained[-1] == pytest.approx(1.0)


def test_pca_cells_match_an_svd_oracle_and_the_safety_finding_reads_them(scifact_grid, scifact_gemma):
    """PCA to d dims, independently: principal directions from numpy's SVD of the centred unit vectors, projection
    without centring, brute-force cosine, nDCG@10 by pytrec_eval."""
    import pytrec_eval

    _, full = scifact_grid
    collection, vectors = scifact_gemma
    cells = {c.label: c.metrics["ndcg@10"] for c in full.grid.cells}
    x = unit_prefix(vectors.docs, vectors.full_dim).astype(np.float64)
    _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    rows = [vectors.query_ids.index(q) for q in full.query_ids]
    q = unit_prefix(vectors.queries[rows], vectors.full_dim).astype(np.float64)
    evaluator = pytrec_eval.RelevanceEvaluator({k: collection.qrels[k] for k in full.query_ids}, {"ndcg_cut.10"})
    for dim in (64, 128):
        run = brute_force_run(q @ vt[:dim].T, x @ vt[:dim].T, vectors.doc_ids, dim, 10)
        results = evaluator.evaluate({qid: dict(r) for qid, r in zip(full.query_ids, run)})
        oracle = float(np.mean([v["ndcg_cut_10"] for v in results.values()]))
        assert cells[f"pca:{dim}:float32"] == pytest.approx(oracle, abs=2e-3)
    safety = full.grid.pca["safety"]
    assert safety["full_value"] == cells["prefix:768:float32"]
    for below in safety["below"]:
        assert below["pca_gain"] == pytest.approx(
            cells[f"pca:{below['dim']}:float32"] - cells[f"prefix:{below['dim']}:float32"]
        )
    assert full.grid.pca["fit"]["n_fit"] == len(vectors.doc_ids) and full.grid.pca["fit"]["sample"] is None


def test_the_projected_corpus_is_read_from_a_temporary_file_that_is_removed(scifact_gemma):
    _, vectors = scifact_gemma
    fit = P.fit(vectors.docs)
    in_memory = P.project(vectors.docs, fit)
    key = tie_key(vectors.doc_ids)
    queries = P.project(vectors.queries[:40], fit)
    with P.projected_on_disk(vectors.docs, fit, block=97) as rows:
        path = rows.path
        assert path.is_file() and rows.shape == in_memory.shape
        np.testing.assert_array_equal(rows[10:20, :5], in_memory[10:20, :5])
        np.testing.assert_array_equal(rows[np.array([7, 3, 500])], in_memory[[7, 3, 500]])
        scattered = np.array([[9, 8, 7, 7], [-1, 0, 1, 300]])  # runs, repeats, a negative index, any order
        np.testing.assert_array_equal(rows[scattered, :64], in_memory[scattered, :64])
        np.testing.assert_array_equal(rows[5:400:7], in_memory[5:400:7])
        on_disk = search(queries, rows, [64, 768], 100, key)
    assert not path.exists() and not path.parent.exists()
    expected = search(queries, in_memory, [64, 768], 100, key)
    for d in (64, 768):
        np.testing.assert_array_equal(on_disk[d].doc_index, expected[d].doc_index)


def test_two_stage_with_the_whole_corpus_as_shortlist_is_the_full_dim_result(scifact_grid):
    _, full = scifact_grid
    n_docs = len(full.doc_ids)
    values = full.grid.per_query
    for stage in ("64:float32", "768:binary", "128:int8"):
        assert values[f"two-stage:{stage}:{n_docs}"] == full.per_query[768], stage
    rows = {r.label: r for r in full.grid.two_stage}
    whole = rows[f"two-stage:64:float32:{n_docs}"]
    assert whole.shortlist_recall == 1.0
    assert whole.cost["full_vectors_fetched_per_query"] == n_docs
    small = rows["two-stage:64:float32:100"]
    assert 0 < small.shortlist_recall < 1
    # 64 dims x 4 bytes a vector in the first-stage index; binary at 768 d: 96 bytes a vector
    assert small.cost["first_stage_index_bytes"] == 256 * n_docs
    assert rows["two-stage:768:binary:100"].cost["first_stage_index_bytes"] == 96 * n_docs


def _two_stage_oracle(
    queries: np.ndarray, docs: np.ndarray, doc_ids: list[str], stage: tuple[int, str], shortlist: int, depth: int
) -> tuple[list[list[tuple[str, float]]], list[list[str]], int]:
    """Independent of mrl_eval: per query, the first stage's best `shortlist` documents (float64 cosine of the
    normalised prefix, or the Hamming agreement `dim - 2 * distance` of the prefix's sign bits), reranked by the
    full-dim float64 cosine; both orders by (score desc, doc id desc), trec_eval's tie rule. The final run (doc id,
    score) cut to `depth`, each query's shortlist, and how many queries have a tie straddling the shortlist's cut
    (where the tie rule decides which documents the first stage keeps)."""
    dim, precision = stage
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    full = unit(np.asarray(queries, np.float64)) @ unit(np.asarray(docs, np.float64)).T
    if precision == "float32":
        first = unit(np.asarray(queries[:, :dim], np.float64)) @ unit(np.asarray(docs[:, :dim], np.float64)).T
    else:
        q_bits, d_bits = np.asarray(queries[:, :dim]) > 0, np.asarray(docs[:, :dim]) > 0
        first = (dim - 2 * (q_bits[:, None, :] != d_bits[None, :, :]).sum(axis=2)).astype(np.float64)
    runs, shortlists = [], []
    cut = np.sort(first, axis=1)[:, ::-1][:, shortlist - 1 : shortlist + 1]
    ties_at_cut = int((cut[:, 0] == cut[:, 1]).sum())
    for q in range(len(queries)):
        short = sorted(range(len(doc_ids)), key=lambda i: (first[q, i], doc_ids[i]), reverse=True)[:shortlist]
        final = sorted(((doc_ids[i], float(full[q, i])) for i in short), key=lambda p: (p[1], p[0]), reverse=True)
        runs.append(final[:depth])
        shortlists.append([doc_ids[i] for i in short])
    return runs, shortlists, ties_at_cut


@pytest.mark.parametrize(
    ("collection", "model", "stages", "shortlist"),
    [
        ("scifact-subset", "embeddinggemma-300m", [(64, "float32"), (768, "binary"), (256, "binary")], 100),
        ("cranfield", "all-minilm-l6-v2", [(48, "float32"), (384, "binary")], 200),
    ],
)
def test_two_stage_at_a_real_shortlist_equals_numpy_shortlist_then_rerank_scored_by_pytrec_eval(
    collection, model, stages, shortlist
):
    """The shortlist holds a fraction of the corpus, so the first stage loses documents and ties at its cut matter:
    every query's metrics equal pytrec_eval's on the numpy oracle's run, and so does the shortlist recall."""
    import pytrec_eval

    data, vectors = _load(collection, model)
    spec = ",".join(f"{dim}:{precision}" for dim, precision in stages)
    grid = GridSettings(two_stage=spec, shortlists=str(shortlist))
    result = score_vectors(vectors, data.qrels, [vectors.full_dim], METRICS, grid=grid)
    assert shortlist < len(vectors.doc_ids) / 3
    rows = [vectors.query_ids.index(q) for q in result.query_ids]
    queries, docs = vectors.queries[rows], np.asarray(vectors.docs)
    full_runs = brute_force_run(queries, docs, vectors.doc_ids, vectors.full_dim, 100)
    evaluator = pytrec_eval.RelevanceEvaluator(data.qrels, {"ndcg_cut.10", "recall.100"})
    rows_by_label = {r.label: r for r in result.grid.two_stage}
    for dim, precision in stages:
        label = f"two-stage:{dim}:{precision}:{shortlist}"
        runs, shortlists, ties = _two_stage_oracle(queries, docs, vectors.doc_ids, (dim, precision), shortlist, 100)
        assert precision != "binary" or ties > 0  # Hamming scores tie at the cut: the tie rule picks the shortlist
        want = evaluator.evaluate({q: dict(run) for q, run in zip(result.query_ids, runs)})
        got = result.grid.per_query[label]
        for q in result.query_ids:
            assert got["ndcg@10"][q] == pytest.approx(want[q]["ndcg_cut_10"], abs=1e-9), (label, q)
            assert got["recall@100"][q] == pytest.approx(want[q]["recall_100"], abs=1e-9), (label, q)
        # the first stage did lose documents: the final top 100 is not the full dim's
        assert any([d for d, _ in run] != [d for d, _ in top] for run, top in zip(runs, full_runs))
        survived = [len({d for d, _ in top[:10]} & set(s)) / 10 for top, s in zip(full_runs, shortlists)]
        assert rows_by_label[label].shortlist_recall == pytest.approx(np.mean(survived), abs=1e-12)
        assert 0 < rows_by_label[label].shortlist_recall < 1


def test_rerank_orders_a_shortlist_by_exact_cosine_and_doc_id():
    corpus = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    key = tie_key(["a", "b", "c", "d"])
    # cosines with (1, 0): a 1, b 0, c 1, d 0.6; a and c tie, c wins (doc id descending)
    ranking = T.rerank(np.array([[1.0, 0.0]]), corpus, np.array([[0, 1, 2, 3]]), 3, key)
    assert ranking.doc_index.tolist() == [[2, 0, 3]]
    shortlist = np.array([[3, 1, -1, -1]])
    assert T.rerank(np.array([[1.0, 0.0]]), corpus, shortlist, 3, key).doc_index.tolist() == [[3, 1, -1]]
    assert T.survival(np.array([[2, 0, 3]]), shortlist).tolist() == [1 / 3]


def _cell(method, dim, precision, value, size=None):
    from mrl_eval.methods.precision import bytes_per_vector

    return Cell(method, dim, precision, size or bytes_per_vector(dim, precision), {"ndcg@10": value})


def test_optimize_bytes_picks_the_cheapest_cell_and_truncation_wins_a_size_tie():
    cells = [
        _cell("prefix", 768, "float32", 0.80),
        _cell("prefix", 128, "float32", 0.70),  # 512 B
        _cell("prefix", 512, "int8", 0.78),  # 512 B
        _cell("prefix", 768, "binary", 0.74),  # 96 B
        _cell("pca", 128, "float32", 0.785),  # 512 B, as cheap as prefix int8 at 512 and better
        _cell("pca", 64, "int8", 0.781),  # 64 B
    ]
    rule = make_rule("ndcg@10", None, "0.025")  # bar 0.775
    by_bytes = recommend_cell(cells, 768, rule, 1000, "bytes", ("prefix",))
    assert (by_bytes.label, by_bytes.storage["bytes_per_vector"]) == ("prefix:512:int8", 512)
    assert by_bytes.smaller_label == "prefix:768:binary"  # the best of the next cheaper size, which fails
    with_pca = recommend_cell(cells, 768, rule, 1000, "bytes", ("prefix", "pca"))
    assert with_pca.label == "pca:64:int8" and "PCA to 64 d" in with_pca.note and "prefix:512:int8" in with_pca.note
    by_dim = recommend_cell(cells, 768, rule, 1000, "dim", ("prefix", "pca"))
    assert by_dim.label == "pca:128:float32"  # float32 only; prefix at 128 fails
    tie = recommend_cell(
        [*cells, _cell("prefix", 128, "float32", 0.79)][1:] + cells[:1], 768, rule, 1000, "dim", ("prefix", "pca")
    )
    assert tie.label == "prefix:128:float32" and tie.note is None


def test_truncation_safety_is_read_off_the_numbers():
    prefix = {32: 0.40, 64: 0.60, 128: 0.75, 256: 0.79, 384: 0.80}
    pca = {32: 0.50, 64: 0.66, 128: 0.755, 256: 0.79, 384: 0.80}
    s = P.safety(prefix, pca, 0.80, "ndcg@10", 0.01, 384)
    assert (s["safe_vs_full_dim"], s["safe_vs_pca_dim"]) == (256, 128)
    assert [b["dim"] for b in s["below"]] == [32, 64]
    assert s["statement"].startswith("Truncation stays within 0.01 ndcg@10 of the full dim (0.800) down to 256 d")
    assert "+0.060 at 64 d, +0.100 at 32 d" in s["statement"]
    behind = P.safety(prefix, {**pca, 256: 0.85}, 0.80, "ndcg@10", 0.01, 384)
    assert behind["safe_vs_pca_dim"] == 384 and [b["dim"] for b in behind["below"]] == [32, 64, 128, 256]
    assert (
        "down to 256 d, and trails PCA at the same dim by more than 0.01 at the next smaller swept dim"
        in behind["statement"]
    )
    never = P.safety(prefix, {d: v - 0.05 for d, v in prefix.items()}, 0.80, "ndcg@10", 0.01, 384)
    assert (
        never["below"] == [] and "At every swept dim, truncation is within 0.01 of PCA or better." in never["statement"]
    )


def test_pca_fit_on_a_sample_is_recorded():
    _, vectors = _load("cranfield", "all-minilm-l6-v2")  # 1,400 documents of 384 dims
    fit = P.fit(vectors.docs, P.parse_fit_sample("0.3"), seed=3)
    info = fit.describe([64, 384])
    assert info["n_fit"] == round(0.3 * len(vectors.doc_ids)) and info["fit_on"] == "a random sample of the corpus"
    assert P.parse_fit_sample("5000") == 5000 and P.parse_fit_sample(None) is None


@pytest.mark.parametrize(
    ("collection", "sample", "message"),
    [
        ("cranfield", "100", "give --pca-fit-sample 768 or more (or a fraction of at least 0.549)"),
        ("cranfield", "0.5", "give --pca-fit-sample 768 or more"),
        ("scifact-subset", "0.9", "the corpus has only 600 documents, so drop --pca-fit-sample"),
    ],
)
def test_bug_a_pca_fit_sample_below_the_full_dim_scored_arbitrary_directions_as_pca(collection, sample, message):
    _, vectors = _load(collection, "embeddinggemma-300m")  # 768 dims
    with pytest.raises(UsageError, match=r"--pca-fit-sample .* fewer than the 768 dims .*" + re.escape(message)):
        P.fit(vectors.docs, P.parse_fit_sample(sample), seed=3)
    # why, by an independent computation: the covariance of n rows has rank at most n - 1 < 768, so numpy's SVD of
    # the sample leaves the last directions of the basis undetermined
    rows = np.asarray(vectors.docs[:100], np.float64)
    assert np.linalg.matrix_rank(rows - rows.mean(axis=0)) <= 99


def test_a_pca_fit_sample_of_the_full_dim_or_more_is_fitted():
    _, vectors = _load("cranfield", "embeddinggemma-300m")
    assert P.fit(vectors.docs, P.parse_fit_sample("768"), seed=3).n_fit == 768


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: T.parse_stages("64,fast", 768), "'fast' is not a first stage"),
        (lambda: T.parse_stages("1024", 768), "1024 is not between 1 and the full dim 768"),
        (lambda: T.parse_stages("64:int4", 768), "precision must be one of"),
        (lambda: T.parse_shortlists("100,0"), "'0' is not a positive whole number"),
        (lambda: parse_scales("ten"), "'ten' is not a corpus size"),
        (lambda: parse_methods("prefix,svd"), "'svd' is not a method"),
        (lambda: P.parse_fit_sample("-3"), "--pca-fit-sample '-3'"),
    ],
)
def test_grid_flags_reject_bad_values(call, message):
    from mrl_eval.errors import UsageError

    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_parsers_read_good_values():
    assert T.parse_stages("64, binary ,128:int8,64", 768) == [
        T.Stage(64),
        T.Stage(768, "binary"),
        T.Stage(128, "int8"),
    ]
    assert parse_scales("10M,250k,1.5B") == {"10M": 10_000_000, "250k": 250_000, "1.5B": 1_500_000_000}
    assert parse_methods("pca,prefix") == ("prefix", "pca")


def test_one_command_gives_grid_pareto_pca_and_two_stage_and_from_reproduces_the_choice(cli_env):
    folder = data_path("scifact-subset")
    args = [
        "recommend",
        str(folder),
        "--embeddings",
        str(folder / "embeddings" / "embeddinggemma-300m"),
        "--dims",
        "64,128,256",
        "--precisions",
        "float32,int8,binary",
        "--compare",
        "pca",
        "--two-stage",
        "64,binary",
        "--shortlist",
        "100,1000",
        "--max-drop",
        "0.02",
        "--optimize",
        "bytes",
        "--scale",
        "50M",
        "--resamples",
        "500",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["embedded_now"] == 0  # nothing re-embedded: precomputed vectors
    reports = cli_env / "reports"
    stem = "scifact-subset__embeddinggemma-300m"
    for suffix in (".pareto.png", ".pareto.svg", ".html", ".md", ".csv"):
        assert (reports / f"{stem}{suffix}").stat().st_size > 0
    assert doc["grid"]["scales"] == {"corpus": 600, "50M": 50_000_000}
    cell = next(c for c in doc["grid"]["cells"] if c["label"] == "prefix:256:int8")
    assert cell["storage_bytes"]["50M"] == 256 * 50_000_000
    assert doc["pca"]["safety"]["statement"] and doc["two_stage"]["recommendation"]["first_stage"]
    rec = doc["recommendation"]
    assert rec["optimize"] == "bytes" and rec["label"]
    cells = {c["label"]: c for c in doc["grid"]["cells"]}
    bar = rec["threshold"]
    cheapest = min(
        (c for c in cells.values() if c["method"] == "prefix" and c["metrics"]["ndcg@10"] >= bar),
        key=lambda c: (c["bytes_per_vector"], -c["metrics"]["ndcg@10"]),
    )
    assert rec["label"] == cheapest["label"]
    rows = list(csv.DictReader((reports / f"{stem}.csv").read_text(encoding="utf-8").splitlines()))
    assert {r["precision"] for r in rows} == {"float32", "int8", "binary"} and {r["method"] for r in rows} == {
        "prefix",
        "pca",
    }
    markdown = (reports / f"{stem}.md").read_text(encoding="utf-8")
    assert "Two-stage" in markdown and "Truncation stays within" in markdown and ".pareto.png" in markdown

    again = runner.invoke(
        app,
        [
            "recommend",
            "--from",
            str(reports / f"{stem}.json"),
            "--max-drop",
            "0.02",
            "--optimize",
            "bytes",
            "--resamples",
            "500",
            "--json",
            "--out",
            str(cli_env / "again"),
        ],
    )
    assert again.exit_code == 0, again.output
    redo = json.loads(again.stdout)
    assert redo["recommendation"]["label"] == rec["label"]
    assert redo["two_stage"]["recommendation"]["first_stage"] == doc["two_stage"]["recommendation"]["first_stage"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--precisions", "float32,int4"], "int4"),
        (["--compare", "svd"], "the one comparison is pca"),
        (["--two-stage", "64:fast"], "--two-stage"),
        (["--scale", "lots"], "--scale"),
    ],
)
def test_bad_grid_flags_exit_2_before_any_work(cli_env, flags, message):
    folder = data_path("scifact-subset")
    result = runner.invoke(
        app, ["sweep", str(folder), "--embeddings", str(folder / "embeddings" / "all-minilm-l6-v2"), *flags]
    )
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (cli_env / "reports").exists()


def test_metric_depth_covers_two_stage_final_ranking():
    assert M.max_depth(METRICS) == 100
