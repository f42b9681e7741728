"""--engine faiss: HNSW at efSearch >= corpus size finds what exact search finds; the printed recipe rebuilds the
measured index; the CLI carries cells, costs and recipes into the report and recommends under --optimize.

Oracles: the exact engine (retrieval.search / precision.rank) and FAISS's own flat index of the same codec."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.vectors import load_vectors
from mrl_eval.engines import RECALL_K, EngineSettings, parse_ef_search
from mrl_eval.engines.evaluate import neighbour_recall, order_ties
from mrl_eval.engines.faiss import FaissEngine
from mrl_eval.engines.run import measure
from mrl_eval.errors import MrlEvalWarning, UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.inputs import ScoringInputs
from mrl_eval.evaluate.retrieval import tie_key
from mrl_eval.pipeline.score import score_vectors
from tests.conftest import data_path, require
from tests.engine_oracle import exact_scores, recall_of_ids, top_scores
from tests.faiss_oracle import unit_prefix

faiss = require("faiss", extra="faiss")
METRICS = ["ndcg@10", "recall@100"]
runner = CliRunner()


@pytest.fixture(scope="module")
def scifact():
    folder = data_path("scifact-subset")
    vectors = load_vectors(folder / "embeddings" / "embeddinggemma-300m")
    return load_collection(folder), vectors


def _per_query(collection, vectors, ranking: np.ndarray) -> dict:
    ids = [q for q in vectors.query_ids if collection.qrels.get(q)]
    return M.score_ranking(ids, ranking, vectors.doc_ids, collection.qrels, METRICS)


def _measure(settings: EngineSettings, scifact, dims: list[int], precisions: tuple[str, ...]):
    """`measure` on the judged queries of the SciFact subset; the paired statistics are not computed."""
    collection, vectors = scifact
    rows = [i for i, q in enumerate(vectors.query_ids) if collection.qrels.get(q)]
    return measure(
        settings,
        ScoringInputs(
            docs=vectors.docs,
            queries=np.asarray(vectors.queries[rows], np.float32),
            doc_ids=list(vectors.doc_ids),
            query_ids=[vectors.query_ids[i] for i in rows],
            qrels=collection.qrels,
            metric_names=METRICS,
            doc_key=tie_key(vectors.doc_ids),
            exclude=None,
        ),
        dims=dims,
        precisions=precisions,
        reference_per_query=_per_query(collection, vectors, np.zeros((len(rows), 1), np.int64)),
        stats=None,
    )


def test_hnsw_at_ef_above_corpus_size_equals_exact_search():
    """efSearch >= corpus size: every HNSW cell scores what exact search scores, query by query, to 1e-4."""
    folder = data_path("scifact-subset")
    collection, vectors = load_collection(folder), load_vectors(folder / "embeddings" / "all-minilm-l6-v2")
    n_docs = vectors.docs.shape[0]
    dims, precisions = [48, 200, 384], ("float32", "float16", "int8")
    settings = EngineSettings(engine="faiss", index_kinds=("hnsw", "flat"), ef_search=(n_docs,))
    result = score_vectors(vectors, collection.qrels, dims, METRICS)
    rows = [i for i, q in enumerate(vectors.query_ids) if collection.qrels.get(q)]
    engine = measure(
        settings,
        ScoringInputs(
            docs=vectors.docs,
            queries=np.asarray(vectors.queries[rows], np.float32),
            doc_ids=list(vectors.doc_ids),
            query_ids=result.query_ids,
            qrels=collection.qrels,
            metric_names=METRICS,
            doc_key=tie_key(vectors.doc_ids),
            exclude=None,
        ),
        dims=dims,
        precisions=precisions,
        reference_per_query=result.per_query[384],
        stats=None,
    )
    cells = {c.label: c for c in engine.cells}
    for dim in dims:
        for precision in precisions:
            hnsw = engine.per_query[f"faiss:hnsw:{dim}:{precision}:ef{n_docs}"]
            if precision == "float32":  # the exact engine: retrieval.search
                reference = result.per_query[dim]
            else:  # float16 and SQ8 with a float32 query: FAISS's flat index of the same codec is the exact search
                reference = engine.per_query[f"faiss:flat:{dim}:{precision}"]
            for metric in METRICS:
                got = np.array([hnsw[metric][q] for q in result.query_ids])
                want = np.array([reference[metric][q] for q in result.query_ids])
                np.testing.assert_allclose(got, want, atol=1e-4, err_msg=f"{dim}:{precision} {metric}")
            assert cells[f"faiss:hnsw:{dim}:{precision}:ef{n_docs}"].neighbour_recall == 1.0


@pytest.mark.parametrize("dim", [64, 100, 768])
def test_binary_hnsw_at_ef_above_corpus_size_finds_the_exact_hamming_neighbours(scifact, dim):
    """Hamming distances tie often. The engine's distance at every rank equals exact search's; the metrics are
    equal for every query with no tie straddling a metric's cutoff (which tied document makes the cut is the
    engine's choice, see docs/engines.md)."""
    collection, vectors = scifact
    rows = [i for i, q in enumerate(vectors.query_ids) if collection.qrels.get(q)]
    queries = np.asarray(vectors.queries[rows], np.float32)
    engine = FaissEngine(vectors.docs, queries, m=16, ef_construction=64)
    index, score, _ = engine.search(engine.build(dim, "binary", "hnsw"), vectors.docs.shape[0], 101)
    # the oracle: every Hamming distance by numpy, ranked by (distance, doc id descending)
    bits = lambda x: np.asarray(x[:, :dim]) > 0  # noqa: E731
    hamming = (bits(queries)[:, None, :] != bits(vectors.docs)[None, :, :]).sum(axis=2)
    order = np.lexsort((-tie_key(vectors.doc_ids)[None, :].repeat(len(rows), 0), hamming), axis=1)[:, :101]
    exact_distance = np.take_along_axis(hamming, order, axis=1)
    np.testing.assert_array_equal(-score, exact_distance)  # the Hamming distance at every rank
    got = _per_query(collection, vectors, order_ties(index, score, tie_key(vectors.doc_ids))[:, :100])
    want = _per_query(collection, vectors, order[:, :100])
    clean = (exact_distance[:, 9] < exact_distance[:, 10]) & (exact_distance[:, 99] < exact_distance[:, 100])
    ids = [q for q, ok in zip(got["ndcg@10"], clean) if ok]
    for metric in METRICS:
        np.testing.assert_allclose([got[metric][q] for q in ids], [want[metric][q] for q in ids], atol=1e-4)


@pytest.mark.parametrize(("dim", "precision"), [(768, "float32"), (128, "float16"), (256, "binary")])
def test_neighbour_recall_on_a_weak_graph_is_numpys(scifact, dim, precision):
    """Issue 21.1 for FAISS: on a weak graph (M = 4, efConstruction = 8) the exact reference equals numpy's brute
    force over the same codes (k rows each), and the reported neighbour recall, through `measure`, is the share of
    numpy's exact top 10 the index returned."""
    collection, vectors = scifact
    rows = [i for i, q in enumerate(vectors.query_ids) if collection.qrels.get(q)]
    queries = np.asarray(vectors.queries[rows], np.float32)
    engine = FaissEngine(vectors.docs, queries, m=4, ef_construction=8)
    index, score, _ = engine.search(engine.build(dim, precision, "hnsw"), 16, 100)
    exact_index, exact_score = engine.exact(dim, precision, 100)
    oracle = exact_scores("faiss", vectors.docs, queries, dim, precision)
    assert (exact_index >= 0).all()
    # SQfp16 scores differ from numpy's float16 products by up to 2e-5 on a few pairs (FAISS's own fp16 rounding)
    atol = 1e-4 if precision == "float16" else 1e-5
    np.testing.assert_allclose(exact_score, top_scores(oracle, 100), rtol=0, atol=atol)
    truth = recall_of_ids(index, oracle, RECALL_K, atol=atol)
    assert truth < 0.9  # the graph is weak: the test measures something
    assert neighbour_recall(score, exact_score) == pytest.approx(truth, abs=0.005)
    settings = EngineSettings(engine="faiss", hnsw_m=4, ef_construction=8, ef_search=(16,))
    with pytest.warns(MrlEvalWarning, match="--ef-search 16 is below k = 100"):
        result = _measure(settings, scifact, [dim], (precision,))
    (cell,) = [c for c in result.cells if c.dim == dim]  # one thread: the same graph as above
    assert cell.neighbour_recall == pytest.approx(truth, abs=0.005)


def test_ef_search_below_k_warns_once_and_counts_short_lists(scifact):
    """Issue 21.2: FAISS sizes its candidate queue max(efSearch, k) but stops after efSearch (HNSW.cpp,
    search_from_candidates), so an efSearch below k is no efSearch of k: one warning, and each cell counts the
    queries that got fewer than k results, as FAISS itself returns them (the index built directly, one thread)."""
    collection, vectors = scifact
    rows = [i for i, q in enumerate(vectors.query_ids) if collection.qrels.get(q)]
    queries = np.asarray(vectors.queries[rows], np.float32)
    with pytest.warns(MrlEvalWarning) as caught:
        result = _measure(EngineSettings(engine="faiss", ef_search=(4, 16, 128)), scifact, [128, 768], ("float32",))
    (warning,) = [str(w.message) for w in caught if issubclass(w.category, MrlEvalWarning)]
    assert warning.startswith("--ef-search 4,16 is below k = 100 (recall@100)") and "\n" not in warning
    faiss.omp_set_num_threads(1)
    counted = {}
    for cell in result.cells:
        index = faiss.IndexHNSWFlat(cell.dim, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        index.add(unit_prefix(vectors.docs, cell.dim))
        index.hnsw.efSearch = cell.ef_search
        _, ids = index.search(unit_prefix(queries, cell.dim), 100)
        counted[cell.label] = cell.short_lists
        assert cell.short_lists == int(((ids >= 0).sum(axis=1) < 100).sum()), cell.label
    assert counted["faiss:hnsw:768:float32:ef4"] > 0 and counted["faiss:hnsw:768:float32:ef128"] == 0


def test_short_lists_reach_the_json_report_and_the_engine_table(cli_env):
    folder = data_path("scifact-subset")
    args = ["sweep", folder, "--embeddings", folder / "embeddings" / "embeddinggemma-300m", "--dims", "768"]
    args += ["--engine", "faiss", "--ef-search", "4,100", "--resamples", "200", "--out", cli_env / "s"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: --ef-search")]
    assert len(warnings) == 1 and "--ef-search 4 is below k = 100" in warnings[0]
    (saved,) = (cli_env / "s").glob("*.json")
    cells = {c["label"]: c for c in json.loads(saved.read_text())["engine"]["cells"]}
    assert cells["faiss:hnsw:768:float32:ef4"]["short_lists"] > 0
    assert cells["faiss:hnsw:768:float32:ef100"]["short_lists"] == 0
    markdown = saved.with_suffix(".md").read_text().split("## Inside faiss", 1)[1]
    header = next(line for line in markdown.splitlines() if line.startswith("| cell"))
    column = [h.strip() for h in header.strip("|").split("|")].index("short lists (fewer than k)")
    for line in markdown.splitlines():
        if line.startswith("| faiss:"):
            row = [v.strip() for v in line.strip("|").split("|")]
            assert int(row[column]) == cells[row[0]]["short_lists"]


def test_index_bytes_are_the_serialised_index_and_the_graph_costs_memory(scifact):
    _, vectors = scifact
    engine = FaissEngine(vectors.docs, vectors.queries[:5], m=16, ef_construction=40)
    hnsw, flat = engine.build(128, "int8", "hnsw"), engine.build(128, "int8", "flat")
    assert flat.size == faiss.serialize_index(flat.index).nbytes
    codes = vectors.docs.shape[0] * 128
    assert flat.size >= codes and hnsw.size > flat.size + vectors.docs.shape[0] * 16 * 4  # >= M links of 4 bytes


@pytest.mark.parametrize(
    ("dim", "precision", "kind", "ef"),
    [
        (128, "int8", "hnsw", 16),
        (100, "binary", "hnsw", 32),
        (64, "float16", "flat", None),
        (768, "float32", "hnsw", 8),
    ],
)
def test_the_printed_recipe_rebuilds_the_measured_index(scifact, dim, precision, kind, ef):
    """Run the Python snippet the report prints, on the full-size vectors: the same ids and distances come back."""
    _, vectors = scifact
    queries = np.asarray(vectors.queries[:40], np.float32)
    engine = FaissEngine(vectors.docs, queries, m=12, ef_construction=32)
    built = engine.build(dim, precision, kind)
    index, score, _ = engine.search(built, ef, 20)
    recipe = engine.recipe(dim, precision, kind, ef, k=20)
    namespace = {"corpus": np.asarray(vectors.docs), "queries": queries}
    exec(recipe["python"], namespace)  # what a user copies from the report
    np.testing.assert_array_equal(namespace["ids"], index)
    distances = namespace["distances"].astype(np.float64)
    np.testing.assert_array_equal(-distances if precision == "binary" else distances, score)


def test_neighbour_recall_counts_ties_at_the_cut_as_found():
    exact = np.array([[-1.0, -2.0, -2.0, -3.0]])
    assert neighbour_recall(np.array([[-1.0, -2.0, -2.0, -9.0]]), exact, k=3) == 1.0  # a tied doc either way
    assert neighbour_recall(np.array([[-1.0, -3.0, -4.0, -9.0]]), exact, k=3) == pytest.approx(1 / 3)


def test_engine_order_is_resorted_by_score_then_doc_id_descending():
    key = np.array([0, 1, 2, 3])
    ranked = order_ties(np.array([[0, 2, 1, -1]]), np.array([[0.5, 0.9, 0.9, -np.inf]]), key)
    assert ranked.tolist() == [[2, 1, 0, -1]]


@pytest.mark.parametrize("spec", ["16,x", "0", "", "-4"])
def test_bad_ef_search_is_a_usage_error(spec):
    with pytest.raises(UsageError, match="--ef-search"):
        parse_ef_search(spec)


def test_cli_sweep_engine_faiss_then_recommend_from_the_report(cli_env):
    folder = data_path("scifact-subset")
    args = ["sweep", folder, "--embeddings", folder / "embeddings" / "embeddinggemma-300m", "--dims", "128,256"]
    args += ["--precisions", "float32,binary", "--engine", "faiss", "--ef-search", "8,64", "--resamples", "200"]
    result = runner.invoke(app, [str(a) for a in [*args, "--json"]])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    section = doc["engine"]
    assert section["engine"] == "faiss" and section["ef_search"] == [8, 64]
    labels = {c["label"] for c in section["cells"]}
    assert "faiss:hnsw:256:binary:ef8" in labels and len(labels) == 3 * 2 * 2
    cell = next(c for c in section["cells"] if c["label"] == "faiss:hnsw:128:float32:ef64")
    assert cell["recipe"]["factory"] == "HNSW16,Flat" and cell["recipe"]["search"] == {"efSearch": 64}
    assert cell["stats"]["ndcg@10"]["ci"][0] <= cell["metrics"]["ndcg@10"] <= cell["stats"]["ndcg@10"]["ci"][1]
    saved = cli_env / "run.json"
    saved.write_text(result.stdout)
    full = doc["results"][-1]["metrics"]["ndcg@10"]
    # the same run without the engine cells that come within 0.005 of the full dim: the dims still meet that bar
    close = full - 0.005
    trimmed = json.loads(result.stdout)
    kept = [c for c in trimmed["engine"]["cells"] if c["metrics"]["ndcg@10"] < close]
    assert 0 < len(kept) < len(trimmed["engine"]["cells"])
    gone = {c["label"] for c in trimmed["engine"]["cells"]} - {c["label"] for c in kept}
    trimmed["engine"]["per_query"] = {k: v for k, v in trimmed["engine"]["per_query"].items() if k not in gone}
    trimmed["engine"]["cells"] = kept
    without_close = cli_env / "trimmed.json"
    without_close.write_text(json.dumps(trimmed))
    out_of_reach = max(r["metrics"]["ndcg@10"] for r in doc["results"] + section["cells"]) + 0.01
    cases = [
        (saved, "memory", ["--max-drop", "0.05"], full - 0.05),
        (saved, "latency", ["--max-drop", "0.05"], full - 0.05),
        (saved, "memory", ["--min-ndcg", f"{out_of_reach:.6f}"], out_of_reach),
        (without_close, "memory", ["--max-drop", "0.005"], close),
    ]
    for n, (report, optimize, rule, bar) in enumerate(cases):
        summary, junit = cli_env / f"summary{n}.md", cli_env / f"gate{n}.xml"
        rec = runner.invoke(
            app,
            ["recommend", "--from", str(report), *rule, "--optimize", optimize, "--json", "--no-plot"]
            + ["--junit-xml", str(junit)],
            env={"GITHUB_STEP_SUMMARY": str(summary)},
        )
        # the gate (the point rule): exit 0 when a swept dim's mean and an engine cell's meet the bar, else 3
        cells = json.loads(report.read_text())["engine"]["cells"]
        meets = [r["dim"] for r in doc["results"] if r["metrics"]["ndcg@10"] >= bar]
        passing = [c for c in cells if c["metrics"]["ndcg@10"] >= bar]
        assert rec.exit_code == (0 if meets and passing else 3), (report.name, rule, rec.output)
        # the step summary and the JUnit file say what the exit code says (bug: they ignored the engine check)
        assert ("Quality gate: passed" in summary.read_text()) is (rec.exit_code == 0)
        failures = int(ET.parse(junit).getroot().get("failures"))
        assert (failures == 0) is (rec.exit_code == 0)
        assert json.loads(rec.stdout)["recommendation"]["dim"] == (min(meets) if meets else None)
        pick = json.loads(rec.stdout)["engine"]["recommendation"]
        if not passing:
            assert pick.get("label") is None, pick
            continue
        cost = (lambda c: c["index_bytes"]) if optimize == "memory" else (lambda c: c["latency_ms"]["median"])
        assert (
            pick["label"] == min(passing, key=lambda c: (cost(c), c["index_bytes"], c["latency_ms"]["median"]))["label"]
        )
        assert pick["recipe"] == next(c for c in cells if c["label"] == pick["label"])["recipe"]


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--engine", "elastic"], "--engine"),
        (["--engine", "faiss", "--pg-dsn", "postgresql://x@localhost/db"], "--pg-dsn"),
        (["--engine", "faiss", "--hnsw-m", "1"], "--hnsw-m"),
        (["--engine", "faiss", "--index", "ivf"], "--index"),
        (["--engine", "faiss", "--ef-construction", "0"], "--ef-construction"),
        # pgvector's own bounds, checked before any work (they ended in a traceback after the exact search)
        (["--engine", "pgvector", "--hnsw-m", "101", "--ef-construction", "202"], "--hnsw-m 101"),
        (["--engine", "pgvector", "--ef-construction", "1001"], "--ef-construction 1001"),
        (["--engine", "pgvector", "--hnsw-m", "2", "--ef-construction", "3"], "--ef-construction 3"),
        (["--engine", "pgvector", "--hnsw-m", "48"], "--ef-construction 64: pgvector needs at least 2 x --hnsw-m"),
        (["--engine", "pgvector", "--ef-search", "40,1001"], "--ef-search 1001"),
    ],
)
def test_engine_usage_errors_exit_2(cli_env, flags, needle):
    folder = data_path("scifact-subset")
    result = runner.invoke(
        app, ["sweep", str(folder), "--embeddings", str(folder / "embeddings" / "all-minilm-l6-v2"), *flags]
    )
    assert result.exit_code == 2 and needle in result.output, result.output


def test_optimize_memory_without_engine_cells_is_a_usage_error(cli_env):
    folder = data_path("scifact-subset")
    args = ["recommend", str(folder), "--embeddings", str(folder / "embeddings" / "all-minilm-l6-v2")]
    result = runner.invoke(app, [*args, "--dims", "64", "--max-drop", "0.1", "--optimize", "memory", "--no-plot"])
    assert result.exit_code == 2 and "--engine" in result.output, result.output


@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=8))
def test_ef_search_lists_parse_to_their_sorted_distinct_values(values):
    assert parse_ef_search(" , ".join(map(str, values))) == tuple(sorted(set(values)))


def test_the_engine_table_and_recipe_reach_the_markdown_and_html_reports(cli_env):
    """The Markdown and HTML reports carry the engine table (one row per cell of the JSON report, the recommended
    one marked) and the recommended recipe, read back with independent parsers."""
    from html.parser import HTMLParser

    folder = data_path("scifact-subset")
    args = ["sweep", folder, "--embeddings", folder / "embeddings" / "embeddinggemma-300m", "--dims", "128"]
    args += ["--engine", "faiss", "--ef-search", "8,64", "--resamples", "200", "--out", cli_env / "s"]
    assert runner.invoke(app, [str(a) for a in args]).exit_code == 0
    (saved,) = (cli_env / "s").glob("*.json")
    out = cli_env / "r"
    rec = runner.invoke(
        app,
        [
            "recommend",
            "--from",
            str(saved),
            "--max-drop",
            "0.05",
            "--optimize",
            "memory",
            "--no-plot",
            "--out",
            str(out),
        ],
    )
    (doc_path,) = out.glob("*.json")
    written = json.loads(doc_path.read_text())
    bar = written["results"][-1]["metrics"]["ndcg@10"] - 0.05  # the point rule's bar: the full dim's mean less 0.05
    dim_meets = any(r["metrics"]["ndcg@10"] >= bar for r in written["results"])
    cell_meets = any(c["metrics"]["ndcg@10"] >= bar for c in written["engine"]["cells"])
    assert rec.exit_code == (0 if dim_meets and cell_meets else 3), rec.output  # the gate: a dim and a cell meet it
    section = written["engine"]
    pick = section["recommendation"]
    cells = {c["label"]: c for c in section["cells"]}

    markdown = doc_path.with_suffix(".md").read_text()
    part = markdown.split("## Inside faiss", 1)[1]
    rows = [line.strip("|").split("|") for line in part.splitlines() if line.startswith(("| faiss:", "| **faiss:"))]
    label = [r[0].replace("*", "").replace("✓", "").strip() for r in rows]
    assert sorted(label) == sorted(cells)
    assert [name for name, r in zip(label, rows) if "✓" in r[0]] == [pick["label"]]
    for name, row in zip(label, rows):
        cell = cells[name]
        assert float(row[1].strip().strip("*")) == pytest.approx(cell["metrics"]["ndcg@10"], abs=5e-5)
        assert float(row[3].strip().strip("*")) == pytest.approx(cell["neighbour_recall"], abs=5e-4)
    assert f"```python\n{pick['recipe']['python']}\n```" in part

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.heading, self.where, self.tables, self.code = None, None, {}, []

        def handle_starttag(self, tag, attrs):
            self.where = tag
            if tag == "tr" and self.heading:
                self.tables.setdefault(self.heading, []).append((dict(attrs) == {"class": "pick"}, []))

        def handle_endtag(self, tag):
            self.where = None

        def handle_data(self, data):
            if self.where == "h2":
                self.heading = data
            elif self.where in ("td", "th") and self.heading in self.tables and data.strip():
                self.tables[self.heading][-1][1].append(data)
            elif self.where == "code" and self.heading == "Inside faiss":
                self.code.append(data)

    page = Page()
    page.feed(doc_path.with_suffix(".html").read_text())
    body = page.tables["Inside faiss"][1:]
    assert sorted(r[1][0] for r in body) == sorted(cells)
    assert [r[1][0] for r in body if r[0]] == [pick["label"]]
    assert "".join(page.code) == pick["recipe"]["python"]
