"""Write the bounds table of docs/input-checks.md from mrl_eval/limits.py, so the page cannot drift from the code.

    .venv/bin/python scripts/make_input_bounds.py   # rewrites the block between the bounds markers

tests/test_input_checks.py checks that the page holds what this script writes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mrl_eval import limits as L  # noqa: E402

PAGE = ROOT / "docs" / "input-checks.md"
START, END = "<!-- bounds:start (scripts/make_input_bounds.py) -->", "<!-- bounds:end -->"


def bounds_lines() -> list[str]:
    cell_mb = 2 * L.MAX_RESAMPLES * 8 // 10**6
    return [
        "| input | accepted | why this bound |",
        "|---|---|---|",
        f"| `--resamples` | {L.MIN_RESAMPLES:,} to {L.MAX_RESAMPLES:,} | the resample means are a float64 matrix of "
        f"resamples x (2 x dims x metrics), {cell_mb} MB per dim and metric at the upper bound, held twice while the "
        "intervals sort it; a run is also refused, before it starts, when that would not fit in the memory free |",
        f"| `--seed` | {L.MIN_SEED} to 2^63-1 ({L.MAX_SEED:,}) | an int64, exact in every JSON reader |",
        f"| `--confidence` | {L.MIN_CONFIDENCE} to {L.MAX_CONFIDENCE}, and (1 - confidence) x `--resamples` at least "
        f"{L.MIN_TAIL_RESAMPLES} | an interval's ends are the resample means (1 - confidence) / 2 from each end: with "
        "fewer resamples out there, they are the most extreme resamples, an interval of nearly 100% whatever the level "
        "asked (0.9999999999999999 gave exactly that) |",
        f"| `--batch-size` | 1 to {L.MAX_BATCH_SIZE:,} | past this a batch no longer fits a GPU at typical text lengths |",
        f"| `--concurrency` | 1 to {L.MAX_CONCURRENCY} | API servers refuse far fewer requests in flight |",
        f"| `--max-retries` | 0 to {L.MAX_RETRIES} | backoff capped at a minute: {L.MAX_RETRIES} retries wait over an hour |",
        f"| `--timeout` | above 0 to {L.MAX_TIMEOUT_S:,} seconds | a socket timeout must fit a C timeval; no working "
        "server takes a day to answer |",
        f"| `--scale` | 1 to {L.MAX_SCALE:.0e} documents | a projection past that means nothing |",
        f"| whole numbers in option text (`--dims`, the K of `ndcg@K`, `--shortlist`, `--two-stage`, "
        f"`--pca-fit-sample`) | at most {L.MAX_DIGITS} digits | an int64; Python refuses to convert 4,301 digits |",
        f"| relevance grades in qrels | {L.MIN_GRADE:,} to {L.MAX_GRADE:,} | trec_eval reads a C long; sums of "
        "grades stay exact |",
        "| the K of a metric (`recall@K`) | any K from 1 (up to the digit limit) | the ranking stops at the corpus "
        "size, so a K past it costs no more than the corpus; precision@K still divides by K, as trec_eval's P.k |",
        f"| a saved report (`--from`, `--baseline`, `compare`'s runs) | a regular file of at most {_size(L.MAX_REPORT_BYTES)} "
        "| it is read whole: per-query values of 100,000 queries x 10 dims x 5 metrics take about 150 MB; a device "
        "(`/dev/zero`), a pipe or a folder is refused by name |",
        f"| the config file (`--config`, `mrl-eval.toml`, `pyproject.toml`) | a regular file of at most "
        f"{_size(L.MAX_CONFIG_BYTES)} | read whole, as the report |",
        f"| a report-swap journal (`.<stem>.swap`) | a regular file of at most {_size(L.MAX_JOURNAL_BYTES)} | it names "
        "a folder and a few file names |",
    ]


def _size(n: int) -> str:
    return f"{n >> 30} GiB" if n >= 1 << 30 else f"{n >> 20} MiB"


def replace_block(text: str) -> str:
    block = f"{START}\n" + "\n".join(bounds_lines()) + f"\n{END}"
    new, n = re.subn(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    if n != 1:
        sys.exit(f"{PAGE} needs exactly one {START} ... {END} block")
    return new


if __name__ == "__main__":
    PAGE.write_text(replace_block(PAGE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {PAGE}")
