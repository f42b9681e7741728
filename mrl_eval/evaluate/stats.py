"""Uncertainty over queries: bootstrap confidence intervals, a paired test against the full dim, a held-out split.

Every number mrl-eval reports is a mean over queries, and the queries are a sample. The definitions, once:

- **Bootstrap CI** of a mean: resample the evaluated queries with replacement `resamples` times and take the
  mean of each resample. One resample matrix (how often each query is drawn) serves every dim and metric,
  so all intervals come from the same resamples, and all means come from one matrix product. The interval is BCa
  (bias-corrected and accelerated, Efron 1987; the acceleration from the jackknife, which for a mean is closed-form)
  or percentile. This is what `scipy.stats.bootstrap(method="BCa")` computes, at a fraction of its cost for many
  columns at once (measured in benchmarks/; the tests check that both agree).
- **Paired delta**: per query, score at dim d minus score at the full dim, on the same queries; its mean and a
  bootstrap CI as above.
- **Paired test**: two-sided sign-flip randomization test of mean delta = 0 (under the null each query's delta is
  as likely to be positive as negative; Fisher's randomization test, the test ranx calls "Fisher").
  p = (1 + #{resamples with |mean of sign-flipped deltas| >= |observed mean delta|}) / (1 + resamples).
  Identical runs give p = 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from mrl_eval import defaults
from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.evaluate.retrieval import available_memory
from mrl_eval.limits import (
    MAX_CONFIDENCE,
    MAX_RESAMPLES,
    MAX_SEED,
    MIN_CONFIDENCE,
    MIN_RESAMPLES,
    MIN_SEED,
    MIN_TAIL_RESAMPLES,
)

_STD_NORMAL = NormalDist()

# Below this many evaluated queries the bootstrap says little: its intervals are too narrow (coverage falls well
# short of the stated level with a skewed per-query distribution such as nDCG's), and with one query every interval
# collapses to a point and p = 1, so the interval rules act like `point`. Reports then say so.
MIN_QUERIES_FOR_INTERVALS = 20

# Resample matrices are built in blocks of at most this many cells (int64), bounding memory for many queries.
_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class StatsSettings:
    confidence: float = defaults.CONFIDENCE
    resamples: int = defaults.RESAMPLES
    seed: int = defaults.SEED
    method: str = defaults.CI_METHOD  # or "percentile"

    def check(self) -> StatsSettings:
        check_confidence(self.confidence)
        if isinstance(self.resamples, bool) or not isinstance(self.resamples, int):
            raise UsageError(f"--resamples {self.resamples!r}: give a whole number, e.g. 10000")
        if not MIN_RESAMPLES <= self.resamples <= MAX_RESAMPLES:
            raise UsageError(
                f"--resamples {self.resamples}: give {MIN_RESAMPLES:,} to {MAX_RESAMPLES:,} (default 10,000); "
                "more resamples cost time and memory and change the intervals very little"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not MIN_SEED <= self.seed <= MAX_SEED:
            raise UsageError(f"--seed {self.seed!r}: give a whole number from {MIN_SEED} to 2^63-1, e.g. 0")
        if self.method not in ("bca", "percentile"):
            raise UsageError(f"--ci-method {self.method!r}: choose bca or percentile")
        tail = (1 - self.confidence) * self.resamples
        if tail < MIN_TAIL_RESAMPLES * (1 - 1e-9):  # 0.9995 x 10,000 is 4.9999999999994 in floating point
            needed = math.ceil(MIN_TAIL_RESAMPLES / (1 - self.confidence) - 1e-6)
            highest = 1 - MIN_TAIL_RESAMPLES / self.resamples
            raise UsageError(
                f"--confidence {self.confidence!r} with --resamples {self.resamples:,}: the interval's ends would "
                f"rest on {tail:.2g} resamples ((1 - confidence) x resamples), too few to give an interval at all "
                f"(at least {MIN_TAIL_RESAMPLES}); raise --resamples to {needed:,} or more, or lower --confidence to "
                f"{highest:.6g} or less"
            )
        return self


def check_confidence(confidence: object) -> float:
    """A confidence level in [MIN_CONFIDENCE, MAX_CONFIDENCE] (whether the resamples can resolve it is
    `StatsSettings.check`'s question)."""
    ok = isinstance(confidence, (int, float)) and not isinstance(confidence, bool)
    if not ok or not MIN_CONFIDENCE <= confidence <= MAX_CONFIDENCE:  # type: ignore[operator]
        raise UsageError(
            f"--confidence {confidence!r}: give a level in [{MIN_CONFIDENCE}, {MAX_CONFIDENCE}], e.g. 0.95; past "
            f"{MAX_CONFIDENCE} no bootstrap interval has ends to speak of"
        )
    return float(confidence)  # type: ignore[arg-type]


def interval_warning(n_queries: int) -> str | None:
    """A sentence for reports when `n_queries` is too few for intervals and paired tests to mean anything."""
    if n_queries >= MIN_QUERIES_FOR_INTERVALS:
        return None
    return (
        f"Only {n_queries} evaluated quer{'y' if n_queries == 1 else 'ies'}: bootstrap intervals and paired tests need "
        f"at least {MIN_QUERIES_FOR_INTERVALS} to mean anything (with one query every interval is a point and p = 1), "
        "so the lower-bound and non-inferior rules act like point here. Judge more queries."
    )


def check_bootstrap_memory(resamples: int, columns: int) -> None:
    """Refuse, before any work, a bootstrap whose resample means (and their sorted copy) exceed the memory free."""

    needed = 2 * resamples * columns * 8
    available = available_memory()
    if available is not None and needed > available:
        fits = max(0, available // (2 * columns * 8))
        raise MrlEvalError(
            f"--resamples {resamples}: the bootstrap of {columns} columns (dims x metrics, and their deltas) needs "
            f"{needed / 1024**3:.1f} GiB but {available / 1024**3:.1f} GiB is free; give --resamples {fits:,} or "
            "fewer, or sweep fewer dims or metrics"
        )


def _blocks(n: int, resamples: int) -> list[int]:
    per = max(1, _BLOCK_CELLS // max(n, 1))
    return [min(per, resamples - start) for start in range(0, resamples, per)]


def bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(resamples, m) means of `values` (n, m) over query resamples drawn with replacement."""
    n = values.shape[0]
    rng = np.random.default_rng(seed)
    out = []
    for size in _blocks(n, resamples):
        picks = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        counts = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n).astype(values.dtype)
        out.append(counts @ values / n)
    return np.concatenate(out)


def _norm_ppf(p: np.ndarray) -> np.ndarray:
    """Standard normal quantiles; the stdlib's, so that `recommend --from` need not import scipy."""
    flat = [_STD_NORMAL.inv_cdf(x) if 0 < x < 1 else (-np.inf if x <= 0 else np.inf) for x in np.ravel(p)]
    return np.reshape(np.array(flat, dtype=np.float64), np.shape(p))


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    flat = [_STD_NORMAL.cdf(x) if np.isfinite(x) else float(x > 0) for x in np.ravel(z)]
    return np.reshape(np.array(flat, dtype=np.float64), np.shape(z))


def confidence_intervals(
    values: np.ndarray, boot: np.ndarray, confidence: float, method: str = "bca"
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (m,) for the mean of each column of `values` (n, m) from its bootstrap `boot`."""
    alpha = (1 - confidence) / 2
    n, m = values.shape
    theta = values.mean(axis=0)
    if method == "percentile" or n < 3:
        levels = np.tile([alpha, 1 - alpha], (m, 1))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            # The bias correction counts resamples tied with the estimate as half below, half above, as
            # scipy.stats.bootstrap does (percentileofscore's kind="mean"). Paired deltas near the full dim are
            # mostly zero, so ties are common there: counting only "<" pushes the lower bound down by a whole
            # step of the bootstrap distribution. Equal in exact arithmetic must count as equal here, whatever
            # the rounding of the two means, hence the tolerance.
            tol = 1e-12 * np.maximum(1.0, np.abs(theta))
            below = (boot < theta - tol).mean(axis=0)
            at_or_below = (boot <= theta + tol).mean(axis=0)
            z0 = _norm_ppf((below + at_or_below) / 2)
            leave_one_out = (values.sum(axis=0) - values) / (n - 1)
            d = leave_one_out.mean(axis=0) - leave_one_out
            accel = (d**3).sum(axis=0) / (6 * ((d**2).sum(axis=0)) ** 1.5)
            z = _norm_ppf(np.array([alpha, 1 - alpha]))[None, :]
            levels = _norm_cdf(z0[:, None] + (z0[:, None] + z) / (1 - accel[:, None] * (z0[:, None] + z)))
        # Where BCa is undefined (a constant column, or every resample on one side), fall back to percentile.
        bad = ~np.isfinite(levels).all(axis=1)
        levels[bad] = [alpha, 1 - alpha]
    ordered = np.sort(boot, axis=0)
    r = boot.shape[0]
    low = np.empty(m)
    high = np.empty(m)
    for j in range(m):
        low[j], high[j] = np.interp(levels[j] * (r - 1), np.arange(r), ordered[:, j])
    constant = np.ptp(values, axis=0) == 0
    low[constant] = high[constant] = theta[constant]
    return low, high


def paired_p_values(deltas: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Two-sided sign-flip randomization test of mean(delta) = 0 for each column of `deltas` (n, m)."""
    n = deltas.shape[0]
    observed = np.abs(deltas.mean(axis=0))
    tolerance = 1e-12 * np.maximum(1.0, observed)  # equal means must count as "at least as extreme"
    rng = np.random.default_rng(seed + 1)
    extreme = np.zeros(deltas.shape[1], dtype=np.int64)
    for size in _blocks(n, resamples):
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2 - 1
        flipped = np.abs(signs @ deltas) / n
        extreme += (flipped >= observed - tolerance).sum(axis=0)
    return (1 + extreme) / (1 + resamples)


@dataclass(frozen=True)
class MetricStats:
    """One metric at one dim: the mean's CI, and the paired delta from the full dim with its CI and p-value."""

    ci: tuple[float, float]
    delta: float
    delta_ci: tuple[float, float]
    p_value: float


def summarize(
    per_query: dict[int, dict[str, dict[str, float]]],
    full_dim: int,
    query_ids: Sequence[str],
    settings: StatsSettings,
) -> dict[int, dict[str, MetricStats]]:
    """Statistics for every dim and metric over `query_ids` (all evaluated queries, or a held-out part)."""
    dims = sorted(per_query)
    metrics = list(per_query[full_dim])
    columns = [(d, m) for d in dims for m in metrics]
    values = np.array([[per_query[d][m][q] for d, m in columns] for q in query_ids], dtype=np.float64)
    full = np.array([[per_query[full_dim][m][q] for _, m in columns] for q in query_ids], dtype=np.float64)
    deltas = values - full
    both = np.concatenate([values, deltas], axis=1)
    check_bootstrap_memory(settings.resamples, both.shape[1])
    boot = bootstrap_means(both, settings.resamples, settings.seed)
    low, high = confidence_intervals(both, boot, settings.confidence, settings.method)
    p = paired_p_values(deltas, settings.resamples, settings.seed)
    k = len(columns)
    out: dict[int, dict[str, MetricStats]] = {d: {} for d in dims}
    for j, (d, m) in enumerate(columns):
        out[d][m] = MetricStats(
            ci=(float(low[j]), float(high[j])),
            delta=float(deltas[:, j].mean()),
            delta_ci=(float(low[k + j]), float(high[k + j])),
            p_value=float(p[j]),
        )
    return out


def holdout_split(query_ids: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A random split of the queries: `fraction` of them to choose the dim, the rest to check it."""
    if not 0 < fraction < 1:
        raise UsageError(f"--holdout {fraction:g}: give the share of queries used to choose, in (0, 1), e.g. 0.5")
    order = np.random.default_rng(seed).permutation(len(query_ids))
    n_select = int(round(fraction * len(query_ids)))
    if n_select < 2 or len(query_ids) - n_select < 2:
        raise UsageError(f"--holdout {fraction:g}: {len(query_ids)} queries leave too few on one side")
    select = sorted(order[:n_select].tolist())
    test = sorted(order[n_select:].tolist())
    return [query_ids[i] for i in select], [query_ids[i] for i in test]
