"""`mrl-eval compare` and `recommend --baseline`: deltas dim by dim, the paired test, and the regression gate."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mrl_eval.api.deciding import compared
from mrl_eval.cli.app import app
from mrl_eval.decide.compare import CheckedGate, compare_runs
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.report.model import Report
from mrl_eval.report.schema import parse_document
from tests.conftest import data_path

runner = CliRunner()

GEMMA = "embeddinggemma-300m"
SWEPT = [64, 128, 256, 512, 768]


def _invoke(args: list[object]):
    return runner.invoke(app, [str(a) for a in args])


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def saved_sweep(tmp_path_factory) -> dict:
    """A real saved sweep: the SciFact subset with the precomputed embeddinggemma-300m vectors."""
    folder = data_path("scifact-subset")
    work = tmp_path_factory.mktemp("compare-sweep")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(work / "xdg-cache"))
        mp.chdir(work)
        result = _invoke(
            ["sweep", folder, "--embeddings", folder / "embeddings" / GEMMA, "--dims", "64,128,256,512", "--json"]
        )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _write(folder: Path, name: str, doc: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _squeezed(doc: dict) -> dict:
    """A copy with every per-query value v made 0.05 + 0.9 v, and every mean with it: a run whose values lie in
    [0.05, 0.95], so that `_shift` can move every query by up to 0.05 and stay within [0, 1], where the metrics lie
    (a saved report with a value outside is refused)."""
    out = copy.deepcopy(doc)
    for by_metric in out["per_query"].values():
        for values in by_metric.values():
            for q in values:
                values[q] = 0.05 + 0.9 * values[q]
    for r in out["results"]:
        for metric, values in out["per_query"][str(r["dim"])].items():
            r["metrics"][metric] = float(np.mean(list(values.values())))
    return out


def _shift(doc: dict, dim: int, by: float, metric: str = "ndcg@10") -> dict:
    """A copy of a `_squeezed` run with every query's `metric` at `dim` moved by `by`, and the mean with it."""
    out = copy.deepcopy(doc)
    values = out["per_query"][str(dim)][metric]
    for q in values:
        values[q] += by
    for r in out["results"]:
        if r["dim"] == dim:
            r["metrics"][metric] += by
    return out


def _compare(*args: object):
    result = _invoke(["compare", *args, "--json"])
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def test_compare_catches_a_planted_regression(cli_env, saved_sweep):
    base = _write(cli_env, "base.json", _squeezed(saved_sweep))
    current = _write(cli_env, "current.json", _shift(_squeezed(saved_sweep), 128, -0.05))
    result, doc = _compare(base, current)
    assert result.exit_code == 3, result.output
    assert doc["passed"] is False and doc["failed_dims"] == [128]
    assert doc["dims"] == SWEPT and doc["only_in_baseline"] == [] and doc["only_in_current"] == []
    row = next(r for r in doc["by_dim"] if r["dim"] == 128)
    v = row["metrics"]["ndcg@10"]
    assert v["delta"] == pytest.approx(-0.05, abs=1e-9)
    assert v["delta_ci"] == pytest.approx([-0.05, -0.05], abs=1e-9)  # every query moved by the same amount
    assert v["p_value"] == pytest.approx(1 / 10_001)  # no sign flip reaches |mean| 0.05 but the observed one
    assert row["metrics"]["recall@10"]["delta"] == 0.0  # the other metrics did not move
    assert row["gate"] == {
        "allowed_drop": 0.01,
        "checked": "mean delta",
        "value": pytest.approx(-0.05),
        "passed": False,
        "regressed": True,
    }
    assert all(r["gate"]["passed"] for r in doc["by_dim"] if r["dim"] != 128)
    text = _invoke(["compare", base, current])
    assert text.exit_code == 3
    assert "Baseline gate failed: ndcg@10 fell more than 0.01 below the baseline at dim 128: -0.0500" in _flat(
        text.stdout
    )


def test_an_identical_pair_passes_with_zero_deltas_and_p_1(cli_env, saved_sweep):
    base = _write(cli_env, "base.json", saved_sweep)
    result, doc = _compare(base, base, "--rule", "non-inferior")
    assert result.exit_code == 0, result.output
    assert doc["passed"] is True and doc["paired"]["available"] is True and doc["paired"]["queries"] == 300
    for row in doc["by_dim"]:
        for v in row["metrics"].values():
            assert v["delta"] == 0.0 and v["delta_ci"] == [0.0, 0.0] and v["p_value"] == 1.0
        assert row["gate"]["checked"] == "lower end of the delta's CI" and not row["gate"]["regressed"]


def _half_queries(doc: dict) -> dict:
    """The run on half of its queries: the per-query values of 150, and the means and count over those."""
    half = copy.deepcopy(doc)
    keep = list(half["per_query"]["768"]["ndcg@10"])[:150]
    half["per_query"] = {
        d: {m: {q: values[q] for q in keep} for m, values in metrics.items()}
        for d, metrics in half["per_query"].items()
    }
    for r in half["results"]:
        r["metrics"] = {m: float(np.mean(list(v.values()))) for m, v in half["per_query"][str(r["dim"])].items()}
    half["queries_evaluated"] = len(keep)
    return half


def test_different_query_sets_give_no_paired_test_and_say_why(cli_env, saved_sweep):
    base, current = _write(cli_env, "base.json", saved_sweep), _write(cli_env, "half.json", _half_queries(saved_sweep))
    result, doc = _compare(base, current, "--rule", "point")
    assert result.exit_code == 0, result.output
    assert doc["paired"]["available"] is False
    assert doc["paired"]["reason"] == "different query sets: 300 vs 150 queries"
    assert all("delta_ci" not in r["metrics"]["ndcg@10"] for r in doc["by_dim"])
    assert all(r["gate"]["checked"] == "mean delta" for r in doc["by_dim"])
    text = _flat(_invoke(["compare", base, current]).stdout)
    assert "No paired test: different query sets: 300 vs 150 queries." in text


@pytest.mark.parametrize("rule", ["non-inferior", "lower-bound"])
def test_unpaired_interval_gate_fails_loudly_instead_of_weakening_to_the_mean(cli_env, saved_sweep, rule):
    base, current = _write(cli_env, "base.json", saved_sweep), _write(cli_env, "half.json", _half_queries(saved_sweep))
    result = _invoke(["compare", base, current, "--rule", rule])
    assert result.exit_code == 1, result.output
    text = _flat(result.output)
    assert f"--rule {rule} needs a paired test" in text and "different query sets: 300 vs 150 queries" in text
    assert "--rule point" in text and "Traceback" not in text


def test_non_inferior_fails_a_noisy_run_the_mean_lets_through(cli_env, saved_sweep):
    # the values of each pair of queries swapped: the same mean, but per-query deltas of +x and -x whose CI reaches
    # below -0.01
    noisy = copy.deepcopy(saved_sweep)
    values = noisy["per_query"]["256"]["ndcg@10"]
    ids = list(values)
    for a, b in zip(ids[::2], ids[1::2]):
        values[a], values[b] = values[b], values[a]
    base, current = _write(cli_env, "base.json", saved_sweep), _write(cli_env, "noisy.json", noisy)
    point, doc = _compare(base, current)
    assert point.exit_code == 0, point.output
    strict, strict_doc = _compare(base, current, "--rule", "non-inferior")
    assert strict.exit_code == 3, strict.output
    assert strict_doc["failed_dims"] == [256]
    row = next(r for r in strict_doc["by_dim"] if r["dim"] == 256)
    assert row["gate"]["value"] == row["metrics"]["ndcg@10"]["delta_ci"][0] < -0.01


def test_max_drop_absolute_or_relative_to_the_baseline(cli_env, saved_sweep):
    # a drop of 0.05 at dim 128; a relative drop is a share of the baseline's own mean there
    squeezed = _squeezed(saved_sweep)
    base = _write(cli_env, "base.json", squeezed)
    current = _write(cli_env, "current.json", _shift(squeezed, 128, -0.05))
    values = squeezed["per_query"]["128"]["ndcg@10"].values()
    baseline_value = sum(values) / len(values)
    codes = set()
    for max_drop in ("10%", "5%", "0.06", "0.04"):
        result, doc = _compare(base, current, "--max-drop", max_drop)
        expected = baseline_value * float(max_drop[:-1]) / 100 if max_drop.endswith("%") else float(max_drop)
        assert abs(0.05 - expected) > 1e-6  # the case is not on the edge
        assert result.exit_code == (3 if expected < 0.05 else 0), (max_drop, result.output)
        codes.add(result.exit_code)
        row = next(r for r in doc["by_dim"] if r["dim"] == 128)
        assert row["metrics"]["ndcg@10"]["baseline"] == pytest.approx(baseline_value, abs=1e-12)
        assert row["gate"]["allowed_drop"] == pytest.approx(expected)
    assert codes == {0, 3}  # the cases reach both sides of the gate


def test_only_shared_dims_are_compared_and_the_rest_are_named(cli_env, saved_sweep):
    fewer = copy.deepcopy(saved_sweep)
    fewer["results"] = [r for r in fewer["results"] if r["dim"] != 512]
    del fewer["per_query"]["512"]
    base, current = _write(cli_env, "base.json", saved_sweep), _write(cli_env, "fewer.json", fewer)
    result, doc = _compare(base, current)
    assert result.exit_code == 0, result.output
    assert doc["dims"] == [64, 128, 256, 768] and doc["only_in_baseline"] == [512] and doc["only_in_current"] == []
    assert doc["paired"]["available"] is True  # the shared dims still pair
    assert "Dims not compared (only in the baseline: 512)" in _flat(_invoke(["compare", base, current]).stdout)


def test_the_gated_metric_must_be_in_both_runs(cli_env, saved_sweep):
    base = _write(cli_env, "base.json", saved_sweep)
    result = _invoke(["compare", base, base, "--metric", "precision@5"])
    assert result.exit_code == 1, result.output
    assert "has no precision@5" in _flat(result.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["base.json"], "compare needs two runs"),
        (["base.json", "base.json", "--max-drop", "abc"], "--max-drop 'abc'"),
        (["base.json", "base.json", "--rule", "strict"], "--rule 'strict'"),
        (["base.json", "base.json", "--baseline", "base.json"], "not both"),
    ],
)
def test_compare_usage_errors_exit_2(cli_env, saved_sweep, args, message):
    _write(cli_env, "base.json", saved_sweep)
    result = _invoke(["compare", *args])
    assert result.exit_code == 2, result.output
    assert message in _flat(result.stderr)


def test_one_run_with_the_baseline_from_the_config_file(cli_env, saved_sweep):
    _write(cli_env, "base.json", _squeezed(saved_sweep))
    _write(cli_env, "current.json", _shift(_squeezed(saved_sweep), 64, -0.03))
    (cli_env / "mrl-eval.toml").write_text('baseline = "base.json"\n[compare]\nmax-drop = "0.02"\n')
    result, doc = _compare("current.json")
    assert result.exit_code == 3, result.output
    assert doc["baseline"]["path"] == str(cli_env / "base.json") and doc["current"]["path"] == "current.json"
    assert doc["gate"]["max_drop"] == "0.02" and doc["failed_dims"] == [64]


def test_recommend_with_a_baseline_fails_the_gate_on_a_regression(cli_env, saved_sweep):
    # the baseline is better than the current run at dim 256 by 0.03, more than the default --baseline-max-drop
    baseline = _write(cli_env, "baseline.json", _shift(_squeezed(saved_sweep), 256, +0.03))
    current = _write(cli_env, "current.json", _squeezed(saved_sweep))
    args = ["recommend", "--from", current, "--min-ndcg", "0.7", "--baseline", baseline, "--json"]
    result = _invoke(args)
    assert result.exit_code == 3, result.output  # the bar is met, the baseline gate is not
    doc = json.loads(result.stdout)
    means = {r["dim"]: r["metrics"]["ndcg@10"] for r in _squeezed(saved_sweep)["results"]}
    assert doc["recommendation"]["dim"] == min(d for d, v in means.items() if v >= 0.7)
    assert doc["baseline"]["passed"] is False and doc["baseline"]["failed_dims"] == [256]
    assert doc["baseline"]["current"]["path"] == "this run"
    saved = json.loads((cli_env / "reports" / "scifact-subset__embeddinggemma-300m.json").read_text(encoding="utf-8"))
    assert saved["baseline"]["failed_dims"] == [256]  # the saved report carries the comparison
    relaxed = _invoke([*args[:-1], "--baseline-max-drop", "0.05", "--json"])
    assert relaxed.exit_code == 0, relaxed.output


def test_recommend_baseline_max_drop_is_checked_before_any_work(cli_env, saved_sweep):
    base = _write(cli_env, "base.json", saved_sweep)
    result = _invoke(["recommend", "--from", base, "--min-ndcg", "0.7", "--baseline", base, "--baseline-max-drop", "x"])
    assert result.exit_code == 2, result.output
    assert "--baseline-max-drop 'x'" in _flat(result.stderr)
    assert not (cli_env / "reports").exists()


def _tiny_doc(values: dict[str, float]) -> dict:
    return {
        "full_dim": 4,
        "n_docs": 10,
        "queries_evaluated": len(values),
        "data": {"name": "tiny"},
        "model": {"name": "m"},
        "results": [
            {
                "dim": 4,
                "fraction": 1.0,
                "bytes_per_vector": 16,
                "metrics": {"ndcg@10": sum(values.values()) / len(values)},
            }
        ],
        "per_query": {"4": {"ndcg@10": values}},
    }


def _tiny(values: dict[str, float]) -> Report:
    return parse_document(_tiny_doc(values), Path("tiny.json"))


def test_compare_runs_on_hand_made_values():
    # deltas 0, -0.1, -0.1: mean -0.0667. Sign flips of (0, 0.1, 0.1) give |mean| 0.0667 or 0, each half the time,
    # so p is about 0.5
    baseline = _tiny({"q1": 0.5, "q2": 0.5, "q3": 1.0})
    current = _tiny({"q1": 0.5, "q2": 0.4, "q3": 0.9})
    baseline, current = compared(baseline, "baseline"), compared(current, "current")
    out = compare_runs(baseline, current, CheckedGate(max_drop="0.05"), StatsSettings(resamples=20_000))
    v = out.by_dim[0].metrics["ndcg@10"]
    assert v.delta == pytest.approx(-0.2 / 3)
    assert v.p_value == pytest.approx(0.5, abs=0.02)
    assert out.by_dim[0].gate.passed is False  # 0.0667 > 0.05
    assert compare_runs(baseline, current, CheckedGate(max_drop="0.07"), StatsSettings()).passed is True


def test_recommend_baseline_without_the_bars_metric_fails_before_sweeping(cli_env, saved_sweep):
    base = _write(cli_env, "base.json", saved_sweep)
    result = _invoke(["recommend", "--from", base, "--metric", "recall@100", "--min", "0.9", "--baseline", "tiny.json"])
    assert result.exit_code == 1 and "tiny.json: file not found" in _flat(result.stderr)
    _write(cli_env, "tiny.json", {**_tiny_doc({"q1": 0.5}), "n_docs": 1})
    result = _invoke(["recommend", "--from", base, "--metric", "recall@100", "--min", "0.9", "--baseline", "tiny.json"])
    assert result.exit_code == 1, result.output
    assert "tiny.json: has no recall@100, the bar's metric" in _flat(result.stderr)
    assert not (cli_env / "reports").exists()


def test_a_malformed_report_is_an_input_error_naming_it(cli_env, saved_sweep):
    base = _write(cli_env, "base.json", saved_sweep)
    broken = copy.deepcopy(saved_sweep)
    del broken["results"][0]["metrics"]
    _write(cli_env, "broken.json", broken)
    result = _invoke(["compare", base, "broken.json"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a traceback
    assert result.exit_code == 1, result.output
    assert "broken.json: field results[0].metrics should be an object, not null" in _flat(result.stderr)
