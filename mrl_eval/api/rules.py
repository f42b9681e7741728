"""The bar a recommendation must clear (`Rule`) and the regression a comparison may allow (`Gate`), as users write
them: plain values (`max_drop=0.02` or `"2%"`), checked once and turned into the `decide/` objects that apply them.
"""

from __future__ import annotations

from dataclasses import dataclass

from mrl_eval import defaults
from mrl_eval.decide import compare as decide_compare
from mrl_eval.decide import recommend as decide_recommend
from mrl_eval.decide.compare import CheckedGate
from mrl_eval.decide.recommend import make_rule
from mrl_eval.errors import UsageError
from mrl_eval.evaluate.metric_registry import parse_metric, parse_metrics


def drop_text(value: float | str | None) -> str | None:
    """A drop as the option parser reads it: 0.02 -> "0.02" (absolute), "2%" stays relative."""
    if value is None or isinstance(value, str):
        return value
    return f"{float(value):.15f}".rstrip("0").rstrip(".") or "0"


@dataclass(frozen=True)
class Rule:
    """What a configuration must clear to be recommended (`mrl-eval recommend`'s bar).

    - `min`: the metric at or above this absolute score (e.g. 0.82);
    - `max_drop`: at most this far below the full-dim score, absolute (0.02) or relative ("2%"); with `min` as
      well, the higher of the two bars applies;
    - `kind`: what must clear the bar: `"point"` (the mean over the queries), `"lower-bound"` (the lower end of
      the score's confidence interval) or `"non-inferior"` (the lower end of the interval of the paired drop
      from the full dim; needs `max_drop` and no `min`);
    - `metric`: the metric the bar applies to, e.g. `"ndcg@10"` or `"recall@100"`.

    >>> Rule(min=0.5).describe()
    'point: ndcg@10 >= 0.5'
    """

    min: float | None = None
    max_drop: float | str | None = None
    kind: str = defaults.RULE
    metric: str = defaults.METRIC

    @classmethod
    def from_options(
        cls,
        *,
        min_ndcg: float | None = None,
        min_value: float | None = None,
        max_drop: float | str | None = None,
        kind: str = defaults.RULE,
        metric: str | None = None,
    ) -> Rule:
        """The rule of `recommend`'s bar options: `--min-ndcg X` is `--metric ndcg@10 --min X`, and only one of the
        two forms may be given."""
        if min_ndcg is not None and (min_value is not None or (metric and parse_metric(metric) != ("ndcg", 10))):
            raise UsageError("--min-ndcg means --metric ndcg@10 --min X; give one form, not both")
        return cls(min_ndcg if min_ndcg is not None else min_value, max_drop, kind, metric or defaults.METRIC)

    def resolve(self) -> decide_recommend.CheckedRule:
        """The checked rule that `decide.recommend` applies; a bad value raises `UsageError`."""

        return make_rule(parse_metrics(self.metric)[0], self.min, drop_text(self.max_drop), self.kind)

    @property
    def canonical_metric(self) -> str:
        """The metric's canonical name ("NDCG @ 10" -> "ndcg@10")."""

        return parse_metrics(self.metric)[0]

    def describe(self) -> str:
        """The rule in words, as reports print it."""
        return self.resolve().describe()


@dataclass(frozen=True)
class Gate:
    """How far a current run may fall below a baseline at any shared dim (`mrl-eval compare`'s gate).

    - `max_drop`: absolute (0.01) or relative to the baseline's score at that dim ("1%");
    - `kind`: `"point"` (the mean delta) or `"non-inferior"` / `"lower-bound"` (the lower end of the delta's
      confidence interval, where both runs evaluated the same queries);
    - `metric`: the gated metric.
    """

    max_drop: float | str = defaults.MAX_DROP_VS_BASELINE
    kind: str = defaults.RULE
    metric: str = defaults.METRIC

    def resolve(self, flag: str = "--max-drop") -> decide_compare.CheckedGate:
        """The checked gate that `decide.compare` applies; a bad value raises `UsageError` naming `flag`."""

        return CheckedGate(parse_metrics(self.metric)[0], self.kind, drop_text(self.max_drop) or "0").check(flag)
