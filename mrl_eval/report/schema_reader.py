"""The checks a saved report is read through: each field's type and range, every problem named with its key."""

from __future__ import annotations

import json
import math
from pathlib import Path

from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.metric_registry import METRICS
from mrl_eval.evaluate.stats import MetricStats

_FIX = "rerun mrl-eval sweep to write a fresh report"
MAX_INTEGER = 2**63 - 1  # an int64, as every JSON reader of the report (pandas, DuckDB) holds it
# Every metric mrl-eval computes lies in [0, 1] (`metric_base.Metric.score`); float rounding may pass the ends by this
# much (a DCG ratio of 1.0000000000000002), not more.
BOUND_TOLERANCE = 1e-9


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")


class Reader:
    """Typed access to one document; each failure names the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, what: str) -> MrlEvalError:
        return MrlEvalError(f"{self.path}: field {where} {what}; {_FIX}")

    def wrong(self, where: str, want: str, value: object) -> MrlEvalError:
        shown = json.dumps(value)[:40] if not isinstance(value, (dict, list)) else _kind(value)
        return self.fail(where, f"should be {want}, not {shown}")

    def obj(self, value: object, where: str, *, empty: bool = False) -> dict:
        if not isinstance(value, dict):
            raise self.wrong(where, "an object", value)
        if not value and not empty:
            raise self.fail(where, "is empty")
        return value

    def items(self, value: object, where: str) -> list:
        if not isinstance(value, list):
            raise self.wrong(where, "a non-empty list", value)
        if not value:
            raise self.fail(where, "is empty")
        return value

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise self.wrong(where, "a string", value)
        return value

    def optional_text(self, value: object, where: str) -> str | None:
        return None if value is None else self.text(value, where)

    def flag(self, value: object, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.wrong(where, "true or false", value)
        return value

    def strings(self, value: object, where: str) -> tuple[str, ...]:
        return tuple(self.text(v, f"{where}[{i}]") for i, v in enumerate(self.items(value, where)))

    def integer(self, value: object, where: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.wrong(where, f"a whole number >= {minimum}", value)
        if value > MAX_INTEGER:  # 10**400 documents would overflow every float computed from it
            digits = str(value)
            shown = digits if len(digits) <= 24 else f"{digits[:20]}... ({len(digits)} digits)"
            raise self.fail(where, f"is {shown}, more than 2^63-1")
        return value

    def number(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.wrong(where, "a number", value)
        try:
            number = float(value)
        except OverflowError:  # an integer past float range, 10**400
            raise self.fail(where, f"is a {len(str(value))}-digit number (not a finite number)") from None
        if not math.isfinite(number):
            raise self.fail(where, f"is {number} (not a finite number)")
        return number

    def bounded(self, metric: str, value: float, where: str) -> float:
        """`value` of `metric`, which must lie in [0, 1] if it is a metric mrl-eval computes."""
        known = metric.split("@", 1)[0].strip().lower() in METRICS
        if known and not -BOUND_TOLERANCE <= value <= 1 + BOUND_TOLERANCE:
            raise self.fail(where, f"is {value}, outside [0, 1] where {metric} lies")
        return value

    def pair(self, value: object, where: str) -> tuple[float, float]:
        if not isinstance(value, list) or len(value) != 2:
            raise self.wrong(where, "a [low, high] pair", value)
        return self.number(value[0], f"{where}[0]"), self.number(value[1], f"{where}[1]")

    def metrics(self, value: object, where: str) -> dict[str, float]:
        """metric -> mean, each finite and, for the metrics mrl-eval computes, within [0, 1]."""
        return {
            self.text(m, where): self.bounded(m, self.number(v, f"{where}.{m}"), f"{where}.{m}")
            for m, v in self.obj(value, where).items()
        }

    def stats(self, value: object, where: str) -> dict[str, MetricStats]:
        out = {}
        for m, st in self.obj(value, where, empty=True).items():
            at = f"{where}.{m}"
            st = self.obj(st, at)
            out[m] = MetricStats(
                self.pair(st.get("ci"), f"{at}.ci"),
                self.number(st.get("delta"), f"{at}.delta"),
                self.pair(st.get("delta_ci"), f"{at}.delta_ci"),
                self.number(st.get("p_value"), f"{at}.p_value"),
            )
        return out

    def interval(self, value: object, where: str) -> tuple[float, float] | None:
        return None if value is None else self.pair(value, where)

    def per_query(self, value: object, where: str) -> dict[str, dict[str, dict[str, float]]]:
        """label or dim -> metric -> query id -> value, every value finite, the same queries everywhere."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        ids: set[str] | None = None
        for key, metrics in self.obj(value, where).items():
            out[key] = {}
            for m, values in self.obj(metrics, f"{where}.{key}").items():
                at = f"{where}.{key}.{m}"
                out[key][m] = {
                    q: self.bounded(m, self.number(v, f"{at}.{q}"), f"{at}.{q}")
                    for q, v in self.obj(values, at).items()
                }
                if ids is None:
                    ids = set(out[key][m])
                elif set(out[key][m]) != ids:
                    raise self.fail(at, f"holds other query ids than the rest ({len(out[key][m])} vs {len(ids)})")
        return out
