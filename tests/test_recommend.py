from __future__ import annotations

import pytest

from mrl_eval.decide.recommend import Rule, make_rule, recommend
from mrl_eval.errors import UsageError
from mrl_eval.evaluate.sweep import DimResult


def _results(scores: dict[int, float], full_dim: int = 768) -> list[DimResult]:
    return [DimResult(d, d / full_dim, 4 * d, {"ndcg@10": v, "recall@100": v + 0.1}) for d, v in scores.items()]


SCORES = {64: 0.60, 128: 0.74, 256: 0.79, 512: 0.80, 768: 0.81}


@pytest.mark.parametrize(
    ("rule", "expected_dim", "expected_bar"),
    [
        (Rule(min_value=0.75), 256, 0.75),
        (Rule(min_value=0.74), 128, 0.74),  # at the bar counts: 0.74 >= 0.74
        (Rule(min_value=0.5), 64, 0.5),
        (Rule(min_value=0.82), None, 0.82),  # even the full dim (0.81) misses
        (Rule(max_drop=0.02), 256, 0.79),  # 0.81 - 0.02 = 0.79
        (Rule(max_drop_relative=0.10), 128, 0.729),  # 0.81 * 0.9 = 0.729
        (Rule(min_value=0.7, max_drop=0.015), 512, 0.795),  # the higher bar wins: max(0.7, 0.795)
        (Rule(metric="recall@100", min_value=0.88), 256, 0.88),  # recall@100 = ndcg + 0.1: 0.89 at 256
    ],
)
def test_smallest_dim_meeting_the_bar(rule, expected_dim, expected_bar):
    rec = recommend(_results(SCORES), 768, rule, n_docs=1000)
    assert rec.dim == expected_dim
    assert rec.threshold == pytest.approx(expected_bar)


def test_smallest_passing_dim_even_if_a_larger_one_dips():
    rec = recommend(_results({64: 0.70, 128: 0.60, 256: 0.72, 768: 0.73}), 768, Rule(min_value=0.65), 10)
    assert rec.dim == 64 and rec.smaller_dim is None


def test_explains_with_the_next_smaller_dim_and_storage():
    rec = recommend(_results(SCORES), 768, Rule(min_value=0.75), n_docs=1000)
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
