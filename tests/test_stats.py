from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from mrl_eval.data.vectors import load_vectors
from mrl_eval.errors import UsageError
from mrl_eval.evaluate.stats import (
    StatsSettings,
    bootstrap_means,
    confidence_intervals,
    holdout_split,
    interval_warning,
    paired_p_values,
    summarize,
)
from tests.conftest import data_path, read_qrels_tsv

QIDS = [f"q{i}" for i in range(60)]


def _per_query(full: np.ndarray, other: np.ndarray) -> dict:
    return {
        64: {"ndcg@10": dict(zip(QIDS, other.tolist()))},
        128: {"ndcg@10": dict(zip(QIDS, full.tolist()))},
    }


def test_identical_runs_give_delta_zero_and_p_one():
    scores = np.random.default_rng(0).random(60)
    out = summarize(_per_query(scores, scores.copy()), 128, QIDS, StatsSettings(resamples=2000))
    s = out[64]["ndcg@10"]
    assert s.delta == 0.0 and s.delta_ci == (0.0, 0.0) and s.p_value == 1.0
    assert out[128]["ndcg@10"].p_value == 1.0  # the full dim against itself


def test_constant_shift_gives_that_delta_with_a_zero_width_ci_and_a_tiny_p():
    full = np.random.default_rng(1).random(60) * 0.8 + 0.1
    out = summarize(_per_query(full, full - 0.05), 128, QIDS, StatsSettings(resamples=2000))
    s = out[64]["ndcg@10"]
    assert s.delta == pytest.approx(-0.05)
    assert s.delta_ci == pytest.approx((-0.05, -0.05))  # every query loses exactly 0.05: no uncertainty left
    # only the all-negative and all-positive flips (2 of 2^60) reach |mean| 0.05: p = (1 + 0) / (1 + 2000)
    assert s.p_value == pytest.approx(1 / 2001)
    # the score's own CI moves by exactly the shift (the same resamples serve both columns)
    low_full, high_full = out[128]["ndcg@10"].ci
    assert out[64]["ndcg@10"].ci == pytest.approx((low_full - 0.05, high_full - 0.05), abs=1e-9)


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_bootstrap_ci_covers_the_true_mean_near_the_nominal_rate(method):
    # 400 independent samples of 80 queries from a skewed population (like per-query nDCG) with known mean 2/7
    rng = np.random.default_rng(2)
    samples = rng.beta(2, 5, size=(80, 400))
    boot = bootstrap_means(samples, 2000, seed=3)
    low, high = confidence_intervals(samples, boot, 0.95, method)
    coverage = np.mean((low <= 2 / 7) & (high >= 2 / 7))
    assert 0.915 <= coverage <= 0.985, coverage  # nominal 0.95; binomial sd over 400 samples is 0.011


def test_bca_interval_agrees_with_scipy_on_real_per_query_scores():
    from mrl_eval.pipeline.score import score_vectors

    folder = data_path("scifact-subset")
    vectors = load_vectors(folder / "embeddings" / "embeddinggemma-300m")
    result = score_vectors(vectors, read_qrels_tsv(folder / "qrels" / "test.tsv"), [128, 768], ["ndcg@10"])
    values = np.array([[result.per_query[d]["ndcg@10"][q] for d in (128, 768)] for q in result.query_ids])
    boot = bootstrap_means(values, 20_000, seed=0)
    low, high = confidence_intervals(values, boot, 0.95, "bca")
    for j in range(2):
        ref = scipy_stats.bootstrap(
            (values[:, j],), np.mean, n_resamples=20_000, method="BCa", random_state=1
        ).confidence_interval
        assert low[j] == pytest.approx(ref.low, abs=0.004) and high[j] == pytest.approx(ref.high, abs=0.004)


@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_percentile_interval_equals_scipy_on_the_same_resamples(confidence):
    """scipy.stats.bootstrap(method="percentile") draws its resamples as `rng.integers(0, n, (n_resamples, n))`,
    as bootstrap_means does in one block: with the same seed both see the same resamples, so the intervals agree
    to rounding (the BCa tests above compare with independent resamples, or on a discrete distribution)."""
    from mrl_eval.pipeline.score import score_vectors

    folder = data_path("cranfield")
    vectors = load_vectors(folder / "embeddings" / "all-minilm-l6-v2")
    result = score_vectors(vectors, read_qrels_tsv(folder / "qrels" / "test.tsv"), [48, 384], ["ndcg@10"])
    values = np.array([[result.per_query[d]["ndcg@10"][q] for d in (48, 384)] for q in result.query_ids])
    deltas = values[:, :1] - values[:, 1:]
    columns = np.hstack([values, deltas])
    resamples = 5000
    assert resamples * len(values) <= 4_000_000  # one block of draws in bootstrap_means
    low, high = confidence_intervals(columns, bootstrap_means(columns, resamples, seed=7), confidence, "percentile")
    for j in range(columns.shape[1]):
        ref = scipy_stats.bootstrap(
            (columns[:, j],),
            np.mean,
            n_resamples=resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(7),
        ).confidence_interval
        assert low[j] == pytest.approx(ref.low, abs=1e-12) and high[j] == pytest.approx(ref.high, abs=1e-12), j
    assert np.all(low < columns.mean(axis=0)) and np.all(columns.mean(axis=0) < high)


def _tied_deltas(case: str) -> np.ndarray:
    """Per-query deltas from the full dim as they look near it: mostly exact zeros (the ranking did not change)."""
    deltas = np.zeros(300)
    if case == "one loser":
        deltas[0] = -1.0
    elif case == "two losers":
        deltas[:2] = -1.0
    elif case == "loser and winner":
        deltas[:3] = [-1.0, -0.5, 0.3]
    else:  # a few distinct small values, heavily tied
        deltas = np.random.default_rng(1).choice([0.0, 0.0, 0.0, 0.0, -0.2, 0.1], 300)
    return deltas[:, None]


@pytest.mark.parametrize("case", ["one loser", "two losers", "loser and winner", "many ties"])
def test_bca_counts_ties_as_scipy_does(case):
    # BCa's bias correction: resamples equal to the estimate count half below (scipy's percentileofscore
    # kind="mean"). Counting only "<" put the lower bound one step of the bootstrap distribution too low
    # (-6/300 instead of -5/300 with one losing query in 300). The bootstrap distribution here is discrete
    # (multiples of 1/300 or 0.1/300), so both implementations land on the same values exactly.
    deltas = _tied_deltas(case)
    boot = bootstrap_means(deltas, 10_000, seed=0)
    low, high = confidence_intervals(deltas, boot, 0.95, "bca")
    ref = scipy_stats.bootstrap(
        (deltas[:, 0],), np.mean, n_resamples=10_000, method="BCa", rng=np.random.default_rng(0)
    ).confidence_interval
    assert low[0] == pytest.approx(ref.low, abs=1e-9) and high[0] == pytest.approx(ref.high, abs=1e-9)


@pytest.mark.parametrize(("n", "reliable"), [(1, False), (5, False), (19, False), (20, True), (300, True)])
def test_too_few_queries_are_flagged(n, reliable):
    warning = interval_warning(n)
    assert (warning is None) == reliable
    if not reliable:
        assert f"Only {n} evaluated quer" in warning and "act like point" in warning


def test_one_query_collapses_every_interval_which_is_why_it_is_flagged():
    values = np.array([[0.4, -0.1]])
    boot = bootstrap_means(values, 1000, seed=0)
    low, high = confidence_intervals(values, boot, 0.95, "bca")
    assert np.array_equal(low, high) and np.array_equal(low, values[0])
    assert paired_p_values(values[:, 1:], 1000, seed=0)[0] == 1.0


def test_paired_p_value_agrees_with_scipy_permutation_test():
    rng = np.random.default_rng(4)
    deltas = rng.normal(0.01, 0.08, size=(120, 1))
    ours = paired_p_values(deltas, 20_000, seed=0)[0]
    ref = scipy_stats.permutation_test(
        (deltas[:, 0],), np.mean, permutation_type="samples", n_resamples=20_000, random_state=0
    ).pvalue
    assert ours == pytest.approx(ref, abs=0.015)


def test_holdout_split_is_reproducible_disjoint_and_complete():
    ids = [str(i) for i in range(101)]
    a, b = holdout_split(ids, 0.5, seed=7)
    assert (a, b) == holdout_split(ids, 0.5, seed=7)
    assert set(a).isdisjoint(b) and sorted(a + b, key=int) == ids and len(a) == 50
    assert holdout_split(ids, 0.5, seed=8) != (a, b)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, 0.001])
def test_bad_holdout_fractions_are_usage_errors(fraction):
    with pytest.raises(UsageError, match="--holdout"):
        holdout_split([str(i) for i in range(20)], fraction, seed=0)


@pytest.mark.parametrize(
    "settings", [StatsSettings(confidence=1.0), StatsSettings(resamples=10), StatsSettings(method="student")]
)
def test_bad_statistics_settings_are_usage_errors(settings):
    with pytest.raises(UsageError):
        settings.check()
