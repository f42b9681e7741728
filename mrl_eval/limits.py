"""The bounds of numeric inputs, in one place (no imports: the CLI's option declarations read them at start-up).

Each bound follows from memory or time, not taste; docs/input-checks.md gives the reasoning to users.
"""

from __future__ import annotations

from mrl_eval.errors import UsageError

# Bootstrap and randomization-test resamples. The resample means are a (resamples x 2 * cells) float64 matrix,
# sorted once more for the intervals: at the upper bound, 16 MB per cell (dim x metric), and a run of a million
# resamples already resolves p-values to 1e-6. The lower bound keeps a 95% interval from resting on a handful of
# resamples.
MIN_RESAMPLES, MAX_RESAMPLES = 100, 1_000_000

# numpy's SeedSequence takes any non-negative integer; an int64 keeps the seed exact in every JSON reader that
# parses integers as int64 (ranx, pandas, DuckDB).
MIN_SEED, MAX_SEED = 0, 2**63 - 1

# Relevance grades: trec_eval reads them as a C long, and the metric code keeps them in int64 arrays. A grade
# within 32 bits leaves the sums of many grades (ideal DCG) exact in int64 and float64.
MIN_GRADE, MAX_GRADE = -(2**31), 2**31 - 1

# Texts per model batch and requests in flight: past these the batch no longer fits a GPU's memory at typical text
# lengths, and an API server refuses the concurrency long before.
MAX_BATCH_SIZE = 65_536
MAX_CONCURRENCY = 256
# Retries of one request: exponential backoff capped at a minute makes 100 retries well over an hour of waiting.
MAX_RETRIES = 100
# Seconds to wait for one answer: a socket timeout must fit a C timeval, and a day is past any server still working.
MAX_TIMEOUT_S = 86_400

# Whole numbers written in option text (dims, cutoffs, shortlists, sample sizes): an int64 holds any 18 digits, and
# Python's int() refuses strings of more than 4,300 digits outright.
MAX_DIGITS = 18


def whole_number(text: str, flag: str) -> int:
    """int(text) for a string of decimal digits already matched by the caller's pattern; more digits than
    MAX_DIGITS (past leading zeros) is a usage error naming `flag`, not a ValueError or a 5,000-digit message."""

    if len(text.strip().lstrip("+-").lstrip("0")) > MAX_DIGITS:
        shown = text.strip()[:24] + "..."
        raise UsageError(f"{flag}: {shown!r} is too large (more than {MAX_DIGITS} digits)")
    return int(text)


# --scale projects storage to corpus sizes: past a quadrillion documents the projection means nothing.
MAX_SCALE = 1e15

# Bootstrap intervals: an interval's ends are quantiles of the resample means, at (1 - confidence) / 2 from each end.
# When (1 - confidence) x resamples is below a handful, each end is one of the few most extreme resamples (the
# interval degenerates into the range of the resamples, a "100%" interval that lower-bound rules would rest on);
# past 0.9999 no --resamples within the bound keeps enough resamples in the tails.
MIN_CONFIDENCE, MAX_CONFIDENCE = 0.5, 0.9999
MIN_TAIL_RESAMPLES = 5

# Files mrl-eval reads whole (files.read_limited): a larger one is refused before it is read, so that /dev/zero or a
# stray multi-gigabyte file ends in a message, not a MemoryError. A saved report with per-query values of 100,000
# queries x 10 dims x 5 metrics is about 150 MB.
MAX_REPORT_BYTES = 1 << 30
MAX_CONFIG_BYTES = 16 << 20
MAX_JOURNAL_BYTES = 1 << 20
