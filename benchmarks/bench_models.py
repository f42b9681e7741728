"""Several models in one run: the scoring and reports of one 2-model run against two 1-model runs, from vectors
already at hand (precomputed, as a warm cache gives them), so the embedding passes are out of the comparison.

Target (issue 24): a 2-model run costs at most 10% more than the two 1-model runs (the cross-model comparison:
every cell of both models against one reference, the frontier, one report).

`MRL_EVAL_SHARED` points at the shared datasets (default: ../shared/datasets beside the checkout).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("MRL_EVAL_SHARED", ROOT.parent / "shared" / "datasets"))
COLLECTION = "scifact"
MODELS = ("all-minilm-l6-v2", "embeddinggemma-300m")
SETTINGS = {"dims": "64,128,256", "precisions": "float32,int8,binary"}
REPEATS = 3


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> str:
    import mrl_eval

    folder = SHARED / COLLECTION
    embeddings = [folder / "embeddings" / m for m in MODELS]
    mrl_eval.sweep(folder, embeddings=embeddings[0], dims="64", resamples=200)  # compile, warm the files

    def singles(out: Path) -> None:
        for e in embeddings:
            mrl_eval.sweep(folder, embeddings=e, **SETTINGS).save(out / e.name)

    def together(out: Path) -> None:
        mrl_eval.sweep(folder, embeddings=embeddings, **SETTINGS).save(out / "both")

    one, two = [], []
    for _ in range(REPEATS):  # alternated, so a slow spell of the machine hits both
        with tempfile.TemporaryDirectory() as tmp:
            one.append(_timed(lambda: singles(Path(tmp))))
        with tempfile.TemporaryDirectory() as tmp:
            two.append(_timed(lambda: together(Path(tmp))))
    a, b = statistics.median(one), statistics.median(two)
    return "\n".join(
        [
            "## Several models in one run",
            "",
            f"{COLLECTION} ({', '.join(MODELS)}; precomputed vectors, so no embedding), `--dims {SETTINGS['dims']} "
            f"--precisions {SETTINGS['precisions']}`, 10,000 resamples, reports with charts written; median of "
            f"{REPEATS} runs each, alternated.",
            "",
            "| | seconds |",
            "|---|---:|",
            f"| two 1-model runs (sweep + reports each) | {a:.1f} |",
            f"| one 2-model run (sweep + cross-model comparison + one report set, one chart) | {b:.1f} |",
            f"| ratio (target at most 1.10) | {b / a:.2f} |",
            "",
        ]
    )


if __name__ == "__main__":
    print(main())
