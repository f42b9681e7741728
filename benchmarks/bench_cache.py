"""The embedding cache's checks: what writing shards, assembling the matrix and a fully cached rerun cost, against a
plain read of the same bytes (the floor any scoring pays anyway).

.venv/bin/python benchmarks/run_all.py --only bench_cache
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

N_DOCS, DIM, BATCH = 100_000, 768, 2048


class SyntheticProvider:
    """Rows drawn once; `embed` only hands them out, so the timings are the cache's."""

    name, model, fingerprint, full_dim = "synthetic", "bench", "bench", DIM

    def __init__(self, rows: np.ndarray, index: dict[str, int]) -> None:
        self.rows, self.index = rows, index

    def prompt(self, role: str) -> str:
        return ""

    def embed_batches(self, texts, role):
        for start in range(0, len(texts), BATCH):
            positions = list(range(start, min(start + BATCH, len(texts))))
            yield positions, self.rows[[self.index[texts[i]] for i in positions]]


def _seconds(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> str:
    from mrl_eval.data.cache import embed_cached

    texts = [f"document {i}" for i in range(N_DOCS)]
    rows = np.random.default_rng(0).standard_normal((N_DOCS, DIM)).astype(np.float32)
    provider = SyntheticProvider(rows, {t: i for i, t in enumerate(texts)})
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        first, (matrix, _) = _seconds(lambda: embed_cached(provider, texts, "document", cache))
        (path,) = cache.rglob("matrix-*.npy")
        del matrix
        rerun, (matrix, n) = _seconds(lambda: embed_cached(provider, texts, "document", cache))
        assert n == 0
        del matrix

        def plain_read() -> int:
            total = 0
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 24):
                    total += len(chunk)
            return total

        floor, _ = _seconds(plain_read)
        size_mb = path.stat().st_size / 1e6
    load = os.getloadavg()[0]  # the times scale with it on a shared machine
    return (
        "## Embedding cache: writing, assembling and checking\n\n"
        f"Synthetic float32 vectors, {N_DOCS:,} texts x {DIM} ({size_mb:,.0f} MB), handed out in requests of {BATCH:,} "
        "by a provider that computes nothing, so the times are the cache's. A fully cached rerun opens the cache "
        "(reads every shard's keys) and checks the assembled matrix against the sha256 in its name before it is "
        "memory-mapped; the plain read is the same file read once, which scoring pays anyway. All reads hit a warm page cache. "
        f"Load average at the end of the run: {load:.1f} on {os.cpu_count()} cores.\n\n"
        "| step | seconds |\n|---|---:|\n"
        f"| first run: write {-(-N_DOCS // BATCH)} shards, then assemble and check the matrix | {first:.2f} |\n"
        f"| fully cached rerun: open, check, memory-map | {rerun:.2f} |\n"
        f"| plain read of the matrix file (floor) | {floor:.2f} |\n"
    )


if __name__ == "__main__":
    print(main())
