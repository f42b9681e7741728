from __future__ import annotations

import pytest

from mrl_eval.decide.recommend import CheckedRule, make_rule, recommend
from mrl_eval.errors import UsageError
from mrl_eval.evaluate.results import DimResult


def _results(scores: dict[int, float], full_dim: int = 768) -> list[DimResult]:
    return [DimResult(d, d / full_dim, 4 * d, {"ndcg@10": v, "recall@100": v + 0.1}) for d, v in scores.items()]


SCORES = {64: 0.60, 128: 0.74, 256: 0.79, 512: 0.80, 768: 0.81}


@pytest.mark.parametrize(
    ("rule", "expected_dim", "expected_bar"),
    [
        (CheckedRule(min_value=0.75), 256, 0.75),
        (CheckedRule(min_value=0.74), 128, 0.74),  # at the bar counts: 0.74 >= 0.74
        (CheckedRule(min_value=0.5), 64, 0.5),
        (CheckedRule(min_value=0.82), None, 0.82),  # even the full dim (0.81) misses
        (CheckedRule(max_drop=0.02), 256, 0.79),  # 0.81 - 0.02 = 0.79
        (CheckedRule(max_drop_relative=0.10), 128, 0.729),  # 0.81 * 0.9 = 0.729
        (CheckedRule(min_value=0.7, max_drop=0.015), 512, 0.795),  # the higher bar wins: max(0.7, 0.795)
        (CheckedRule(metric="recall@100", min_value=0.88), 256, 0.88),  # recall@100 = ndcg + 0.1: 0.89 at 256
    ],
)
def test_smallest_dim_meeting_the_bar(rule, expected_dim, expected_bar):
    rec = recommend(_results(SCORES), 768, rule, n_docs=1000)
    assert rec.dim == expected_dim
    assert rec.threshold == pytest.approx(expected_bar)


def test_smallest_passing_dim_even_if_a_larger_one_dips():
    rec = recommend(_results({64: 0.70, 128: 0.60, 256: 0.72, 768: 0.73}), 768, CheckedRule(min_value=0.65), 10)
    assert rec.dim == 64 and rec.smaller_dim is None


def test_explains_with_the_next_smaller_dim_and_storage():
    rec = recommend(_results(SCORES), 768, CheckedRule(min_value=0.75), n_docs=1000)
    assert (rec.value, rec.smaller_dim, rec.smaller_value) == (0.79, 128, 0.74)
    assert rec.full_value == 0.81
    s = rec.storage
    assert s["bytes_per_vector"] == 1024 and s["full_bytes_per_vector"] == 3072  # float32: 4 bytes x dim
    assert s["bytes"] == {"corpus": 1_024_000, "1M": 1_024_000_000, "10M": 10_240_000_000}
    assert s["saved_fraction"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("min_value", "max_drop", "message"),
    [
        (None, None, "needs a bar"),
        (1.5, None, "[0, 1]"),
        (None, "abc", "absolute drop like 0.02"),
        (None, "2", "did you mean 2%"),
        (None, "150%", "at most 100%"),
    ],
)
def test_bad_bars_are_usage_errors(min_value, max_drop, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_rule("ndcg@10", min_value, max_drop)


def test_relative_and_absolute_drop_parse():
    assert make_rule("ndcg@10", None, "2%").max_drop_relative == pytest.approx(0.02)
    assert make_rule("ndcg@10", None, "0.02").max_drop == pytest.approx(0.02)


# Rules on real per-query values: the SciFact subset with the EmbeddingGemma vectors.

RELATIVE_BARS = ["0", "0.001", "0.02", "0%", "0.1%", "2%"]


@pytest.fixture(scope="module")
def subset_sweep():
    from mrl_eval.data.vectors import load_vectors
    from mrl_eval.evaluate.stats import StatsSettings
    from mrl_eval.pipeline.score import score_vectors
    from tests.conftest import data_path, read_qrels_tsv

    folder = data_path("scifact-subset")
    vectors = load_vectors(folder / "embeddings" / "embeddinggemma-300m")
    qrels = read_qrels_tsv(folder / "qrels" / "test.tsv")
    return score_vectors(vectors, qrels, [32, 64, 128, 256, 768], ["ndcg@10"], stats=StatsSettings(resamples=2000))


@pytest.mark.parametrize("kind", ["point", "lower-bound", "non-inferior"])
@pytest.mark.parametrize("max_drop", RELATIVE_BARS)
def test_every_rule_passes_the_full_dim_when_the_bar_is_relative_to_it(subset_sweep, kind, max_drop):
    rule = make_rule("ndcg@10", None, max_drop, kind)
    full = next(r for r in subset_sweep.results if r.dim == 768)
    assert rule.passes(full, full.metrics["ndcg@10"])
    rec = recommend(subset_sweep.results, 768, rule, n_docs=600)
    assert rec.dim is not None and rec.dim <= 768


def test_lower_bound_with_max_drop_bounds_the_paired_delta(subset_sweep):
    # Before: the bar was the full dim's mean minus the drop, checked against each dim's own interval, whose lower
    # end lies below the full mean even at the full dim, so nothing was ever recommended.
    full = next(r for r in subset_sweep.results if r.dim == 768)
    width = full.metrics["ndcg@10"] - full.stats["ndcg@10"].ci[0]
    assert width > 0.02  # the full dim's own interval starts more than 0.02 below its mean: the old rule failed it
    rule = make_rule("ndcg@10", None, "0.02", "lower-bound")
    rec = recommend(subset_sweep.results, 768, rule, n_docs=600)
    passing = [r.dim for r in subset_sweep.results if r.stats["ndcg@10"].delta_ci[0] >= -0.02]
    assert rec.dim == min(passing)
    assert "paired delta" in rule.describe()


def test_lower_bound_with_both_bars_needs_both(subset_sweep):
    full = next(r for r in subset_sweep.results if r.dim == 768)
    too_high = full.stats["ndcg@10"].ci[0] + 0.01  # the full dim's interval starts below this absolute bar
    rule = make_rule("ndcg@10", too_high, "0.5", "lower-bound")
    assert recommend(subset_sweep.results, 768, rule, n_docs=600).dim is None


def test_few_queries_flag_the_recommendation_of_an_interval_rule():
    from mrl_eval.evaluate.stats import MetricStats

    point = recommend(_results(SCORES), 768, CheckedRule(min_value=0.75), n_docs=10)
    assert point.warn_if_few_queries(3) is point  # the point rule uses no interval
    collapsed = {"ndcg@10": MetricStats((0.8, 0.8), 0.0, (0.0, 0.0), 1.0)}  # one query: a point interval
    full = DimResult(768, 1.0, 3072, {"ndcg@10": 0.8}, collapsed)
    rec = recommend([full], 768, CheckedRule(kind="lower-bound", min_value=0.5), n_docs=10).warn_if_few_queries(1)
    assert rec.warning and "Only 1 evaluated query" in rec.warning
    assert (
        recommend([full], 768, CheckedRule(kind="lower-bound", min_value=0.5), n_docs=10)
        .warn_if_few_queries(20)
        .warning
        is None
    )


def _cli(args: list) -> object:
    from typer.testing import CliRunner

    from mrl_eval.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_holdout_checks_the_recommended_cell_not_a_float32_prefix(cli_env):
    import json

    import numpy as np

    from mrl_eval.evaluate.stats import holdout_split
    from tests.conftest import data_path

    folder = data_path("scifact-subset")
    swept = _cli(
        [
            "sweep",
            folder,
            "--embeddings",
            folder / "embeddings" / "embeddinggemma-300m",
            "--dims",
            "64,128,256",
            "--precisions",
            "float32,int8,binary",
            "--resamples",
            "1000",
            "--json",
        ]
    )
    assert swept.exit_code == 0, swept.output
    report = cli_env / "reports" / "scifact-subset__embeddinggemma-300m.json"
    args = [
        "recommend",
        "--from",
        report,
        "--max-drop",
        "0.03",
        "--optimize",
        "bytes",
        "--holdout",
        "0.5",
        "--resamples",
        "1000",
        "--json",
    ]
    result = _cli(args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    h = doc["holdout"]
    assert h["label"] is not None and h["label"].count(":") == 2  # a cell: method, dim and precision
    method, dim, precision = h["label"].split(":")
    assert (h["method"], h["dim"], h["precision"]) == (method, int(dim), precision)
    # the held-out value is the chosen cell's own per-query mean on the other half, recomputed here
    saved = json.loads(report.read_text(encoding="utf-8"))
    query_ids = list(saved["per_query"]["768"]["ndcg@10"])
    _, test = holdout_split(query_ids, 0.5, 0)
    cell_values = (
        saved["per_query"][dim]["ndcg@10"]
        if precision == "float32" and method == "prefix"
        else (saved["grid"]["per_query"][h["label"]]["ndcg@10"])
    )
    assert h["test_value"] == pytest.approx(np.mean([cell_values[q] for q in test]), abs=1e-12)
    assert h["test_full_value"] == pytest.approx(
        np.mean([saved["per_query"]["768"]["ndcg@10"][q] for q in test]), abs=1e-12
    )
    text = " ".join(_cli(args[:-1]).stdout.split())
    assert f"Held-out check: chosen on {h['n_select']} random queries (seed 0): {h['label']}" in text


@pytest.mark.parametrize("kind", ["point", "lower-bound", "non-inferior"])
def test_recommend_from_a_report_passes_the_full_dim_with_no_drop_allowed(cli_env, kind):
    import json

    from tests.conftest import data_path

    folder = data_path("cranfield")
    swept = _cli(
        [
            "sweep",
            folder,
            "--embeddings",
            folder / "embeddings" / "all-minilm-l6-v2",
            "--dims",
            "64,128",
            "--resamples",
            "1000",
            "--json",
        ]
    )
    assert swept.exit_code == 0, swept.output
    report = cli_env / "reports" / "cranfield__all-minilm-l6-v2.json"
    result = _cli(["recommend", "--from", report, "--max-drop", "0", "--rule", kind, "--resamples", "1000", "--json"])
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)["recommendation"]
    assert rec["dim"] is not None
