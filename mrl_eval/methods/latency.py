"""Scan latency of a cell and the machine it was measured on: a relative figure, not a product benchmark.

A brute-force exact scan of ONE query over the cell's stored codes plus an np.argpartition top-k, with the
fastest kernel plain numpy has for each precision: float32 `docs @ q` (BLAS); float16 and int8: numpy has no BLAS
for them, so codes are upcast to float32 in cache-sized chunks inside the timed region and multiplied with BLAS
(int8 against q * vdiff / 255: the decoded dot product up to a per-query constant, which leaves the top k
unchanged); binary: xor + popcount over packed words. The codes are made for at most `SAMPLE_BYTES` of the corpus
(bounded memory at any corpus size) and the median time is scaled to the whole corpus by its row count: a scan is
linear in it.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from mrl_eval.methods.cell_search import bit_words, popcount
from mrl_eval.methods.precision import Codec, blocks, bytes_per_vector, normalised

SAMPLE_BYTES = 256 * 1024**2


def _scan_kernel(codes: np.ndarray, codec: Codec, k: int) -> Callable[[np.ndarray], np.ndarray]:
    """A full exact scan of one (prepared) query plus top-k selection, with everything reusable prepared outside."""
    n = codes.shape[0]
    if codec.precision == "binary":
        words = bit_words(codes)

        def scan(q: np.ndarray) -> np.ndarray:
            return np.argpartition(popcount(np.bitwise_xor(words, q)).sum(axis=1, dtype=np.int32), k - 1)[:k]

        return scan
    if codec.precision == "float32":

        def scan(q: np.ndarray) -> np.ndarray:
            return np.argpartition(-(codes @ q), k - 1)[:k]

        return scan
    step = max(1, (4 * 1024**2) // (4 * codes.shape[1]))
    buffer = np.empty((min(step, n), codes.shape[1]), np.float32)
    out = np.empty(n, np.float32)

    def scan(q: np.ndarray) -> np.ndarray:
        for s, e in blocks(n, step):
            chunk = buffer[: e - s]
            chunk[...] = codes[s:e]
            np.matmul(chunk, q, out=out[s:e])
        return np.argpartition(-out, k - 1)[:k]

    return scan


def _prepared_queries(queries: np.ndarray, codec: Codec) -> np.ndarray:
    q = normalised(queries, codec.dim)
    if codec.precision == "binary":
        return bit_words(codec.encode(q))
    if codec.precision == "int8":
        assert codec.vdiff is not None
        return (q * (codec.vdiff / np.float32(255))).astype(np.float32)
    return q


def scan_latency(
    queries: np.ndarray, docs: np.ndarray, codec: Codec, k: int = 10, repeats: int = 5, n_queries: int = 8
) -> float:
    """Median seconds for an exact scan of ONE query against the whole corpus `docs` stored as `codec` says.

    Up to `n_queries` queries, `repeats` times each, after one untimed warm-up; measured on the first rows of the
    corpus that fit SAMPLE_BYTES of codes and scaled by the corpus's row count.
    """
    n = docs.shape[0]
    if n == 0 or queries.shape[0] == 0:
        return 0.0
    rows = max(1, min(n, SAMPLE_BYTES // bytes_per_vector(codec.dim, codec.precision)))
    codes = np.empty((rows, codec.width), codec.encode(np.zeros((1, codec.dim), np.float32)).dtype)
    for s, e in blocks(rows, max(1, (64 * 1024**2) // (8 * docs.shape[1]))):
        codes[s:e] = codec.encode(normalised(np.asarray(docs[s:e]), codec.dim))
    scan = _scan_kernel(codes, codec, max(1, min(k, rows)))
    prepared = _prepared_queries(np.asarray(queries[:n_queries]), codec)
    with _one_blas_thread():  # one query is a matrix-vector product: threads add wake-up noise, not speed
        scan(prepared[0])  # warm-up
        timings = []
        for q in prepared:
            for _ in range(repeats):
                t0 = time.perf_counter()
                scan(q)
                timings.append(time.perf_counter() - t0)
    return float(statistics.median(timings)) * n / rows


def _one_blas_thread():
    """Limit BLAS to one thread where threadpoolctl is installed (it comes with scikit-learn, an mteb dependency)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _blas() -> str | None:
    try:
        config = np.show_config(mode="dicts")  # numpy >= 2; returns without printing
        blas = config["Build Dependencies"]["blas"]
        return " ".join(str(blas[key]) for key in ("name", "version") if blas.get(key)) or None
    except Exception:  # older numpy, or a build without the section: the name is a nicety
        return None


def machine() -> dict:
    """JSON-able description of this machine, for the report next to the latency figures."""
    return {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "blas": _blas(),
    }
