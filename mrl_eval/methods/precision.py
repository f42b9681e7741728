"""Storage precisions for truncated embeddings: float32, float16, int8 and binary codes of each prefix dim.

Every cell starts from the same place: cut to the first `dim` values, L2-normalise each row (in float64, then
float32; an all-zero row stays zero), then encode. int8 and binary are sentence-transformers' own
`quantize_embeddings` (int8 with per-dim min/max ranges fitted on the corpus and used for the queries too; binary
as packed sign bits), so the numbers describe what a user of that library would store.

Exact scores, exact ties (the philosophy of `retrieval.py`): a ranking must be a function of the codes alone, not of
how the corpus was blocked. The scores here are exact by construction, so any blocking, BLAS or summation order
gives bit-identical values:

- float16 codes are scored in float64. The product of two float16 values is exact in float64 (11 + 11 significand
  bits), and a multiple of 2**-48 (the square of float16's smallest subnormal). For (near-)unit vectors every
  partial sum is at most ~1 in magnitude (Cauchy-Schwarz on the absolute values), so it needs at most ~50 bits
  and float64 holds it exactly, in any summation order, with or without FMA.
- int8 codes are scored as the integer dot product of the codes, computed in float64: each product is at most
  2**14 and a few thousand of them sum far below 2**53, so every partial sum is an exact integer.
- binary codes score `dim - 2 * hamming`, the dot product of the +-1 sign vectors (the same ranking as smallest
  Hamming distance), counted in integers.
- float32 codes are scored in float64 for completeness, but that is NOT exact by construction (float32 products
  are exact in float64, their sums are not): the float32 cells of a sweep use `retrieval.search` instead.

Tie rule: as `retrieval.py` (trec_eval): equal scores are ordered by doc id descending, i.e. a higher `doc_key`
(`retrieval.tie_key`) wins.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mrl_eval.errors import UsageError
from mrl_eval.evaluate.retrieval import Ranking

PRECISIONS = ("float32", "float16", "int8", "binary")

# Budget for one temporary array (float64 rows, a queries x chunk score block): ~64 MiB.
BLOCK_BYTES = 64 * 1024**2

INT8_METHOD = "per-dim min/max over the corpus prefix (sentence-transformers quantize_embeddings, precision='int8')"
BINARY_METHOD = "sign bit (> 0), packed 8 per byte (sentence-transformers quantize_embeddings, precision='ubinary')"


def parse_precisions(spec: str | None) -> list[str]:
    """'float32,int8,binary' -> the named precisions in PRECISIONS order, each once; None -> ['float32']."""
    if spec is None:
        return ["float32"]
    tokens = [t.strip().lower() for t in spec.split(",") if t.strip()]
    if not tokens:
        raise UsageError(f"--precisions {spec!r}: name at least one of {', '.join(PRECISIONS)}, e.g. float32,int8")
    for token in tokens:
        if token not in PRECISIONS:
            raise UsageError(
                f"--precisions: {token!r} is not a precision; choose from {', '.join(PRECISIONS)} "
                "(comma-separated, e.g. float32,int8,binary)"
            )
    return [p for p in PRECISIONS if p in tokens]


def bytes_per_vector(dim: int, precision: str) -> int:
    """Storage of one vector's codes: float32 4*dim, float16 2*dim, int8 dim, binary ceil(dim/8)."""
    _check_precision(precision)
    return {"float32": 4 * dim, "float16": 2 * dim, "int8": dim, "binary": (dim + 7) // 8}[precision]


@dataclass(frozen=True)
class Quantized:
    """The codes of one (precision, dim) cell for the corpus and the queries."""

    precision: str
    dim: int
    docs: np.ndarray  # float32 / float16 / int8 (n, dim), or uint8 packed bits (n, ceil(dim/8)) for binary
    queries: np.ndarray  # same encoding
    calibration: dict  # JSON-able description of how the codes were fitted; {} where nothing was fitted
    # int8 only: the (2, dim) float32 per-dim [min, max] that `calibration` describes (not JSON: kept out of it)
    ranges: np.ndarray | None = field(default=None, repr=False)


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")


def _rows_per_block(dim: int) -> int:
    return max(1, BLOCK_BYTES // (8 * max(1, dim)))


def _normalised(block: np.ndarray, dim: int) -> np.ndarray:
    """Rows cut to `dim`, L2-normalised in float64, as float32; all-zero rows stay zero."""
    x = np.asarray(block[:, :dim], dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    np.divide(x, norms[:, None], out=x, where=norms[:, None] > 0)
    return x.astype(np.float32)


def _blocks(n: int, step: int):
    return ((s, min(n, s + step)) for s in range(0, n, step))


def _encode(x: np.ndarray, dim: int, encode: Callable[[np.ndarray], np.ndarray], dtype, width: int) -> np.ndarray:
    """Normalise and encode `x` block by block into one preallocated code array (bounded memory for memory maps)."""
    out = np.empty((x.shape[0], width), dtype=dtype)
    for s, e in _blocks(x.shape[0], _rows_per_block(dim)):
        out[s:e] = encode(_normalised(x[s:e], dim))
    return out


def _quantize_embeddings() -> tuple[Callable[..., np.ndarray], str]:
    """sentence-transformers' quantize_embeddings and the library's version, imported on first use (torch loads)."""
    import sentence_transformers

    try:  # sentence-transformers >= 6
        from sentence_transformers.util.quantization import quantize_embeddings
    except ImportError:  # 5.x
        from sentence_transformers.quantization import quantize_embeddings
    return quantize_embeddings, f"sentence-transformers {sentence_transformers.__version__}"


def _int8_ranges(docs: np.ndarray, dim: int, calibration_rows: np.ndarray | None) -> np.ndarray:
    """Per-dim [min, max] of the normalised corpus prefix (or of the given corpus rows), as a (2, dim) float32.

    This is what quantize_embeddings computes from `calibration_embeddings` (np.min / np.max over axis 0, which are
    exact and order-free); fitting it here, block by block, lets a memory-mapped corpus be quantised in blocks that
    all share the same ranges.
    """
    rows = None if calibration_rows is None else np.unique(np.asarray(calibration_rows, dtype=np.int64))
    n = docs.shape[0] if rows is None else rows.size
    if n == 0:
        raise ValueError("int8 calibration needs at least one corpus row")
    lo = np.full(dim, np.inf, np.float32)
    hi = np.full(dim, -np.inf, np.float32)
    for s, e in _blocks(n, _rows_per_block(dim)):
        block = _normalised(docs[s:e] if rows is None else docs[rows[s:e]], dim)
        np.minimum(lo, block.min(axis=0), out=lo)
        np.maximum(hi, block.max(axis=0), out=hi)
    return np.vstack((lo, hi))


def quantize_prefix(
    docs: np.ndarray,
    queries: np.ndarray,
    dim: int,
    precision: str,
    calibration_rows: np.ndarray | None = None,
) -> Quantized:
    """Codes of the normalised `dim`-prefix of `docs` and `queries` at `precision`.

    `docs` may be a read-only float16/float32 memory map: it is read in blocks of ~64 MiB of float64. int8 ranges
    are fitted on the corpus (all rows, or the rows `calibration_rows` indexes) and applied to the queries as well.
    """
    _check_precision(precision)
    if not 1 <= dim <= docs.shape[1] or queries.shape[1] < dim:
        raise ValueError(f"dim {dim} outside 1..{min(docs.shape[1], queries.shape[1])}")
    width = bytes_per_vector(dim, "binary") if precision == "binary" else dim
    calibration: dict = {}
    ranges = None
    if precision == "float32":
        dtype, encode = np.float32, (lambda x: x)
    elif precision == "float16":
        dtype, encode = np.float16, (lambda x: x.astype(np.float16))
    elif precision == "int8":
        quantize, library = _quantize_embeddings()
        ranges = _int8_ranges(docs, dim, calibration_rows)
        n_fit = docs.shape[0] if calibration_rows is None else int(np.unique(calibration_rows).size)
        calibration = {
            "method": INT8_METHOD,
            "fit_on": "corpus" if calibration_rows is None else "corpus sample",
            "n": n_fit,
            "library": library,
        }
        # Passing `ranges` (not `calibration_embeddings`) gives the same codes and lets every block share them.
        dtype, encode = np.int8, (lambda x: quantize(x, precision="int8", ranges=ranges))
    else:
        quantize, library = _quantize_embeddings()
        calibration = {"method": BINARY_METHOD, "library": library}
        dtype, encode = np.uint8, (lambda x: quantize(x, precision="ubinary"))
    return Quantized(
        precision=precision,
        dim=dim,
        docs=_encode(docs, dim, encode, dtype, width),
        queries=_encode(queries, dim, encode, dtype, width),
        calibration=calibration,
        ranges=ranges,
    )


# --- scoring -----------------------------------------------------------------------------------------------------

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")  # numpy >= 2


def _bit_words(codes: np.ndarray) -> np.ndarray:
    """Packed bits as uint64 words (zero-padded; zero bits xor to zero) where numpy can count them, else bytes."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if not _HAS_BITWISE_COUNT:
        return codes
    pad = -codes.shape[1] % 8
    if pad:
        codes = np.concatenate([codes, np.zeros((codes.shape[0], pad), np.uint8)], axis=1)
    return codes.view(np.uint64)


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x) if _HAS_BITWISE_COUNT else _POPCOUNT[x]


def _hamming(q_words: np.ndarray, d_words: np.ndarray) -> np.ndarray:
    """(m, n) int64 Hamming distances, in query blocks of bounded memory."""
    m, n = q_words.shape[0], d_words.shape[0]
    out = np.empty((m, n), np.int64)
    per_query = max(1, n * d_words.shape[1] * d_words.itemsize * 2)
    step = max(1, (BLOCK_BYTES // 2) // per_query)
    for s, e in _blocks(m, step):
        x = np.bitwise_xor(q_words[s:e, None, :], d_words[None, :, :])
        np.sum(_popcount(x), axis=2, dtype=np.int64, out=out[s:e])
    return out


def _prepare(codes: np.ndarray, precision: str) -> np.ndarray:
    """Queries in the form `_score_block` consumes."""
    if precision == "binary":
        return _bit_words(codes)
    return np.ascontiguousarray(codes, dtype=np.float64)


def _score_block(q: np.ndarray, doc_codes: np.ndarray, precision: str, dim: int) -> np.ndarray:
    if precision == "binary":
        return (dim - 2 * _hamming(q, _bit_words(doc_codes))).astype(np.float64)
    return q @ np.asarray(doc_codes, dtype=np.float64).T  # exact for float16 and int8 codes (module docstring)


def scores(query_codes: np.ndarray, doc_codes: np.ndarray, precision: str, dim: int) -> np.ndarray:
    """(m, n) float64 similarities, larger is better; exact and independent of blocking for float16, int8, binary.

    float16 / float32: dot product in float64 (exact for float16 only, see the module docstring); int8: integer
    dot product of the codes; binary: dim - 2 * hamming.
    """
    _check_precision(precision)
    q = _prepare(query_codes, precision)
    n = doc_codes.shape[0]
    out = np.empty((q.shape[0], n), np.float64)
    for s, e in _blocks(n, _rows_per_block(max(dim, q.shape[0]))):
        out[:, s:e] = _score_block(q, doc_codes[s:e], precision, dim)
    return out


def rank_chunk_size(n_queries: int, dim: int) -> int:
    """Corpus rows per chunk: the queries x chunk float64 scores and the chunk's float64 rows each ~64 MiB at most."""
    return max(1, BLOCK_BYTES // (8 * max(n_queries, dim, 1)))


def _keep_best(cand_s: np.ndarray, cand_i: np.ndarray, k: int, doc_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best k columns of each row by (score desc, doc_key desc, index asc), a strict total order.

    A strict total order makes the running merge exact: the corpus-wide top k under it is contained in the union of
    every chunk's top k, so chunk boundaries that split a group of tied scores change nothing. The trailing index
    key reproduces the stable whole-corpus np.lexsort even where doc_key has repeats.
    """
    m, width = cand_s.shape
    if width > k:
        # Pre-filter to the columns scoring at least the k-th score (all ties with it kept), then sort only those.
        kth = -np.partition(-cand_s, k - 1, axis=1)[:, k - 1 : k]
        keep = cand_s >= kth
        counts = keep.sum(axis=1)
        rows, cols = np.divmod(np.flatnonzero(keep), width)
        slot = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        kept_s = np.full((m, int(counts.max())), -np.inf, np.float64)
        kept_i = np.full(kept_s.shape, -1, np.int64)
        kept_s[rows, slot] = cand_s[rows, cols]
        kept_i[rows, slot] = cand_i[rows, cols]
        cand_s, cand_i = kept_s, kept_i
    key = np.where(cand_i >= 0, doc_key[np.maximum(cand_i, 0)], 0)
    order = np.lexsort((cand_i, -key, -cand_s), axis=1)[:, :k]
    return np.take_along_axis(cand_s, order, axis=1), np.take_along_axis(cand_i, order, axis=1)


def rank(
    query_codes: np.ndarray,
    doc_codes: np.ndarray,
    precision: str,
    dim: int,
    k: int,
    doc_key: np.ndarray,
    exclude: np.ndarray | None = None,
    chunk_size: int | None = None,
) -> Ranking:
    """Exact top-k by (score desc, doc_key desc), as a whole-corpus sort would give, in corpus chunks.

    Returns min(k, n) columns like `retrieval.search`; `exclude[q]` is a corpus row query q must not retrieve, or
    -1. Where fewer documents can be ranked, doc_index is -1 and score -inf.
    """
    _check_precision(precision)
    m, n = query_codes.shape[0], doc_codes.shape[0]
    k_eff = max(0, min(k, n))
    doc_key = np.asarray(doc_key)
    best_s = np.empty((m, 0), np.float64)
    best_i = np.empty((m, 0), np.int64)
    if k_eff == 0:
        return Ranking(best_i, best_s)
    q = _prepare(query_codes, precision)
    step = chunk_size or rank_chunk_size(m, dim)
    for start, stop in _blocks(n, step):
        block = _score_block(q, doc_codes[start:stop], precision, dim)
        if exclude is not None:
            hit = (exclude >= start) & (exclude < stop)
            block[np.flatnonzero(hit), exclude[hit] - start] = -np.inf
        index = np.broadcast_to(np.arange(start, stop, dtype=np.int64), block.shape)
        best_s, best_i = _keep_best(
            np.concatenate([best_s, block], axis=1), np.concatenate([best_i, index], axis=1), k_eff, doc_key
        )
    ranked = np.isfinite(best_s)
    return Ranking(np.where(ranked, best_i, -1), np.where(ranked, best_s, -np.inf))


# --- latency and the machine it was measured on --------------------------------------------------------------------


def _scan_kernel(doc_codes: np.ndarray, precision: str, k: int) -> Callable[[np.ndarray], np.ndarray]:
    """A full exact scan of one query plus top-k selection, with everything reusable prepared outside it."""
    n = doc_codes.shape[0]
    if precision == "binary":
        docs = _bit_words(doc_codes)

        def scan(q: np.ndarray) -> np.ndarray:
            hamming = _popcount(np.bitwise_xor(docs, q)).sum(axis=1, dtype=np.int32)
            return np.argpartition(hamming, k - 1)[:k]

        return scan
    if precision == "float32":
        docs = np.ascontiguousarray(doc_codes, dtype=np.float32)

        def scan(q: np.ndarray) -> np.ndarray:
            return np.argpartition(-(docs @ q), k - 1)[:k]

        return scan
    # float16 and int8: numpy has no BLAS for them, so the fastest plain-numpy scan upcasts cache-sized chunks to
    # float32 and uses float32 BLAS (exact for int8 codes: integer partial sums stay below 2**24 up to 1,024 dims).
    docs = np.ascontiguousarray(doc_codes)
    step = max(1, (4 * 1024**2) // (4 * docs.shape[1]))
    buffer = np.empty((min(step, n), docs.shape[1]), np.float32)
    out = np.empty(n, np.float32)

    def scan(q: np.ndarray) -> np.ndarray:
        for s, e in _blocks(n, step):
            chunk = buffer[: e - s]
            chunk[...] = docs[s:e]
            np.matmul(chunk, q, out=out[s:e])
        return np.argpartition(-out, k - 1)[:k]

    return scan


def scan_latency(
    query_codes: np.ndarray,
    doc_codes: np.ndarray,
    precision: str,
    dim: int,
    k: int = 10,
    repeats: int = 5,
    n_queries: int = 8,
) -> float:
    """Median seconds for a brute-force exact scan of ONE query against the whole corpus, on this machine.

    Kernels, the fastest plain numpy has for each precision: float32 `docs @ q` (BLAS); float16 and int8: numpy has
    no BLAS for them, so docs are upcast to float32 in chunks inside the timed region and multiplied with BLAS;
    binary: xor + popcount + sum over packed words. Each timing covers the scan and an np.argpartition top-k; up to
    `n_queries` queries, `repeats` times each, after one untimed warm-up. A relative figure, not a product benchmark.
    """
    _check_precision(precision)
    n = doc_codes.shape[0]
    if n == 0 or query_codes.shape[0] == 0:
        return 0.0
    k = max(1, min(k, n))
    scan = _scan_kernel(doc_codes, precision, k)
    if precision == "binary":
        queries = _bit_words(query_codes[:n_queries])
    else:
        queries = np.ascontiguousarray(query_codes[:n_queries], dtype=np.float32)
    with _one_blas_thread():  # one query is a matrix-vector product: threads add wake-up noise, not speed
        scan(queries[0])  # warm-up: page in the corpus
        timings = []
        for q in queries:
            for _ in range(repeats):
                t0 = time.perf_counter()
                scan(q)
                timings.append(time.perf_counter() - t0)
    return float(statistics.median(timings))


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
