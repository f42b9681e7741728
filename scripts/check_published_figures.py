"""Check that mrl-eval reproduces published figures of full collections; prints OK or FAIL per figure.

    .venv/bin/python scripts/check_published_figures.py      # exit 1 if any figure is not reproduced

The test suite runs on the small collections in tests/data and compares with independent oracles; a figure that
someone else published for a whole collection can only be checked on that collection, which lives in the
maintainers' ../shared/datasets (precomputed vectors, no model run). Each figure names its source.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


@dataclass(frozen=True)
class Figure:
    collection: str
    model: str
    metric: str
    published: float  # as published, rounded to `digits`
    digits: int
    source: str


FIGURES = [
    Figure(
        "scifact",
        "all-minilm-l6-v2",
        "ndcg@10",
        0.6451,
        4,
        "MTEB leaderboard, SciFact test, sentence-transformers/all-MiniLM-L6-v2: main score 64.51",
    ),
]


def check(figure: Figure) -> tuple[bool, str]:
    """One `mrl-eval sweep --json` on the collection's precomputed vectors (the CLI: the interface users run)."""
    folder = SHARED / figure.collection
    embeddings = folder / "embeddings" / figure.model
    if not embeddings.is_dir():
        return False, f"{embeddings} not found (the figure needs the full collection in ../shared/datasets)"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "mrl_eval", "sweep", str(folder), "--embeddings", str(embeddings)]
        cmd += ["--metrics", figure.metric, "--resamples", "100", "--out", tmp, "--json"]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "XDG_CACHE_HOME": tmp})
    if done.returncode != 0:
        return False, f"mrl-eval sweep failed ({done.returncode}): {done.stderr.strip()[-500:]}"
    full = json.loads(done.stdout)["results"][-1]
    ours = round(full["metrics"][figure.metric], figure.digits)
    what = f"{figure.collection} / {figure.model} {figure.metric} at {full['dim']} d: {ours:.{figure.digits}f}"
    return ours == figure.published, f"{what}, published {figure.published} ({figure.source})"


def main() -> int:
    failed = 0
    for figure in FIGURES:
        ok, line = check(figure)
        print(f"{'OK  ' if ok else 'FAIL'} {line}")
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
