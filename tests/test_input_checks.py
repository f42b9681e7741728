"""Regression tests for hostile inputs found by hand (issue 12, "No traceback, on any input"): each test is named
after the input that ended in a traceback, a hang or a silently wrong number, and checks the clear message (exit 1
or 2) or the correct result that replaced it. The generated inputs are in test_fuzz_data.py and
test_fuzz_options.py."""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.vectors import load_vectors, split_lines
from mrl_eval.errors import MrlEvalError, MrlEvalWarning, UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate import stats as S
from mrl_eval.evaluate.dims import resolve_dims
from mrl_eval.evaluate.scales import parse_scales
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.methods.pca import parse_fit_sample
from mrl_eval.methods.two_stage import parse_shortlists, parse_stages
from tests.conftest import ROOT
from tests.helpers import TINY_DIM, TINY_DOCS, TINY_QRELS, TINY_QUERIES, tiny_vectors
from tests.helpers import minimal_report as _minimal_report

runner = CliRunner()
DIM, DOCS, QUERIES, QRELS = TINY_DIM, TINY_DOCS, TINY_QUERIES, TINY_QRELS


def _invoke(args: list[object]):
    return runner.invoke(app, [str(a) for a in args])


def _flat(text: str) -> str:
    return " ".join(text.split())


_vectors = tiny_vectors


def _sweep(root: Path, *extra: object):
    folder, qrels = _vectors(root) if not (root / "emb").is_dir() else (root / "emb", root / "qrels.tsv")
    return _invoke(["sweep", "--embeddings", folder, "--qrels", qrels, "-o", root / "out", *extra])


# --- numeric options: bounds that follow from memory and time ------------------------------------------------------


@pytest.mark.parametrize("value", ["100000000", "123456789012345678901234567"])
def test_resamples_100000000_and_27_digits_are_usage_errors_not_oom_or_hang(tmp_path, value):
    result = _sweep(tmp_path, "--resamples", value)
    assert result.exit_code == 2, result.output
    assert "--resamples" in result.output and "1000000" in _flat(result.output)
    assert not (tmp_path / "out").exists()


def test_seed_minus_one_is_a_usage_error(tmp_path):
    result = _sweep(tmp_path, "--seed", -1)
    assert result.exit_code == 2, result.output
    assert "--seed" in result.output


@pytest.mark.parametrize(
    ("settings", "flag"),
    [
        (StatsSettings(resamples=10**27), "--resamples"),
        (StatsSettings(resamples=99), "--resamples"),
        (StatsSettings(seed=-1), "--seed"),
        (StatsSettings(seed=2**63), "--seed"),
        (StatsSettings(confidence=float("nan")), "--confidence"),
    ],
)
def test_stats_settings_out_of_bounds_from_the_api_are_usage_errors(settings, flag):
    with pytest.raises(UsageError, match=flag):
        settings.check()


def test_bootstrap_larger_than_free_memory_is_refused_before_it_starts(monkeypatch):
    monkeypatch.setattr("mrl_eval.evaluate.stats.available_memory", lambda: 16 * 1024**2)
    per_query = {d: {"ndcg@10": {"q1": 0.5, "q2": 0.25, "q3": 1.0}} for d in (4, 8)}
    with pytest.raises(MrlEvalError, match=r"--resamples 1000000: .* give --resamples [0-9,]+ or fewer"):
        S.summarize(per_query, 8, ["q1", "q2", "q3"], StatsSettings(resamples=1_000_000))


def test_metrics_recall_at_100000000000_scores_like_the_whole_corpus_without_allocating_it(tmp_path):
    result = _sweep(tmp_path, "--metrics", "recall@100000000000,ndcg@100000000000,precision@100000000000", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    full = next(r for r in doc["results"] if r["dim"] == DIM)["metrics"]
    # Every document is ranked, so every relevant one is found; precision divides by K (trec_eval's P.k).
    assert full["recall@100000000000"] == 1.0
    assert full["precision@100000000000"] == pytest.approx((1 + 1 + 2) / 3 / 1e11)


def test_cutoff_past_the_ranking_depth_matches_pytrec_eval():
    """A ranking of 3 documents with 5 judged relevant: nDCG's ideal list is longer than the ranking, and every
    metric at K = 10**12 must equal trec_eval's at a K well past both (here 50)."""
    doc_ids = [f"d{i}" for i in range(10)]
    qrels = {"q": {"d0": 2, "d3": 1, "d5": 1, "d7": 3, "d9": 1}}
    ranked = np.array([[3, 1, 7]])
    ours = M.score_ranking(
        ["q"], ranked, doc_ids, qrels, ["ndcg@1000000000000", "recall@1000000000000", "map@1000000000000"]
    )
    run = {"q": {doc_ids[i]: float(3 - r) for r, i in enumerate(ranked[0])}}
    oracle = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.50", "recall.50", "map_cut.50"}).evaluate(run)["q"]
    assert ours["ndcg@1000000000000"]["q"] == pytest.approx(oracle["ndcg_cut_50"], abs=1e-12)
    assert ours["recall@1000000000000"]["q"] == pytest.approx(oracle["recall_50"], abs=1e-12)
    assert ours["map@1000000000000"]["q"] == pytest.approx(oracle["map_cut_50"], abs=1e-12)


def test_mrr_at_a_cutoff_past_the_ranking_is_zero_when_nothing_relevant_was_found():
    ranked = np.array([[0, 1]])
    ours = M.score_ranking(["q"], ranked, ["d0", "d1", "d2"], {"q": {"d2": 1}}, ["mrr@1000"])
    assert ours["mrr@1000"]["q"] == 0.0


# --- data ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("grade", [str(2**63), str(-(2**63) - 1), "9" * 5000])
def test_qrels_grade_of_2_pow_63_is_named_as_out_of_range(tmp_path, grade):
    _vectors(tmp_path, qrels=QRELS + f"q1\td5\t{grade}\n")
    with pytest.raises(MrlEvalError, match=r"qrels.tsv:6: relevance .* is out of range"):
        load_collection(qrels=tmp_path / "qrels.tsv", require_texts=False)


def test_npz_saved_as_corpus_npy_is_named(tmp_path):
    folder, _ = _vectors(tmp_path)
    with (folder / "corpus.npy").open("wb") as fh:
        np.savez(fh, vectors=np.ones((len(DOCS), DIM), np.float32))
    with pytest.raises(MrlEvalError, match=r"corpus.npy: is an .npz archive"):
        load_vectors(folder)


@pytest.mark.parametrize("value", [1e39, -3e300, 1e-300])
def test_float64_vectors_beyond_float32_range_score_as_their_unit_versions(tmp_path, value):
    """A finite float64 row that float32 cannot hold (a value above its range, or a row below its smallest
    subnormal) is rescaled by a power of two, not refused and not read as a zero vector: cosine ignores scale."""
    docs = np.random.default_rng(1).standard_normal((len(DOCS), DIM))
    docs[4, 2] = value  # finite in float64, inf or zero in float32
    if abs(value) < 1:
        docs[4] *= value  # the whole row tiny
    unit = docs.copy()
    unit[4] /= np.linalg.norm(unit[4] / np.abs(unit[4]).max()) * np.abs(unit[4]).max()
    _vectors(tmp_path / "scaled", docs=docs)
    _vectors(tmp_path / "unit", docs=unit)
    scaled = _sweep(tmp_path / "scaled", "--resamples", 100, "--json")
    reference = _sweep(tmp_path / "unit", "--resamples", 100, "--json")
    assert scaled.exit_code == 0 and reference.exit_code == 0, scaled.output
    assert "1 document vector has a norm outside" in _flat(scaled.stderr) and "all zero" not in scaled.stderr
    assert json.loads(scaled.stdout)["per_query"] == json.loads(reference.stdout)["per_query"]


def test_zero_vectors_and_zero_prefixes_warn_with_the_count_and_a_few_ids(tmp_path):
    docs = np.random.default_rng(2).standard_normal((len(DOCS), DIM)).astype(np.float32)
    docs[[1, 6]] = 0  # all zero
    docs[[2, 3, 8, 9], :4] = 0  # zero in their first 4 values only
    queries = np.random.default_rng(3).standard_normal((len(QUERIES), DIM)).astype(np.float32)
    queries[2] = 0
    _vectors(tmp_path, docs=docs, queries=queries)
    result = _sweep(tmp_path, "--dims", "4", "--resamples", 100)
    assert result.exit_code == 0, result.output
    err = _flat(result.stderr)
    assert "Warning: 2 document vectors are all zero ('d1', 'd6')" in err
    assert "Warning: 6 document vectors are zero in their first 4 values ('d1', 'd2', 'd3', ...)" in err
    assert "Warning: 1 query vector is all zero ('q3')" in err
    assert "Traceback" not in result.output


def test_zero_vectors_reach_an_api_caller_as_python_warnings(tmp_path):
    from mrl_eval.pipeline.run import run
    from mrl_eval.pipeline.settings import DataSettings, ModelSettings, SweepConfig

    docs = np.random.default_rng(2).standard_normal((len(DOCS), DIM)).astype(np.float32)
    docs[0] = 0
    folder, qrels = _vectors(tmp_path, docs=docs)
    with pytest.warns(MrlEvalWarning, match=r"1 document vector is all zero \('d0'\)"):
        run(
            SweepConfig(
                data=DataSettings(qrels=qrels),
                model=ModelSettings(embeddings=folder),
                stats=StatsSettings(resamples=100),
            )
        )


def test_corpus_ids_txt_is_split_on_newline_only_not_u2028_or_u0085(tmp_path):
    ids = ["d0", "d1\u2028part", "d2\x85x", "d3\x1cy", *DOCS[4:]]
    folder, _ = _vectors(tmp_path, doc_ids=ids)
    (folder / "corpus_ids.txt").write_bytes(("\r\n".join(ids) + "\r\n").encode("utf-8"))  # Windows line ends too
    vectors = load_vectors(folder)
    assert vectors.doc_ids == ids


@pytest.mark.parametrize(
    ("text", "lines"),
    [("a\nb\n", ["a", "b"]), ("a\nb", ["a", "b"]), ("a\r\nb\r\n", ["a", "b"]), ("a\u2028b\n", ["a\u2028b"]), ("", [])],
)
def test_split_lines_splits_on_newline_only(text, lines):
    assert split_lines(text) == lines


# --- output -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["d 3", "d\t3", "d\u20283"])
def test_save_runs_refuses_a_doc_id_with_whitespace_naming_it_before_scoring(tmp_path, monkeypatch, bad):
    ids = [*DOCS[:-1], bad]  # an unjudged document: it is still written to the run
    _vectors(tmp_path, doc_ids=ids)
    monkeypatch.setattr("mrl_eval.pipeline.score.search", lambda *a, **k: pytest.fail("scored before the id check"))
    result = _sweep(tmp_path, "--resamples", 100, "--save-runs", tmp_path / "runs")
    assert result.exit_code == 1, result.output
    assert f"doc id {bad!r} contains whitespace" in result.stderr
    assert not list((tmp_path / "runs").glob("*.trec"))


def test_save_runs_refuses_a_query_id_with_a_space_when_writing_from_the_api(tmp_path):
    from mrl_eval.data.collection_files import check_trec_ids

    with pytest.raises(MrlEvalError, match="query id 'q 1' contains whitespace"):
        check_trec_ids(["q0", "q 1"], DOCS)


def test_save_runs_lines_have_six_fields(tmp_path):
    _vectors(tmp_path)
    result = _sweep(tmp_path, "--resamples", 100, "--save-runs", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "runs" / f"qrels__emb.d{DIM}.trec").read_text().splitlines()
    assert lines and all(len(line.split()) == 6 for line in lines)


@pytest.mark.parametrize(
    ("confidence", "resamples", "message"),
    [
        ("0.9999999999999999", 10_000, "--confidence 0.9999999999999999: give a level in [0.5, 0.9999]"),
        ("0.99995", 1_000_000, "--confidence 0.99995: give a level in [0.5, 0.9999]"),
        ("0.9999", 10_000, "raise --resamples to 50,000 or more, or lower --confidence to 0.9995 or less"),
        ("0.99", 100, "--confidence 0.99 with --resamples 100: the interval's ends would rest on 1 resamples"),
    ],
)
def test_bug_confidence_0_9999999999999999_gave_a_degenerate_100_percent_interval(
    tmp_path, confidence, resamples, message
):
    result = _sweep(tmp_path, "--confidence", confidence, "--resamples", resamples)
    assert result.exit_code == 2, result.output
    assert message in _flat(result.stderr)
    assert not (tmp_path / "out").exists()


def test_a_confidence_the_resamples_can_resolve_is_accepted_from_flags_and_from_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "r.json"
    report.write_text(json.dumps(_minimal_report()), encoding="utf-8")
    (tmp_path / "mrl-eval.toml").write_text("confidence = 0.9999\nresamples = 50000\n", encoding="utf-8")
    assert _invoke(["compare", report, report]).exit_code == 0  # each value alone is fine; together too
    assert _invoke(["compare", report, report, "--confidence", "0.9995", "--resamples", 10_000]).exit_code == 0
    refused = _invoke(["compare", report, report, "--resamples", 10_000])
    assert refused.exit_code == 2 and "--confidence 0.9999 with --resamples 10,000" in _flat(refused.stderr)


# --- files read whole: --config, --from, --baseline, compare's runs ------------------------------------------------


def _hostile_file(root: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = root / f"hostile-{kind}"
    if kind == "fifo":  # no writer: a plain open() waits forever
        os.mkfifo(path)
    elif kind == "dev-zero":  # endless: a plain read() fills the memory
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:  # larger than the limit (lowered here, so that the test does not write a gigabyte)
        monkeypatch.setattr("mrl_eval.cli.config.MAX_CONFIG_BYTES", 1000)
        monkeypatch.setattr("mrl_eval.report.document.MAX_REPORT_BYTES", 1000)
        path.write_text(json.dumps(_minimal_report()) + " " * 2000, encoding="utf-8")
    return path


_READS = {
    "--config": lambda x, good: ["compare", good, good, "--config", x],
    "--from": lambda x, good: ["recommend", "--from", x, "--min-ndcg", "0.5"],
    "--baseline": lambda x, good: ["recommend", "--from", good, "--baseline", x, "--min-ndcg", "0.5"],
    "compare": lambda x, good: ["compare", x, good],
}
_SAYS = {"fifo": "a pipe, not a file", "dev-zero": "a character device", "folder": "a folder, not a file"}


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(), reason="POSIX special files")
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder", "too-large"])
@pytest.mark.parametrize("role", list(_READS))
def test_bug_a_file_read_whole_that_is_a_device_a_fifo_or_huge_ended_in_a_memory_error_or_a_hang(
    tmp_path, monkeypatch, kind, role
):
    from tests.fuzzing import promptly

    monkeypatch.chdir(tmp_path)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_minimal_report()), encoding="utf-8")
    hostile = _hostile_file(tmp_path, kind, monkeypatch)
    with promptly(20):
        result = _invoke(_READS[role](hostile, good))
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    message = _flat(result.stderr)
    assert str(hostile) in message and _SAYS.get(kind, "more than 1000 bytes") in message, message


# --- the config file ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("resamples = 5", "resamples = 5: Input should be greater than or equal to 100"),
        ("resamples = 100000000", "resamples = 100000000: Input should be less than or equal to 1000000"),
        ("seed = -1", "seed = -1: Input should be greater than or equal to 0"),
        ("confidence = nan", "confidence = NaN: give a level in [0.5, 0.9999]"),
        ('dims = "abc"', "dims = \"abc\": 'abc' is not a positive whole number"),
        ('metrics = ["ndcg@0"]', "metrics = [\"ndcg@0\"]: metric 'ndcg@0' has cutoff 0"),
        ('max-drop = "200%"', 'max-drop = "200%": a relative drop is at most 100%'),
        ("holdout = 1.5", "holdout = 1.5: give a number in (0, 1)"),
        ('precisions = "int4"', "precisions = \"int4\": 'int4' is not a precision"),
        ("[recommend]\nrule = 'sometimes'", '[recommend]: rule = "sometimes": choose one of'),
        ("ray-cpus = 0", "ray-cpus = 0: give a number of CPUs from 1 to 4096"),
        ('name = "../x"', 'name = "../x": give a name of letters, digits'),
    ],
)
def test_config_value_out_of_range_is_reported_as_the_key_and_the_file_not_a_flag(
    tmp_path, monkeypatch, body, fragment
):
    _vectors(tmp_path)
    (tmp_path / "mrl-eval.toml").write_text(body + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = _invoke(["recommend", "--embeddings", "emb", "--qrels", "qrels.tsv", "--max-drop", "0.05", "-o", "out"])
    assert result.exit_code == 1, result.output
    message = _flat(result.stderr)
    assert "mrl-eval.toml" in message and fragment in message
    assert "Invalid value for" not in message and "Traceback" not in result.output


def test_no_warning_is_lost_or_printed_as_a_python_warning_line(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI must not leak a RuntimeWarning from a cast either
        docs = np.random.default_rng(1).standard_normal((len(DOCS), DIM))
        docs[5] = 1e-300
        _vectors(tmp_path, docs=docs)
        result = _sweep(tmp_path, "--resamples", 100)
    assert result.exit_code == 0, result.output
    assert "MrlEvalWarning" not in result.stderr and "RuntimeWarning" not in result.stderr


# --- found by the fuzz suite (test_fuzz_*.py) --------------------------------------------------------------------


def _too_long() -> str:
    return "9" * 4301  # past the 4,300 digits Python's int() converts at all


@pytest.mark.parametrize(
    ("parse", "flag"),
    [
        (lambda: resolve_dims(_too_long(), 768), "--dims"),
        (lambda: M.parse_metrics("ndcg@" + _too_long()), "--metrics"),
        (lambda: parse_shortlists(_too_long()), "--shortlist"),
        (lambda: parse_stages(_too_long(), 768), "--two-stage"),
        (lambda: parse_fit_sample(_too_long()), "--pca-fit-sample"),
    ],
)
def test_a_4301_digit_number_in_an_option_is_too_large_not_a_valueerror(parse, flag):
    with pytest.raises(UsageError, match=f"{flag}: .* is too large"):
        parse()


@pytest.mark.parametrize("spec", ["9" * 309, "9" * 400 + "B"])
def test_scale_past_float_range_is_refused_not_an_overflowerror(spec):
    with pytest.raises(UsageError, match="--scale: .* is more than"):
        parse_scales(spec)


def test_pca_fit_sample_of_dot_zero_is_refused_not_a_fit_on_no_documents():
    with pytest.raises(UsageError, match="--pca-fit-sample '.0'"):
        parse_fit_sample(".0")


def test_the_bounds_table_in_docs_input_checks_is_written_from_limits_py():
    spec = importlib.util.spec_from_file_location("make_input_bounds", ROOT / "scripts" / "make_input_bounds.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    page = script.PAGE.read_text(encoding="utf-8")
    assert script.replace_block(page) == page, "run scripts/make_input_bounds.py"


def test_trec_qrels_id_holding_u2028_or_u0085_is_one_field_as_trec_eval_reads_it(tmp_path):
    """Found by the fuzz suite: str.split() took U+2028, U+0085 and \\x1c for blanks, so a TREC line with such an id
    had 5 or 6 columns and a valid file was refused. trec_eval splits on ASCII blanks only."""
    (tmp_path / "qrels.txt").write_text("q\u20281 0 d\x852 1\nq2 0 d\x1c3 2\n", encoding="utf-8")
    collection = load_collection(qrels=tmp_path / "qrels.txt", require_texts=False)
    assert collection.qrels == {"q\u20281": {"d\x852": 1}, "q2": {"d\x1c3": 2}}


def test_a_4301_digit_number_in_a_jsonl_line_is_named_not_a_valueerror(tmp_path):
    """Found by the fuzz suite's explore profile: json.loads raises a plain ValueError (not JSONDecodeError) for an
    integer Python will not convert."""
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n' + "9" * 4301 + "\n", encoding="utf-8")
    (tmp_path / "qrels.tsv").write_text("q1\td1\t1\n", encoding="utf-8")
    with pytest.raises(MrlEvalError, match=r"corpus.jsonl:2: invalid JSON \(Exceeds the limit"):
        load_collection(corpus=tmp_path / "corpus.jsonl", qrels=tmp_path / "qrels.tsv", require_texts=False)


def test_a_4301_digit_integer_in_the_config_file_is_invalid_toml_not_a_valueerror(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mrl-eval.toml").write_text("seed = " + "9" * 4301 + "\n", encoding="utf-8")
    result = _invoke(["config", "show", "recommend"])
    assert result.exit_code == 1, result.output
    assert "mrl-eval.toml: not valid TOML" in result.stderr


def test_a_4301_digit_number_in_model_json_is_named(tmp_path):
    from mrl_eval.data.vectors import read_model_info

    (tmp_path / "model.json").write_text('{"dim": ' + "9" * 4301 + "}", encoding="utf-8")
    with pytest.raises(MrlEvalError, match="model.json: not valid JSON"):
        read_model_info(tmp_path)


@pytest.mark.parametrize("content", ["[1, 2]", '{"prompts": ["query: "]}', '{"prompts": ' + "9" * 4301 + "}"])
def test_a_model_folder_whose_prompts_file_is_not_an_object_is_named_not_an_attributeerror(tmp_path, content):
    from mrl_eval.providers.sentence_transformers import SentenceTransformersProvider

    (tmp_path / "config_sentence_transformers.json").write_text(content, encoding="utf-8")
    with pytest.raises(MrlEvalError, match="config_sentence_transformers.json"):
        SentenceTransformersProvider(str(tmp_path))
