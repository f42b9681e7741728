"""The command line end to end, on precomputed vectors only (no model runs here; the default model is tested elsewhere)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval
from typer.testing import CliRunner

from mrl_eval import __version__
from mrl_eval.cli.app import app
from tests.conftest import brute_force_run, checkout_env, data_path, read_qrels_tsv
from tests.helpers import minimal_report

runner = CliRunner()

GEMMA = "embeddinggemma-300m"
STEM = "scifact-subset__embeddinggemma-300m"
SWEPT = [64, 128, 256, 512, 768]  # --dims 64,128,256,512 plus the full dim, always added
DEFAULT_METRICS = ["ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100"]
REPORT_SUFFIXES = (".json", ".csv", ".md", ".png", ".svg", ".losses.csv", ".deltas.png", ".deltas.svg")


def _invoke(args: list[str]):
    return runner.invoke(app, [str(a) for a in args])


def _flat(text: str) -> str:
    """rich wraps long messages at the console width: compare with all runs of whitespace made one space."""
    return " ".join(text.split())


def _scifact() -> tuple[Path, Path]:
    folder = data_path("scifact-subset")
    return folder, folder / "embeddings" / GEMMA


def _is_empty_or_absent(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def _smallest(results: list[dict], metric: str, bar: float) -> int | None:
    return next((r["dim"] for r in sorted(results, key=lambda r: r["dim"]) if r["metrics"][metric] >= bar), None)


@pytest.fixture(scope="module")
def scifact_sweep(tmp_path_factory):
    """One `sweep --json --save-runs` on scifact / embeddinggemma-300m, shared by the tests that only read it."""
    folder, embeddings = _scifact()
    work = tmp_path_factory.mktemp("scifact-sweep")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(work / "xdg-cache"))
        mp.chdir(work)
        result = _invoke(
            ["sweep", folder, "--embeddings", embeddings, "--dims", "64,128,256,512", "--json", "--save-runs", "runs"]
        )
    assert result.exit_code == 0, result.output
    return work, result, json.loads(result.stdout)


# 1. sweep --json on real data


def test_sweep_json_is_one_document_with_every_dim(scifact_sweep):
    _, result, doc = scifact_sweep
    assert json.loads(result.stdout) == doc  # the whole of stdout parses as one JSON document
    assert doc["full_dim"] == 768
    assert doc["queries_evaluated"] == 300 and doc["queries_skipped"] == 0
    assert doc["model"]["name"] == GEMMA and doc["model"]["provider"] == "precomputed"
    assert [r["dim"] for r in doc["results"]] == SWEPT
    for r in doc["results"]:
        assert set(r) == {"dim", "fraction", "bytes_per_vector", "metrics", "stats", "precision", "method"}
        assert (r["precision"], r["method"]) == ("float32", "prefix")
        for m in DEFAULT_METRICS:
            st = r["stats"][m]
            assert st["ci"][0] <= r["metrics"][m] <= st["ci"][1]
            assert st["delta_ci"][0] <= st["delta"] <= st["delta_ci"][1]
            assert 0 < st["p_value"] <= 1
        assert r["bytes_per_vector"] == 4 * r["dim"]  # float32
        assert r["fraction"] == pytest.approx(r["dim"] / 768, abs=1e-6)
        assert list(r["metrics"]) == DEFAULT_METRICS
        assert all(0.0 <= v <= 1.0 for v in r["metrics"].values())
    assert doc["results"][-1]["fraction"] == 1.0


def test_sweep_metrics_agree_with_pytrec_eval_on_a_brute_force_run(scifact_sweep):
    _, _, doc = scifact_sweep
    folder, embeddings = _scifact()
    qrels = read_qrels_tsv(folder / "qrels" / "test.tsv")
    docs = np.load(embeddings / "corpus.npy")
    queries = np.load(embeddings / "queries.npy")
    doc_ids = (embeddings / "corpus_ids.txt").read_text().split()
    query_ids = (embeddings / "queries_ids.txt").read_text().split()
    rows = [i for i, q in enumerate(query_ids) if q in qrels]
    evaluated = [query_ids[i] for i in rows]
    assert len(evaluated) == doc["queries_evaluated"]
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"})
    for r in doc["results"]:
        runs = brute_force_run(queries[rows], docs, doc_ids, r["dim"], 100)
        ref = evaluator.evaluate({q: dict(ranked) for q, ranked in zip(evaluated, runs)})
        assert r["metrics"]["ndcg@10"] == pytest.approx(np.mean([ref[q]["ndcg_cut_10"] for q in evaluated]), abs=1e-6)
        assert r["metrics"]["recall@100"] == pytest.approx(np.mean([ref[q]["recall_100"] for q in evaluated]), abs=1e-6)


def test_sweep_writes_every_report_and_the_json_file_is_the_printed_one(scifact_sweep):
    work, _, doc = scifact_sweep
    for suffix in REPORT_SUFFIXES:
        path = work / "reports" / f"{STEM}{suffix}"
        assert path.is_file() and path.stat().st_size > 0, path
    assert json.loads((work / "reports" / f"{STEM}.json").read_text(encoding="utf-8")) == doc
    rows = list(csv.reader((work / "reports" / f"{STEM}.csv").read_text(encoding="utf-8").splitlines()))
    stat_columns = ["ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high", "p_value"]
    expected = ["dim", "precision", "method", "fraction", "bytes_per_vector"]
    for m in DEFAULT_METRICS:
        expected += [m, *(f"{m}_{c}" for c in stat_columns)]
    assert rows[0] == expected
    assert [int(row[0]) for row in rows[1:]] == SWEPT  # 5 data rows, one per dim
    first = dict(zip(rows[0], rows[1]))
    assert float(first["ndcg@10"]) == pytest.approx(doc["results"][0]["metrics"]["ndcg@10"], abs=1e-6)
    assert float(first["ndcg@10_p_value"]) == pytest.approx(doc["results"][0]["stats"]["ndcg@10"]["p_value"], abs=1e-6)
    losses = list(csv.reader((work / "reports" / f"{STEM}.losses.csv").read_text(encoding="utf-8").splitlines()))
    assert losses[0][:5] == ["dim", "query_id", "ndcg@10_full", "ndcg@10", "delta"]
    by_dim = doc["losses"]["by_dim"]
    assert len(losses) - 1 == sum(len(v) for v in by_dim.values())  # every losing query of every dim
    assert sorted(by_dim, key=int) == [str(d) for d in SWEPT[:-1]]  # every dim below full
    assert [p.name for p in (work / "reports").iterdir() if p.name.startswith(".")] == []  # no temp files left


# 2. --save-runs


def _read_trec(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    last_rank: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        qid, q0, doc_id, rank, score, tag = line.split()
        assert q0 == "Q0" and tag == f"{path.name.removesuffix('.trec')}", line  # <run name>.d<dim>
        assert int(rank) == last_rank.get(qid, 0) + 1, line  # ranks count up from 1 per query
        last_rank[qid] = int(rank)
        run.setdefault(qid, {})[doc_id] = float(score)
    return run


def test_saved_trec_runs_score_like_the_report(scifact_sweep):
    work, _, doc = scifact_sweep
    folder, _ = _scifact()
    qrels = read_qrels_tsv(folder / "qrels" / "test.tsv")
    names = sorted(p.name for p in (work / "runs").iterdir())
    assert names == sorted([f"{STEM}.runs.json", *(f"{STEM}.d{d}.trec" for d in SWEPT)])
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    for r in doc["results"]:
        run = _read_trec(work / "runs" / f"{STEM}.d{r['dim']}.trec")
        assert len(run) == 300 and all(len(ranked) == 100 for ranked in run.values())  # depth: recall@100
        scores = evaluator.evaluate(run)
        assert r["metrics"]["ndcg@10"] == pytest.approx(np.mean([s["ndcg_cut_10"] for s in scores.values()]), abs=1e-6)


# 3. recommend: the bar and the exit codes


def test_recommend_picks_the_smallest_dim_meeting_min_ndcg(cli_env, scifact_sweep):
    folder, embeddings = _scifact()
    expected = _smallest(scifact_sweep[2]["results"], "ndcg@10", 0.75)
    assert expected is not None and expected < 768  # the bar is a real choice on this data
    result = _invoke(
        ["recommend", folder, "--embeddings", embeddings, "--dims", "64,128,256,512", "--min-ndcg", "0.75", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["command"] == "recommend"
    assert doc["recommendation"]["dim"] == expected
    assert doc["recommendation"]["metric"] == "ndcg@10" and doc["recommendation"]["threshold"] == 0.75
    assert (cli_env / "reports" / f"{STEM}.json").is_file()


def test_recommend_without_json_prints_the_table_and_the_reason(cli_env, scifact_sweep):
    folder, embeddings = _scifact()
    expected = _smallest(scifact_sweep[2]["results"], "ndcg@10", 0.75)
    result = _invoke(
        ["recommend", folder, "--embeddings", embeddings, "--dims", "64,128,256,512", "--min-ndcg", "0.75"]
    )
    assert result.exit_code == 0, result.output
    assert f"Recommended dim: {expected}" in _flat(result.stdout)
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_recommend_exits_3_when_no_dim_meets_the_bar_and_still_writes_reports(cli_env):
    folder, embeddings = _scifact()
    result = _invoke(
        ["recommend", folder, "--embeddings", embeddings, "--dims", "64,128,256,512", "--min-ndcg", "0.99", "--json"]
    )
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    assert doc["recommendation"]["dim"] is None
    for suffix in REPORT_SUFFIXES:
        assert (cli_env / "reports" / f"{STEM}{suffix}").stat().st_size > 0
    saved = json.loads((cli_env / "reports" / f"{STEM}.json").read_text(encoding="utf-8"))
    assert saved["recommendation"]["dim"] is None


@pytest.mark.parametrize(
    ("bar", "metric", "threshold"),
    [
        (["--max-drop", "2%"], "ndcg@10", lambda full: full * 0.98),
        (["--metric", "recall@100", "--min", "0.9"], "recall@100", lambda full: 0.9),
    ],
)
def test_recommend_other_bars(cli_env, scifact_sweep, bar, metric, threshold: Callable[[float], float]):
    folder, embeddings = _scifact()
    results = scifact_sweep[2]["results"]
    bar_value = threshold(results[-1]["metrics"][metric])
    expected = _smallest(results, metric, bar_value)
    result = _invoke(["recommend", folder, "--embeddings", embeddings, "--dims", "64,128,256,512", *bar, "--json"])
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)["recommendation"]
    assert rec["metric"] == metric
    assert rec["threshold"] == pytest.approx(bar_value, abs=1e-12)
    assert rec["dim"] == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "needs a bar"),
        (["--min-ndcg", "0.8", "--metric", "recall@100"], "give one form, not both"),
        (["--min-ndcg", "0.8", "--dims", "0"], "--dims: '0'"),
        (["--min-ndcg", "0.8", "--dims", "abc"], "--dims: 'abc'"),
        (["--min-ndcg", "0.8", "--dims", "1000"], "--dims: 1000 is larger than the model's full dim 768"),
        (["--min-ndcg", "1.5"], "--min 1.5"),
        (["--max-drop", "abc"], "--max-drop 'abc'"),
    ],
)
def test_recommend_usage_errors_exit_2(cli_env, args, message):
    folder, embeddings = _scifact()
    result = _invoke(["recommend", folder, "--embeddings", embeddings, *args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert message in _flat(result.stderr)
    assert result.stdout == ""
    assert _is_empty_or_absent(cli_env / "reports")


@pytest.mark.parametrize("command", ["sweep", "recommend"])
def test_unknown_metric_is_an_input_error_naming_it(cli_env, command):
    folder, embeddings = _scifact()
    bar = ["--min-ndcg", "0.5"] if command == "recommend" else []
    result = _invoke([command, folder, "--embeddings", embeddings, "--metrics", "foo@3", *bar])
    # a bad flag value is a usage error, like a bad --dims
    assert result.exit_code == 2, result.output
    assert "unknown metric 'foo@3'" in _flat(result.stderr)
    assert _is_empty_or_absent(cli_env / "reports")


def test_sweep_bad_dims_exit_2_before_reading_anything(cli_env):
    # no data folder exists here: the --dims check comes first
    result = _invoke(["sweep", "nowhere", "--embeddings", "nowhere", "--dims", "64,,128"])
    assert result.exit_code == 2, result.output
    assert "--dims" in _flat(result.stderr)


# 4. recommend --from a saved report


def test_recommend_from_a_saved_report(cli_env, scifact_sweep):
    work, _, doc = scifact_sweep
    expected = _smallest(doc["results"], "ndcg@10", 0.75)
    result = _invoke(["recommend", "--from", work / "reports" / f"{STEM}.json", "--min-ndcg", "0.75", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["recommendation"]["dim"] == expected
    assert out["command"] == "recommend"
    assert out["results"] == doc["results"]
    assert (cli_env / "reports" / f"{STEM}.json").is_file()  # written here, the saved one left alone


def test_recommend_from_a_metric_the_report_lacks(cli_env, scifact_sweep):
    work, _, _ = scifact_sweep
    path = work / "reports" / f"{STEM}.json"
    result = _invoke(["recommend", "--from", path, "--metric", "precision@5", "--min", "0.1"])
    assert result.exit_code == 1, result.output
    message = _flat(result.stderr)
    assert "has no precision@5" in message and "ndcg@10" in message  # says what it has
    assert _is_empty_or_absent(cli_env / "reports")


def test_recommend_from_refuses_data_arguments(cli_env, scifact_sweep):
    work, _, _ = scifact_sweep
    folder, _ = _scifact()
    result = _invoke(["recommend", folder, "--from", work / "reports" / f"{STEM}.json", "--min-ndcg", "0.5"])
    assert result.exit_code == 2, result.output
    assert "--from reads a saved run" in _flat(result.stderr)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "file not found"),
        ("broken.json", "{not json", "not a readable JSON report"),
        ("list.json", "[1, 2, 3]", "not an mrl-eval report"),
        ("other.json", '{"name": "something else"}', "not an mrl-eval report"),
        ("partial.json", '{"full_dim": 8, "results": [{"dim": 8}]}', "missing n_docs"),
        ("latin1.json", b'{"results": [], "note": "caf\xe9"}', "not a readable JSON report"),
    ],
)
def test_recommend_from_a_file_that_is_not_a_report(cli_env, name, content, message):
    path = cli_env / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    result = _invoke(["recommend", "--from", name, "--min-ndcg", "0.5"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    text = _flat(result.stderr)
    assert name in text and message in text
    assert _is_empty_or_absent(cli_env / "reports")


def test_recommend_from_aminimal_report(cli_env):
    # the control for the incomplete reports below
    (cli_env / "run.json").write_text(json.dumps(minimal_report()), encoding="utf-8")
    result = _invoke(["recommend", "--from", "run.json", "--min-ndcg", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recommendation"]["dim"] == 4  # 0.55 >= 0.5
    assert (cli_env / "reports" / "tiny__vec.json").is_file()


@pytest.mark.parametrize(
    "doc",
    [minimal_report(results=[]), minimal_report(full_dim=768), minimal_report(n_docs=None)],
    ids=["empty-results", "full-dim-not-swept", "no-n-docs"],
)
def test_bug_recommend_from_an_incomplete_report_is_an_input_error(cli_env, doc):
    (cli_env / "run.json").write_text(json.dumps(doc), encoding="utf-8")
    result = _invoke(["recommend", "--from", "run.json", "--min-ndcg", "0.5"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    assert "run.json" in _flat(result.stderr)


def _run_python(code: str, *args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd,
        env=checkout_env(XDG_CACHE_HOME=str(cwd / "xdg-cache")),
        capture_output=True,
        text=True,
        timeout=120,
    )


HEAVY_CHECK = """
heavy = ("torch", "sentence_transformers", "pandas", "matplotlib", "scipy", "numba", "threadpoolctl")
heavy = sorted(m for m in heavy if m in sys.modules)
print("HEAVY", heavy)
"""


def test_recommend_from_imports_no_model_libraries(tmp_path, scifact_sweep):
    work, _, doc = scifact_sweep
    code = textwrap.dedent(
        """
        import sys
        from mrl_eval.cli.app import app
        app(["recommend", "--from", sys.argv[1], "--min-ndcg", "0.5", "--out", sys.argv[2]], standalone_mode=False)
        """
    )
    proc = _run_python(code + HEAVY_CHECK, work / "reports" / f"{STEM}.json", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout, proc.stdout
    written = json.loads((tmp_path / "out" / f"{STEM}.json").read_text(encoding="utf-8"))
    assert written["recommendation"]["dim"] == _smallest(doc["results"], "ndcg@10", 0.5)


def test_help_imports_no_model_libraries(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        from mrl_eval.cli.app import app
        try:
            app(["--help"], standalone_mode=False)
        except SystemExit:
            pass
        """
    )
    proc = _run_python(code + HEAVY_CHECK, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "recommend" in proc.stdout  # the help was printed
    assert "HEAVY []" in proc.stdout, proc.stdout


# 5. bad input: exit 1, a message naming the file, the line and the value, and nothing written

CORPUS = [{"_id": f"d{i}", "title": "", "text": f"document {i}"} for i in range(1, 5)]
QUERIES = [{"_id": f"q{i}", "text": f"query {i}"} for i in range(1, 4)]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t2\n"
FULL_DIM = 8


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _make_collection(root: Path) -> tuple[Path, Path]:
    """A valid 4-doc, 3-query BEIR folder `beir` and matching 8-dim vectors `emb`, both under root."""
    beir, emb = root / "beir", root / "emb"
    (beir / "qrels").mkdir(parents=True)
    emb.mkdir()
    (beir / "corpus.jsonl").write_text(_jsonl(CORPUS), encoding="utf-8")
    (beir / "queries.jsonl").write_text(_jsonl(QUERIES), encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text(QRELS, encoding="utf-8")
    rng = np.random.default_rng(7)
    np.save(emb / "corpus.npy", rng.standard_normal((len(CORPUS), FULL_DIM)).astype(np.float32))
    np.save(emb / "queries.npy", rng.standard_normal((len(QUERIES), FULL_DIM)).astype(np.float32))
    (emb / "corpus_ids.txt").write_text("".join(r["_id"] + "\n" for r in CORPUS), encoding="utf-8")
    (emb / "queries_ids.txt").write_text("".join(r["_id"] + "\n" for r in QUERIES), encoding="utf-8")
    return beir, emb


def test_hand_made_collection_sweeps(cli_env):
    # the baseline each bad-input case below breaks in one place
    _make_collection(cli_env)
    result = _invoke(["sweep", "beir", "--embeddings", "emb", "--dims", "2,4", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [r["dim"] for r in doc["results"]] == [2, 4, 8]
    assert doc["queries_evaluated"] == 3 and doc["n_docs"] == 4
    assert doc["model"]["name"] == "emb"  # no model.json: named after the folder
    assert (cli_env / "reports" / "beir__emb.json").is_file()


def _object_array(path: Path) -> None:
    rows = np.empty(len(CORPUS), dtype=object)
    for i in range(len(CORPUS)):
        rows[i] = [0.5] * FULL_DIM
    np.save(path, rows, allow_pickle=True)


def _nan_row(path: Path) -> None:
    matrix = np.ones((len(CORPUS), FULL_DIM), dtype=np.float32)
    matrix[2, 5] = np.nan
    np.save(path, matrix)


BAD_INPUT: dict[str, tuple[Callable[[Path, Path], object], list[str]]] = {
    "malformed-json-line": (
        lambda beir, emb: (beir / "corpus.jsonl").write_text(
            _jsonl(CORPUS[:1]) + '{"_id": "d2", "text": \n' + _jsonl(CORPUS[2:])
        ),
        ["beir/corpus.jsonl:2:", "invalid JSON", '{"_id": "d2", "text":'],
    ),
    "missing-id": (
        lambda beir, emb: (beir / "queries.jsonl").write_text(_jsonl([QUERIES[0], {"text": "query 2"}, QUERIES[2]])),
        ["beir/queries.jsonl:2:", "missing id", "'_id'"],
    ),
    "duplicate-id": (
        lambda beir, emb: (beir / "corpus.jsonl").write_text(_jsonl([*CORPUS[:2], CORPUS[0], CORPUS[3]])),
        ["beir/corpus.jsonl:3:", "duplicate id 'd1'", "first seen on line 1"],
    ),
    "qrels-unknown-query-and-doc": (
        lambda beir, emb: (beir / "qrels" / "test.tsv").write_text(
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td2\t1\nq3\td99\t2\n"
        ),
        ["beir/qrels/test.tsv:3:", "unknown query id 'q9'", "beir/qrels/test.tsv:4:", "unknown doc id 'd99'"],
    ),
    "non-integer-relevance": (
        lambda beir, emb: (beir / "qrels" / "test.tsv").write_text(
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\thigh\nq3\td3\t1.5\n"
        ),
        ["beir/qrels/test.tsv:3:", "non-integer relevance 'high'", "beir/qrels/test.tsv:4:", "'1.5'"],
    ),
    "empty-corpus": (
        lambda beir, emb: (beir / "corpus.jsonl").write_text(""),
        ["beir/corpus.jsonl:", "file is empty"],
    ),
    "empty-qrels": (
        lambda beir, emb: (beir / "qrels" / "test.tsv").write_text(""),
        ["beir/qrels/test.tsv:", "file is empty"],
    ),
    "non-utf8-queries": (
        lambda beir, emb: (beir / "queries.jsonl").write_bytes(b'\xff\xfe{"_id": "q1", "text": "query 1"}\n'),
        ["beir/queries.jsonl:1:", "not UTF-8", "0xff"],
    ),
    "non-utf8-qrels-line-3": (
        lambda beir, emb: (beir / "qrels" / "test.tsv").write_bytes(
            b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td\xe92\t1\n"
        ),
        ["beir/qrels/test.tsv:3:", "not UTF-8", "0xe9"],
    ),
    "vector-rows-not-ids": (
        lambda beir, emb: np.save(emb / "queries.npy", np.ones((2, FULL_DIM), dtype=np.float32)),
        ["emb/queries.npy:", "2 rows", "queries_ids.txt has 3 ids"],
    ),
    "corpus-and-query-dims-differ": (
        lambda beir, emb: np.save(emb / "queries.npy", np.ones((len(QUERIES), 6), dtype=np.float32)),
        ["emb:", "corpus.npy has 8 dims", "queries.npy has 6"],
    ),
    "nan-in-a-vector": (
        lambda beir, emb: _nan_row(emb / "corpus.npy"),
        ["emb/corpus.npy:", "row 2", "id 'd3'", "NaN"],
    ),
    "object-array-needs-pickle": (
        lambda beir, emb: _object_array(emb / "corpus.npy"),
        ["emb/corpus.npy:", "needs pickle"],
    ),
    "vector-ids-not-the-corpus": (
        lambda beir, emb: (emb / "corpus_ids.txt").write_text("d1\nd2\nd3\nd9\n"),
        ["emb/corpus_ids.txt:", "does not list the same documents as beir/corpus.jsonl", "['d4']", "['d9']"],
    ),
    "duplicate-vector-id": (
        lambda beir, emb: (emb / "corpus_ids.txt").write_text("d1\nd2\nd1\nd4\n"),
        ["emb/corpus_ids.txt:3:", "duplicate id 'd1'"],
    ),
    "missing-vector-file": (
        lambda beir, emb: (emb / "queries.npy").unlink(),
        ["emb/queries.npy:", "file not found"],
    ),
}


@pytest.mark.parametrize("command", ["sweep", "recommend"])
@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_1_naming_file_line_and_value(cli_env, case, command):
    breaks, fragments = BAD_INPUT[case]
    beir, emb = _make_collection(cli_env)
    breaks(beir, emb)
    bar = ["--min-ndcg", "0.5"] if command == "recommend" else []
    result = _invoke([command, "beir", "--embeddings", "emb", "--save-runs", "runs", *bar])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # an MrlEvalError, not a crash
    assert "Traceback" not in result.output
    assert result.stdout == ""  # errors go to stderr
    message = _flat(result.stderr)
    assert message.startswith("Error:")
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert _is_empty_or_absent(cli_env / "reports")  # nothing half-written
    assert _is_empty_or_absent(cli_env / "runs")


def test_bug_object_array_message_says_it_needs_pickle(cli_env):
    beir, emb = _make_collection(cli_env)
    _object_array(emb / "corpus.npy")
    result = _invoke(["sweep", "beir", "--embeddings", "emb"])
    assert result.exit_code == 1, result.output
    assert "needs pickle" in _flat(result.stderr)


def test_bug_empty_npy_file_is_named(cli_env):
    beir, emb = _make_collection(cli_env)
    (emb / "queries.npy").write_bytes(b"")
    result = _invoke(["sweep", "beir", "--embeddings", "emb"])
    assert result.exit_code == 1, result.output
    assert "emb/queries.npy" in _flat(result.stderr)


@pytest.mark.parametrize("value", ["[/]", "[bold]64"])
def test_bug_usage_error_with_brackets_in_the_value(cli_env, value):
    _make_collection(cli_env)
    result = _invoke(["sweep", "beir", "--embeddings", "emb", "--dims", value])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert f"--dims: {value!r}" in _flat(result.stderr)


def test_bug_long_path_in_an_error_is_printed_whole(cli_env):
    root = cli_env / "/".join(["x" * 200] * 3)  # longer than any console is wide
    beir, _ = _make_collection(root)
    (beir / "queries.jsonl").write_text(_jsonl([QUERIES[0], {"text": "query 2"}]), encoding="utf-8")
    result = _invoke(["sweep", root / "beir", "--embeddings", root / "emb"])
    assert result.exit_code == 1, result.output
    assert f"{root / 'beir' / 'queries.jsonl'}:2: missing id" in result.stderr


def test_bug_reports_respect_the_umask(cli_env):
    _make_collection(cli_env)
    old = os.umask(0o022)
    try:
        result = _invoke(["sweep", "beir", "--embeddings", "emb", "--json"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert (cli_env / "reports" / "beir__emb.json").stat().st_mode & 0o777 == 0o644


# 6. help and version


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], ["sweep", "recommend", "Exit codes"]),
        (["-h"], ["sweep", "recommend"]),
        (["sweep", "--help"], ["--dims", "--embeddings", "--save-runs", "--json"]),
        (["recommend", "--help"], ["--dims", "--min-ndcg", "--max-drop", "--from"]),
    ],
)
def test_help(args, expected):
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    for word in expected:
        assert word in result.stdout, word


def test_no_arguments_shows_help():
    result = _invoke([])
    assert "sweep" in result.output and "recommend" in result.output
    assert result.exit_code in (0, 2)  # click >= 8.2 exits 2 on no_args_is_help; older versions 0


def test_version():
    result = _invoke(["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"mrl-eval {__version__}"


def test_python_dash_m_works(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mrl_eval", "--help"],
        cwd=tmp_path,
        env=checkout_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sweep" in proc.stdout and "recommend" in proc.stdout


# 7. --ignore-identical-ids


def test_ignore_identical_ids_changes_nothing_when_ids_differ(cli_env, scifact_sweep):
    folder, embeddings = _scifact()
    result = _invoke(
        ["sweep", folder, "--embeddings", embeddings, "--dims", "64,128,256,512", "--ignore-identical-ids", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["settings"]["ignore_identical_ids"] is True
    assert doc["results"] == scifact_sweep[2]["results"]  # scifact query ids are never doc ids


# Statistics, rules, held-out check and per-query losses (issue: trustworthy recommendations)


def test_per_query_losses_name_the_relevant_docs_that_fell_out_of_the_top_10(scifact_sweep):
    work, _, doc = scifact_sweep
    folder, _ = _scifact()
    qrels = read_qrels_tsv(folder / "qrels" / "test.tsv")
    full = _read_trec(work / "runs" / f"{STEM}.d768.trec")
    small = _read_trec(work / "runs" / f"{STEM}.d64.trec")

    def top10(run, qid):
        return {d for d, _ in sorted(run[qid].items(), key=lambda p: (p[1], p[0]), reverse=True)[:10]}

    rows = doc["losses"]["by_dim"]["64"]
    assert rows and [r["delta"] for r in rows] == sorted(r["delta"] for r in rows)  # worst first
    for r in rows:
        assert r["delta"] < 0 and r["value"] - r["full"] == pytest.approx(r["delta"])
        expected = {
            d for d in top10(full, r["query_id"]) - top10(small, r["query_id"]) if qrels[r["query_id"]].get(d, 0) >= 1
        }
        assert set(r["lost_relevant"]) == expected
    assert rows[0]["text"]  # the query text is shown


def test_markdown_report_shows_intervals_paired_test_and_the_10_worst_queries(scifact_sweep):
    work, _, doc = scifact_sweep
    md = (work / "reports" / f"{STEM}.md").read_text(encoding="utf-8")
    assert "95% bootstrap over queries (bca), 10,000 resamples, seed 0" in md
    assert "## Paired comparison with the full dim (ndcg@10)" in md
    assert "### dim 64:" in md and f"![per-query deltas]({STEM}.deltas.png)" in md
    worst = doc["losses"]["by_dim"]["64"][:11]
    assert f"| {worst[9]['query_id']} |" in md  # the 10th worst is listed
    section = md.split("### dim 64:")[1].split("###")[0]
    assert section.count("\n| ") - 1 == 10  # header + 10 rows (the separator row starts with "|-")


@pytest.mark.parametrize(
    ("bar", "check"),
    [
        (["--rule", "lower-bound", "--min-ndcg", "0.74"], lambda r, res: r["evidence"][str(r["dim"])]["ci"][0] >= 0.74),
        (
            ["--rule", "non-inferior", "--max-drop", "0.02"],
            lambda r, res: r["evidence"][str(r["dim"])]["delta_ci"][0] >= -0.02,
        ),
    ],
)
def test_rules_with_uncertainty_pick_the_smallest_dim_that_meets_them(cli_env, scifact_sweep, bar, check):
    work, _, _ = scifact_sweep
    result = _invoke(["recommend", "--from", str(work / "reports" / f"{STEM}.json"), *bar, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rec = doc["recommendation"]
    assert rec["rule_kind"] == bar[1] and check(rec, doc["results"])
    smaller = [r for r in doc["results"] if r["dim"] < rec["dim"]]
    if smaller:  # the next smaller dim fails the same rule
        st = smaller[-1]["stats"]["ndcg@10"]
        assert (st["ci"][0] < 0.74) if bar[1] == "lower-bound" else (st["delta_ci"][0] < -0.02)


def test_from_recomputes_statistics_with_new_settings(cli_env, scifact_sweep):
    work, _, doc = scifact_sweep
    saved = work / "reports" / f"{STEM}.json"
    result = _invoke(["recommend", "--from", str(saved), "--min-ndcg", "0.7", "--confidence", "0.8", "--json"])
    assert result.exit_code == 0, result.output
    narrow = json.loads(result.stdout)
    assert narrow["statistics"]["confidence"] == 0.8
    wide, tight = doc["results"][1]["stats"]["ndcg@10"]["ci"], narrow["results"][1]["stats"]["ndcg@10"]["ci"]
    assert wide[0] < tight[0] and tight[1] < wide[1]  # an 80% interval sits inside the 95% one


def test_holdout_reports_how_the_chosen_dim_scores_on_the_other_queries(cli_env, scifact_sweep):
    work, _, _ = scifact_sweep
    args = ["recommend", "--from", str(work / "reports" / f"{STEM}.json"), "--min-ndcg", "0.7", "--holdout", "0.5"]
    result = _invoke([*args, "--json"])
    assert result.exit_code == 0, result.output
    h = json.loads(result.stdout)["holdout"]
    assert (h["n_select"], h["n_test"], h["seed"]) == (150, 150, 0)
    assert h["dim"] in SWEPT and h["select_value"] >= 0.7
    assert h["meets_rule_on_test"] == (h["test_value"] >= 0.7)
    again = json.loads(_invoke([*args, "--json"]).stdout)["holdout"]
    assert again == h  # the recorded seed reproduces the split
    text = _invoke(args)
    assert "Held-out check: chosen on 150 random queries (seed 0)" in _flat(text.stdout)


def test_non_inferior_without_max_drop_is_a_usage_error(cli_env, scifact_sweep):
    work, _, _ = scifact_sweep
    result = _invoke(
        ["recommend", "--from", str(work / "reports" / f"{STEM}.json"), "--rule", "non-inferior", "--min-ndcg", "0.7"]
    )
    assert result.exit_code == 2 and "--max-drop" in _flat(result.stderr)


# 6b. the help as a terminal of 80 columns shows it, and the generated CLI page (issue 22.4)


def _help(args: list[str], columns: int) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "mrl_eval", *args, "--help"],
        env=checkout_env(COLUMNS=str(columns), TERMINAL_WIDTH=str(columns)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


HELP_COMMANDS = [[], ["sweep"], ["recommend"], ["compare"], ["config"], ["config", "show"]]


def _declared_helps(command: str) -> list[str]:
    """Every option's help text as declared, with rich's escapes (\\[) read as the text they stand for."""
    from mrl_eval.cli.options import COMMAND_PARAMS

    helps = []
    for param in COMMAND_PARAMS[command]:
        info = next(a for a in param.annotation.__metadata__)
        if info.help and not info.hidden:
            helps.append(" ".join(info.help.replace("\\[", "[").split()))
    return helps


@pytest.mark.parametrize("command", ["sweep", "recommend", "compare"])
def test_bug_help_shows_every_help_text_whole_with_its_brackets(command):
    """rich markup ate `[faiss]` in `pip install 'mrl-eval[faiss]'`: every declared help appears verbatim."""
    wide = " ".join(_help([command], 2000).replace("│", " ").split())
    for text in _declared_helps(command):
        assert text in wide, text


@pytest.mark.parametrize("args", HELP_COMMANDS, ids=lambda a: " ".join(a) or "mrl-eval")
def test_bug_help_at_80_columns_cuts_nothing_and_flags_show_no_value(args):
    """At 80 columns, long defaults were cut with an ellipsis, and every boolean flag showed a `<bool>` value it
    does not take (`--json true` then reads `true` as DATA)."""
    text = _help(args, 80)
    assert max(map(len, text.splitlines())) <= 80
    assert "…" not in text
    assert "<bool>" not in text
    if args == ["sweep"]:
        flat = " ".join(text.replace("│", " ").split())
        for whole in ("(default: ndcg@10, recall@10, recall@100, mrr@10, map@100)", "text-embedding-3-small"):
            assert whole in flat, whole


def test_bug_the_generated_cli_page_keeps_the_brackets():
    import html

    from scripts.docs_hooks import cli_reference

    page = " ".join(html.unescape(cli_reference()).split())
    assert "pip install 'mrl-eval[faiss]'" in page and "pip install 'mrl-eval[pgvector]'" in page
    for command in ("sweep", "recommend", "compare"):
        for text in _declared_helps(command):
            assert text in page, text


def test_a_value_after_a_flag_is_a_usage_error_not_a_folder(cli_env):
    result = _invoke(["sweep", "--json", "true"])
    assert result.exit_code == 2, result.output
    assert "DATA 'true': no such folder. A flag (--json," in _flat(result.output)
    assert "takes no value, so 'true' after one is read as DATA: drop it" in _flat(result.output)
