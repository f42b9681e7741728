"""The core's checks of option values, by settings key, for values read from the config file.

A flag's value is checked where the core parses it, and its error names the flag. A value from the config file
gets the same check here, when the file is read, so that its error names the key and the file (exit 1) instead of a
flag the user never passed. Checks that need the data (a dim against the model's full dim) stay in the core.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from typing import Any

from mrl_eval.errors import UsageError


def _choice(flag: str, module: str, name: str) -> Callable[[Any], None]:
    """One of the names in `module.name`, imported only when a file sets this key."""

    def check(value: Any) -> None:
        choices = getattr(importlib.import_module(module), name)
        if value not in choices:
            raise UsageError(f"{flag} {value!r}: choose one of {', '.join(choices)}")

    return check


def _unit_interval(flag: str, open_ends: bool = False) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        inside = 0 < value < 1 if open_ends else 0 <= value <= 1
        if not (isinstance(value, (int, float)) and math.isfinite(value) and inside):
            raise UsageError(f"{flag} {value!r}: give a number in {'(0, 1)' if open_ends else '[0, 1]'}")

    return check


def _finite_non_negative(flag: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not (isinstance(value, (int, float)) and not math.isnan(value) and value >= 0):
            raise UsageError(f"{flag} {value!r}: give a number of 0 or more")

    return check


def _stats(field: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        from mrl_eval.evaluate.stats import StatsSettings

        StatsSettings(**{field: value}).check()

    return check


def _dims(value: Any) -> None:
    from mrl_eval.evaluate.sweep import parse_dims

    parse_dims(value)


def _metrics(value: Any) -> None:
    from mrl_eval.evaluate.metrics import parse_metrics

    parse_metrics(value)


def _max_drop(flag: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        from mrl_eval.decide.recommend import parse_max_drop

        parse_max_drop(value, flag)

    return check


def _precisions(value: Any) -> None:
    from mrl_eval.methods.precision import parse_precisions

    parse_precisions(value)


def _two_stage(value: Any) -> None:
    from mrl_eval.methods.two_stage import parse_stages

    parse_stages(value, 1 << 30)  # the syntax; dims against the full dim once the model is known


def _shortlist(value: Any) -> None:
    from mrl_eval.methods.two_stage import parse_shortlists

    parse_shortlists(value)


def _scale(value: Any) -> None:
    from mrl_eval.methods.grid import parse_scales

    parse_scales(value)


def _pca_fit_sample(value: Any) -> None:
    from mrl_eval.methods.pca import parse_fit_sample

    parse_fit_sample(value)


def _methods(value: Any) -> None:
    from mrl_eval.methods.grid import parse_methods

    parse_methods(value)


def _ray(field: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        from mrl_eval.evaluate.ray_search import RaySettings

        RaySettings(**{field: value}).check()

    return check


def _compare(value: Any) -> None:
    if str(value).strip().lower() not in ("", "pca"):  # as cli/common.py grid_settings reads it
        raise UsageError(f"--compare {value!r}: the one comparison is pca")


def _prices(value: Any) -> None:
    from mrl_eval.providers.openai_limits import parse_prices

    parse_prices(value)


def _pre_truncate(value: Any) -> None:
    from mrl_eval.data.pre_truncate import check_pre_truncate

    check_pre_truncate(value)


CHECKS: dict[str, Callable[[Any], None]] = {
    "confidence": _stats("confidence"),
    "resamples": _stats("resamples"),
    "seed": _stats("seed"),
    "ci-method": _stats("method"),
    "dims": _dims,
    "metrics": _metrics,
    "metric": _metrics,
    "max-drop": _max_drop("--max-drop"),
    "baseline-max-drop": _max_drop("--baseline-max-drop"),
    "rule": _choice("--rule", "mrl_eval.decide.recommend", "RULES"),
    "optimize": _choice("--optimize", "mrl_eval.decide.recommend", "OPTIMIZE"),
    "methods": _methods,
    "compare": _compare,
    "precisions": _precisions,
    "two-stage": _two_stage,
    "shortlist": _shortlist,
    "scale": _scale,
    "pca-fit-sample": _pca_fit_sample,
    "safety-margin": _unit_interval("--safety-margin"),
    "min": _unit_interval("--min"),
    "min-ndcg": _unit_interval("--min-ndcg"),
    "holdout": _unit_interval("--holdout", open_ends=True),
    "max-cost": _finite_non_negative("--max-cost"),
    "pre-truncate": _pre_truncate,
    "cache-dtype": _choice("--cache-dtype", "mrl_eval.data.cache", "DTYPES"),
    "on-long-input": _choice("--on-long-input", "mrl_eval.providers.openai_limits", "ON_LONG_INPUT"),
    "ray-cpus": _ray("num_cpus"),
    "ray-shard-rows": _ray("shard_rows"),
    "provider": _choice("--provider", "mrl_eval.providers", "PROVIDERS"),
    "price-per-1m-tokens": _prices,
    "backend": _choice("--backend", "mrl_eval.providers.st_backends", "BACKENDS"),
}

# "--resamples 5: use at least 100" -> "use at least 100": the key and the value are named before it.
_FLAG_PREFIX = re.compile(r"^--[a-z0-9-]+(?: \S+)?: ")


def check_value(key: str, value: Any) -> str | None:
    """The problem with a setting's value, without the flag's name, or None when the core would accept it."""
    check = CHECKS.get(key)
    if check is None or value is None:
        return None
    try:
        check(value)
    except UsageError as err:
        return _FLAG_PREFIX.sub("", str(err))
    return None
