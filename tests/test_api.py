"""The Python API (`import mrl_eval`): the same numbers as the CLI, typed results, rendering, the saved-run round
trip, the examples of docs/api.md, and a cheap `import mrl_eval`."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval
from typer.testing import CliRunner

import mrl_eval
from mrl_eval.cli.app import app
from mrl_eval.decide.recommend import Choice
from mrl_eval.evaluate.results import DimResult
from mrl_eval.evaluate.stats import MetricStats
from mrl_eval.pipeline.settings import SweepConfig
from tests.conftest import ROOT, brute_force_run, checkout_env, data_path, read_qrels_tsv

runner = CliRunner()
MODEL = "embeddinggemma-300m"
DIMS = "64,128,256"
RESAMPLES = 1000  # enough for equal numbers through both paths; the default 10,000 only takes longer


def _scifact() -> tuple[Path, Path]:
    folder = data_path("scifact-subset")
    return folder, folder / "embeddings" / MODEL


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    path = tmp_path_factory.mktemp("api")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(path / "xdg-cache"))
        yield path


@pytest.fixture(scope="module")
def api_run(work):
    folder, vectors = _scifact()
    return mrl_eval.sweep(folder, embeddings=vectors, dims=DIMS, resamples=RESAMPLES)


@pytest.fixture(scope="module")
def cli_doc(work):
    folder, vectors = _scifact()
    out = work / "cli-reports"
    result = runner.invoke(
        app,
        ["sweep", str(folder), "--embeddings", str(vectors), "--dims", DIMS, "--resamples", str(RESAMPLES)]
        + ["--json", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), next(out.glob("*.json"))


def _without_time(doc: dict) -> dict:
    """The document as its JSON reads back (tuples become lists), less its creation time."""
    return {k: v for k, v in json.loads(json.dumps(doc)).items() if k != "created"}


# 1. the same numbers through the API and the CLI


def test_sweep_gives_the_cli_numbers(api_run, cli_doc):
    doc, _ = cli_doc
    assert _without_time(api_run.to_dict()) == _without_time(doc)
    assert [r.dim for r in api_run.results] == [r["dim"] for r in doc["results"]] == [64, 128, 256, 768]
    for result, saved in zip(api_run.results, doc["results"]):
        assert result.metrics == saved["metrics"]
        assert json.loads(json.dumps(dataclasses.asdict(result.stats["ndcg@10"]))) == saved["stats"]["ndcg@10"]


def test_sweep_metrics_agree_with_pytrec_eval(api_run):
    """The oracle: trec_eval's nDCG@10 on a brute-force ranking at dim 128."""
    folder, vectors = _scifact()
    docs, queries = np.load(vectors / "corpus.npy"), np.load(vectors / "queries.npy")
    doc_ids = (vectors / "corpus_ids.txt").read_text().split()
    query_ids = (vectors / "queries_ids.txt").read_text().split()
    qrels = read_qrels_tsv(folder / "qrels" / "test.tsv")
    runs = brute_force_run(queries.astype(np.float32), docs.astype(np.float32), doc_ids, 128, 10)
    run = {q: {d: s for d, s in ranked} for q, ranked in zip(query_ids, runs) if q in qrels}
    scores = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"}).evaluate(run)
    expected = np.mean([scores[q]["ndcg_cut_10"] for q in run])
    assert api_run.result(128).metrics["ndcg@10"] == pytest.approx(expected, abs=1e-9)


def _meets(results: list[dict], rule: mrl_eval.Rule) -> bool:
    """Whether any swept dim meets `rule`, read off the report's means and intervals (the rules of
    docs/recommend.md: point on the mean, lower-bound on the interval's lower end, non-inferior on the paired
    delta's)."""
    full = results[-1]["metrics"][rule.metric]
    drop = rule.max_drop
    if isinstance(drop, str):
        drop = full * float(drop.rstrip("%")) / 100 if drop.endswith("%") else float(drop)
    for r in results:
        value, stats = r["metrics"][rule.metric], r["stats"][rule.metric]
        if rule.kind == "point":
            ok = (rule.min is None or value >= rule.min) and (drop is None or value >= full - drop)
        elif rule.kind == "lower-bound":
            ok = (rule.min is None or stats["ci"][0] >= rule.min) and (drop is None or stats["delta_ci"][0] >= -drop)
        else:
            ok = stats["delta_ci"][0] >= -drop
        if ok:
            return True
    return False


@pytest.mark.parametrize(
    ("rule", "flags"),
    [
        (mrl_eval.Rule(min=0.9), ["--min-ndcg", "0.9"]),
        (mrl_eval.Rule(max_drop="2%", kind="non-inferior"), ["--max-drop", "2%", "--rule", "non-inferior"]),
        (
            mrl_eval.Rule(min=0.99, metric="recall@100", kind="lower-bound"),
            ["--metric", "recall@100", "--min", "0.99", "--rule", "lower-bound"],
        ),
    ],
)
def test_recommend_gives_the_cli_recommendation(work, cli_doc, rule, flags):
    _, report = cli_doc
    result = runner.invoke(
        app,
        ["recommend", "--from", str(report), "--resamples", str(RESAMPLES), "--json", "--out", str(work / "rec")]
        + flags,
    )
    cli = json.loads(result.stdout)
    assert result.exit_code == (0 if _meets(cli["results"], rule) else 3), result.output
    rec = mrl_eval.recommend(mrl_eval.load_run(report, resamples=RESAMPLES), rule)
    assert rec.to_dict()["recommendation"] == cli["recommendation"]
    assert _without_time(rec.to_dict()) == _without_time(cli)
    assert (result.exit_code == 0) == rec.passed


def test_recommend_on_a_grid_gives_the_cli_cell(work):
    """The cell branch (optimize bytes) and its held-out check, through both paths on the same saved grid."""
    folder, vectors = _scifact()
    grid = mrl_eval.sweep(
        folder, embeddings=vectors, dims=DIMS, metrics="ndcg@10", precisions="float32,float16", resamples=RESAMPLES
    )
    report = grid.save(work / "grid", plots=False)[0]
    flags = ["--max-drop", "0.02", "--optimize", "bytes", "--holdout", "0.5", "--resamples", str(RESAMPLES)]
    result = runner.invoke(app, ["recommend", "--from", str(report), "--json", "--out", str(work / "grid-rec")] + flags)
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    rec = mrl_eval.recommend(grid, mrl_eval.Rule(max_drop=0.02), optimize="bytes", holdout=0.5)
    assert rec.label is not None and rec.label.endswith(":float16")  # half the bytes of float32, same ranking
    assert rec.to_dict()["recommendation"] == cli["recommendation"]
    assert json.loads(json.dumps(rec.holdout.to_dict())) == cli["holdout"]


def test_compare_gives_the_cli_comparison(work, api_run, cli_doc):
    _, report = cli_doc
    other = work / "other.json"
    doc = api_run.to_dict()
    for values in doc["per_query"]["128"].values():  # a planted regression at dim 128
        for q in list(values)[::2]:
            values[q] = 0.0
    doc["results"][1]["metrics"] = {m: float(np.mean(list(v.values()))) for m, v in doc["per_query"]["128"].items()}
    other.write_text(json.dumps(doc))
    result = runner.invoke(app, ["compare", str(report), str(other), "--resamples", str(RESAMPLES), "--json"])
    assert result.exit_code == 3, result.output
    comparison = mrl_eval.compare(report, other, mrl_eval.Gate(), resamples=RESAMPLES)
    assert comparison.to_dict() == json.loads(result.stdout)
    assert not comparison.passed and comparison.failed_dims == [128]
    with pytest.raises(mrl_eval.GateFailed, match="dim 128"):
        comparison.raise_if_failed()


# 2. typed results, rendering, the saved-run round trip


def test_results_are_typed(api_run):
    assert isinstance(api_run, mrl_eval.SweepRun)
    assert all(isinstance(r, DimResult) for r in api_run.results)
    assert all(isinstance(s, MetricStats) for r in api_run.results for s in r.stats.values())
    folder, vectors = _scifact()
    n_docs = len((folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines())
    full_dim = np.load(vectors / "corpus.npy", mmap_mode="r").shape[1]
    assert api_run.full_dim == full_dim and api_run.n_docs == n_docs
    assert len(api_run.query_ids) == len(read_qrels_tsv(folder / "qrels" / "test.tsv"))
    assert api_run.metrics == ["ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100"]
    rec = mrl_eval.recommend(api_run, mrl_eval.Rule(min=0.5))
    assert isinstance(rec, mrl_eval.Recommendation) and isinstance(rec.choice, Choice)
    means = {d: np.mean(list(v["ndcg@10"].values())) for d, v in api_run.to_dict()["per_query"].items()}
    assert rec.dim == min(int(d) for d, mean in means.items() if mean >= 0.5) and rec.passed
    assert "SweepRun('scifact-subset · embeddinggemma-300m'" in repr(api_run)


def test_to_frame_holds_the_results(api_run):
    frame = api_run.to_frame()
    assert list(frame.index) == api_run.dims
    for r in api_run.results:
        assert frame.loc[r.dim, "ndcg@10"] == r.metrics["ndcg@10"]
        assert frame.loc[r.dim, "ndcg@10 ci_low"] == r.stats["ndcg@10"].ci[0]
        assert frame.loc[r.dim, "ndcg@10 p_value"] == r.stats["ndcg@10"].p_value
    rec = mrl_eval.recommend(api_run, mrl_eval.Rule(max_drop=0.02))
    evidence = rec.to_frame()
    assert evidence.loc[str(rec.dim), "role"] == "chosen"
    assert evidence.loc[str(rec.dim), "ndcg@10"] == rec.value


def test_save_and_load_run_round_trip(tmp_path, api_run):
    written = api_run.save(tmp_path, plots=False)
    assert {p.suffix for p in written} >= {".json", ".csv", ".md", ".html"}
    loaded = mrl_eval.load_run(next(p for p in written if p.suffix == ".json"), resamples=RESAMPLES)
    assert loaded.path is not None and loaded.output is None
    assert loaded.results == api_run.results  # statistics recomputed under the same settings: the same numbers
    assert loaded.per_query == api_run.per_query and loaded.query_ids == api_run.query_ids
    assert _without_time(loaded.to_dict()) == _without_time(api_run.to_dict())
    with pytest.raises(mrl_eval.MrlEvalError, match="keeps no rankings"):
        loaded.save_runs(tmp_path / "runs")


def test_recommendation_save_writes_the_recommend_report(tmp_path, api_run):
    rec = mrl_eval.recommend(api_run, mrl_eval.Rule(min=0.9), holdout=0.5)
    rec.save(tmp_path, plots=False)
    saved = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert saved["command"] == "recommend" and saved["recommendation"]["dim"] == rec.dim
    assert saved["holdout"] == rec.holdout.to_dict() and rec.holdout.fraction == 0.5


def test_to_dict_is_a_copy(api_run):
    api_run.to_dict()["results"].clear()
    assert len(api_run.to_dict()["results"]) == 4


# 3. gates and errors


def test_nothing_meeting_the_rule_is_a_result_and_raise_if_failed_raises_gate_failed(api_run):
    rec = mrl_eval.recommend(api_run, mrl_eval.Rule(min=0.999))
    assert rec.dim is None and not rec.passed
    with pytest.raises(mrl_eval.GateFailed, match="No swept dim meets the rule"):
        rec.raise_if_failed()


def test_recommend_with_a_baseline_compares_under_the_rule_kind(api_run, cli_doc):
    _, report = cli_doc
    rec = mrl_eval.recommend(
        api_run, mrl_eval.Rule(max_drop=0.02, kind="non-inferior"), baseline=report, baseline_max_drop="1%"
    )
    assert rec.baseline is not None and rec.baseline.passed  # the same vectors: no change at any dim
    assert rec.baseline.gate == mrl_eval.Gate("1%", "non-inferior", "ndcg@10")
    assert rec.to_dict()["baseline"]["gate"] == {"metric": "ndcg@10", "rule": "non-inferior", "max_drop": "1%"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mrl_eval.sweep(dims="64", not_a_setting=1), "unknown setting 'not_a_setting'"),
        (lambda: mrl_eval.sweep(dims="64,huge"), "--dims"),
        (lambda: mrl_eval.sweep(resamples=5), "--resamples 5"),
        (lambda: mrl_eval.sweep(id_column="a", doc_id_column="b"), "id_column='a': it is the old name of doc_id_col"),
        (lambda: mrl_eval.Rule(max_drop="2").resolve(), "did you mean 2%"),
        (lambda: mrl_eval.Rule().resolve(), "needs a bar"),
        (lambda: mrl_eval.Gate(max_drop="x").resolve(), "--max-drop 'x'"),
    ],
)
def test_bad_settings_are_usage_errors(call, message):
    with pytest.raises(mrl_eval.UsageError, match=re.escape(message)):
        call()


def test_a_float_max_drop_reads_like_the_option():
    assert mrl_eval.Rule(max_drop=0.02).resolve().max_drop == pytest.approx(0.02)
    assert mrl_eval.Rule(max_drop=1e-5).resolve().max_drop == pytest.approx(1e-5)
    assert mrl_eval.Gate(max_drop=0.01).resolve().allowed_drop(0.5) == pytest.approx(0.01)


# 4. the sweep's settings come from SweepConfig's fields


def test_every_sweep_setting_is_a_cli_option_and_every_cli_option_is_classified():
    """A SweepConfig field is a setting of sweep() and an option of both commands; a command parameter that is not
    a sweep setting is one of the command's own (a new one must be added here, on purpose)."""
    from mrl_eval.api.sweeping import OPTION_GROUPS, SWEEP_SETTINGS
    from mrl_eval.cli.common import CONFIGURABLE

    fields = {f.name for f in dataclasses.fields(SweepConfig)} - {"stats", "metrics", "loss_metric"}
    fields = (fields - set(OPTION_GROUPS)) | {name for names, _ in OPTION_GROUPS.values() for name in names}
    assert fields <= SWEEP_SETTINGS
    own = {
        "sweep": {"ctx", "config", "out_dir", "as_json", "wide", "mteb_results"},
        "recommend": {"ctx", "config", "out_dir", "as_json", "wide", "mteb_results", "baseline"}
        | {"baseline_max_drop", "junit_xml", "min_ndcg", "metric", "min_value", "max_drop", "rule", "optimize"}
        | {"methods", "holdout", "plot", "from_json"},
    }
    for command, extra in own.items():
        parameters = set(inspect.signature(CONFIGURABLE[command]).parameters)
        assert fields <= parameters, command
        assert parameters - SWEEP_SETTINGS == extra, (
            f"{command}: a parameter that is neither a SweepConfig field nor listed here as the command's own; "
            "add the field to SweepConfig (a sweep setting) or the name to this list (an option of the command)"
        )


# 5. the documented examples run


def _examples() -> str:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    return "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))


def test_docs_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the examples run from the root of a clone
    code = _examples()
    assert code.count("mrl_eval.") > 10
    exec(compile(code, "docs/api.md", "exec"), {"__name__": "docs_api"})
    printed = capsys.readouterr().out
    assert "gate failed:" in printed and "--dims" in printed
    assert (tmp_path / "reports" / "scifact-subset__embeddinggemma-300m.json").is_file()


# 6. import mrl_eval is cheap


def test_import_mrl_eval_imports_no_heavy_libraries(tmp_path):
    """`import mrl_eval` loads nothing but the package; the API itself loads numpy, never a model or pandas."""
    code = textwrap.dedent(
        """
        import sys
        heavy = ("numpy", "pandas", "torch", "sentence_transformers", "matplotlib", "scipy")
        import mrl_eval
        print("IMPORT", sorted(m for m in heavy if m in sys.modules))
        mrl_eval.sweep, mrl_eval.recommend, mrl_eval.compare, mrl_eval.load_run, mrl_eval.Rule(min=0.5).resolve()
        print("API", sorted(m for m in heavy if m in sys.modules))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=checkout_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "IMPORT []" in proc.stdout, proc.stdout
    assert "API ['numpy']" in proc.stdout, proc.stdout


def test_the_lazy_names_are_the_documented_api():
    for name in mrl_eval.__all__:
        assert getattr(mrl_eval, name) is not None
        assert name == "__version__" or getattr(mrl_eval, name).__doc__, name
    with pytest.raises(AttributeError):
        mrl_eval.not_a_name  # noqa: B018


def _small_sweep(**kwargs):
    folder = data_path("cranfield")
    return mrl_eval.sweep(folder, embeddings=folder / "embeddings" / "all-minilm-l6-v2", dims="64", **kwargs)


@pytest.fixture
def plain_stderr(monkeypatch):
    """No environment variable that makes rich treat a pipe as a terminal (or the reverse)."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)


def test_sweep_shows_no_progress_by_default_when_stderr_is_not_a_terminal(plain_stderr, capsys):
    _small_sweep()
    assert capsys.readouterr().err == ""


def test_sweep_draws_progress_bars_by_default_when_stderr_is_a_terminal(plain_stderr, capsys, monkeypatch):
    """The API drew nothing unless given a callable: the CLI's rich bars are now its default where someone
    watches."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # pytest's captured stderr, seen as a terminal
    _small_sweep()
    err = capsys.readouterr().err
    assert "Scoring 2 dims" in err and "1400/1400" in err  # the bar, drawn to its end (1,400 documents)


@pytest.mark.parametrize("progress", [True, False])
def test_sweep_progress_true_draws_bars_and_false_draws_none(plain_stderr, capsys, progress):
    _small_sweep(progress=progress)
    assert ("Scoring 2 dims" in capsys.readouterr().err) is progress


def test_sweep_reports_progress_to_a_callable(capsys):
    seen: dict[str, list[int]] = {}

    def factory(label: str, total: int):
        seen[label] = [total, 0]
        return lambda n: seen[label].__setitem__(1, seen[label][1] + n)

    _small_sweep(progress=factory)
    assert seen and all(done == total for total, done in seen.values())  # every loop reported to its end
    assert capsys.readouterr().err == ""
