"""Peak memory of the grid at 1M x 1024: precisions and PCA must stay within the vectors plus 1.5 GB, as the sweep.

    .venv/bin/python benchmarks/run_all.py --only bench_grid_memory
    MRL_EVAL_BENCH_DOCS=100000 .venv/bin/python benchmarks/bench_grid_memory.py   # a quicker, smaller run

A synthetic float16 corpus on disk (the generator of bench_scoring), 300 queries. Two whole CLI runs, each in its own
child process that records its own peak resident set (`getrusage(RUSAGE_SELF).ru_maxrss` at exit; pages of the
memory-mapped vector file count while they are resident):
- `mrl-eval sweep --embeddings DIR --dims 128,512` (the plain sweep, the reference), and
- the same with `--precisions float32,int8,binary --compare pca` (the grid: 3 dims x 3 precisions x 2 methods,
  the PCA fit, the projected corpus in a temporary file, int8 ranges, scan latencies, statistics, reports).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scoring import DIM, make_corpus  # noqa: E402

N_DOCS = int(os.environ.get("MRL_EVAL_BENCH_DOCS", 1_000_000))
N_QUERIES = 300
DIMS = "128,512"
GRID = ["--precisions", "float32,int8,binary", "--compare", "pca"]
BOUND_GB = 1.5

# Runs the CLI in this child process and writes its own peak RSS (KiB on Linux) to the file named in argv[1].
CHILD = (
    "import atexit, resource, sys\n"
    "out = sys.argv[1]\n"
    "atexit.register(lambda: open(out, 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))\n"
    "sys.argv = ['mrl-eval', *sys.argv[2:]]\n"
    "from mrl_eval.cli import main\n"
    "main()\n"
)


def peak_of(folder: Path, extra: list[str], name: str) -> tuple[float, float]:
    """(peak RSS in GB, wall seconds) of one `mrl-eval sweep` in a child process."""
    record = folder / f"{name}.maxrss"
    args = ["sweep", "--qrels", str(folder / "qrels.tsv"), "--embeddings", str(folder), "--dims", DIMS]
    args += ["--out", str(folder / name), "--json", *extra]
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", CHILD, str(record), *args],
        check=True,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    wall = time.perf_counter() - start
    return int(record.read_text()) / 1024**2, wall


def main() -> str:
    with tempfile.TemporaryDirectory(dir=os.environ.get("MRL_EVAL_BENCH_TMP")) as tmp:
        folder = Path(tmp)
        make_corpus(folder, N_DOCS, n_queries=N_QUERIES)
        vectors_gb = (folder / "corpus.npy").stat().st_size / 1024**3
        sweep_peak, sweep_wall = peak_of(folder, [], "sweep")
        grid_peak, grid_wall = peak_of(folder, GRID, "grid")
    rows = []
    for what, peak, wall in (
        (f"`sweep --dims {DIMS}`", sweep_peak, sweep_wall),
        (f"`sweep --dims {DIMS} {' '.join(GRID)}`", grid_peak, grid_wall),
    ):
        over = peak - vectors_gb
        verdict = "met" if over < BOUND_GB else "missed"
        rows.append(f"| {what} | {peak:.2f} GB | {over:.2f} GB | {verdict} | {wall:.0f} s |")
    return "\n".join(
        [
            f"## Peak memory of the grid at {N_DOCS:,} x {DIM} (float16), {N_QUERIES} queries",
            "",
            f"Vectors on disk: {vectors_gb:.2f} GB, read through a memory map. Each command is a whole CLI run in its "
            "own child process (vectors checked, every cell scored, statistics, reports); the peak resident set is the "
            "kernel's, memory-mapped pages included. The grid scores 3 dims x (float32, int8, binary) x (prefix, PCA): "
            "codes are made per corpus chunk and the PCA-projected corpus goes to a temporary file read chunk by chunk.",
            "",
            f"| command | peak RSS | peak minus vectors | target: minus vectors < {BOUND_GB} GB | wall time |",
            "|---|---:|---:|---|---:|",
            *rows,
            "",
        ]
    )


if __name__ == "__main__":
    print(main())
