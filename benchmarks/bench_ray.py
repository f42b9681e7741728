"""Exact scoring on a local Ray cluster with 1 and 2 worker CPUs against one process, on synthetic vectors.

    .venv/bin/python benchmarks/run_all.py --only bench_ray

A 200k x 768 float16 corpus on disk (memory-mapped, as mrl-eval reads `--embeddings`), 300 queries, k = 100,
dims 64, 128, 256, 768. Measured in one process: `retrieval.search` (what `sweep` runs on one machine), then
`ray_search.search_on_ray` on a local cluster started with `num_cpus=1` and with `num_cpus=2` (cluster start-up
timed apart), checking each time that the rankings equal the one-process rankings.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
N_DOCS, DIM, N_QUERIES, K = 200_000, 768, 300, 100
DIMS = [64, 128, 256, 768]


def _corpus(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    path = folder / "corpus.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(N_DOCS, DIM))
    for start in range(0, N_DOCS, 50_000):
        out[start : start + 50_000] = rng.normal(size=(min(50_000, N_DOCS - start), DIM)).astype(np.float16)
    out.flush()
    del out
    queries = rng.normal(size=(N_QUERIES, DIM)).astype(np.float32)
    return np.load(path, mmap_mode="r"), queries


def _verdict(rows: list[tuple[str, ...]]) -> str:
    """What the measured speeds say, in words (the numbers decide, not the expectation)."""
    two = float(rows[-1][3].rstrip("x"))
    if two >= 1.1:
        return (
            f"On this machine the 2-CPU cluster scored {two:.2f}x as fast as one process: the one-process search did "
            "not keep both cores busy here (its per-dim passes over each score block run on one core), while the "
            "tasks did. Start-up is paid once per run."
        )
    return (
        f"On this machine the 2-CPU cluster reached {two:.2f}x the one-process speed: one process already keeps the "
        "cores busy, so what Ray buys is more machines."
    )


def main() -> str:
    from mrl_eval.evaluate.ray_search import RaySettings, cluster, search_on_ray
    from mrl_eval.evaluate.retrieval import search, tie_key

    with tempfile.TemporaryDirectory() as tmp:
        docs, queries = _corpus(Path(tmp))
        key = tie_key([f"d{i}" for i in range(N_DOCS)])
        started = time.perf_counter()
        reference = search(queries, docs, DIMS, K, key)
        one_process = time.perf_counter() - started
        rows = [("one process (numpy, this machine's BLAS threads)", "", f"{one_process:.1f}", "1.00x", "")]
        for cpus in (1, 2):
            settings = RaySettings(enabled=True, num_cpus=cpus)
            started = time.perf_counter()
            with cluster(settings):
                startup = time.perf_counter() - started
                started = time.perf_counter()
                ranked = search_on_ray(queries, docs, DIMS, K, key, settings)
                seconds = time.perf_counter() - started
            same = all(np.array_equal(ranked[d].doc_index, reference[d].doc_index) for d in DIMS)
            rows.append(
                (
                    f"local Ray cluster, {cpus} worker CPU{'s' if cpus > 1 else ''}",
                    f"{startup:.0f}",
                    f"{seconds:.1f}",
                    f"{one_process / seconds:.2f}x",
                    "yes" if same else "NO",
                )
            )
    lines = [
        "## Exact scoring on Ray",
        "",
        f"{N_DOCS:,} x {DIM} float16 documents (memory-mapped), {N_QUERIES} queries, k = {K}, dims "
        f"{', '.join(map(str, DIMS))}; scoring time of every dim in one pass, cluster start-up apart.",
        "",
        "| where | cluster start-up (s) | scoring (s) | speed vs one process | rankings identical |",
        "|---|---:|---:|---:|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        "A task per corpus shard, about two per worker CPU; shards travel through Ray's object store. "
        + _verdict(rows),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
