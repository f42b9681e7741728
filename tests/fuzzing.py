"""Shared pieces of the property-based suite (test_fuzz_data.py, test_fuzz_options.py): example budgets, the one
property (a valid result or MrlEvalError, promptly), per-example folders, and the hostile text strategies.

Everything a user hands mrl-eval must either give a valid result or raise MrlEvalError (UsageError included), and do
so promptly; anything else (a foreign exception, a traceback, a hang) is a bug, and each one found gets a regression
test in test_input_checks.py named after it. Examples are derandomized (the "ci" profile in conftest.py), so the suite
runs the same examples everywhere; `HYPOTHESIS_PROFILE=explore` draws 20x more, at random.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from mrl_eval.errors import MrlEvalError

SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else 1
SECONDS_PER_EXAMPLE = 120  # far above any honest example (milliseconds, seconds on a loaded machine): only a hang


def examples(n: int) -> settings:
    return settings(max_examples=n * SCALE)


@contextlib.contextmanager
def promptly(seconds: int = SECONDS_PER_EXAMPLE) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the body runs longer than `seconds`."""

    def timeout(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer within {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def valid_or_refused(call: Callable[[], Any]) -> Any:
    """The call's result, or None when it raised MrlEvalError; any other exception fails the test."""
    with promptly():
        try:
            return call()
        except MrlEvalError as err:
            assert str(err).strip(), "an error without a message"
            return None


@contextlib.contextmanager
def workdir(enter: bool = False) -> Iterator[Path]:
    """A fresh folder per example (pytest's tmp_path is one per test, shared by all its examples); `enter`: cd there."""
    with tempfile.TemporaryDirectory(prefix="mrl-eval-fuzz-") as name:
        before = Path.cwd()
        if enter:
            os.chdir(name)
        try:
            yield Path(name)
        finally:
            os.chdir(before)


# --- strategies ---------------------------------------------------------------------------------------------------

# Characters that have broken parsers before: separators, quotes, line breaks str.splitlines() knows, NUL, a BOM,
# non-ASCII digits that \d matches, signs and exponents.
TRICKY = list("ab01 9-+.eE%@,;:\t\"'\\{}[]#=") + [
    "\n",
    "\r",
    "\u2028",
    "\x85",
    "\x1c",
    "\x00",
    "\ufeff",
    "é",
    "٣",
    "１",
]
tricky_text = st.text(alphabet=st.sampled_from(TRICKY), max_size=24)
any_text = st.one_of(tricky_text, st.text(max_size=24))
# 19 digits: past int64; 309: past float64 (inf); 4,301: past what int() converts at all.
long_digits = st.sampled_from([19, 20, 309, 400, 4301, 5000]).map(lambda n: "9" * n)
number_text = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    long_digits,
    st.sampled_from(["2e400", "1e-400", "nan", "inf", "-0", "0x10", "1_000", " 7 ", "+3", "٣", "１"]),
)
some_bytes = st.binary(max_size=200)
