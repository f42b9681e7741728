"""Storage precisions for truncated embeddings, encoded the way vector engines store them.

Every cell starts from the same place: cut to the first `dim` values, L2-normalise each row (in float64, then
float32; an all-zero row stays zero). Then the documents are stored at the cell's precision and scored as FAISS
scores them (the test oracle, `tests/test_precision.py`; `scripts/check_faiss_agreement.py` on the shared data):

- `float32`: the normalised prefix; inner product (`IndexFlatIP`).
- `float16`: documents stored as half floats, the query kept in float32, score = <query, decoded doc>
  (`IndexScalarQuantizer` with `QT_fp16`). Rounding to nearest with exact ties away from zero, as FAISS's encoder
  does (IEEE casts, numpy's included, round ties to even: about 1 value in 20,000 differs by one float16 step).
- `int8`: scalar quantisation with per-dim ranges fitted on the corpus (`IndexScalarQuantizer` with `QT_8bit`,
  the default `RS_minmax`): vmin = the corpus minimum of each dim, vdiff = maximum - vmin (float32);
  code = floor(255 * clip((x - vmin) / vdiff, 0, 1)) (0 where vdiff is 0), computed in float32 as FAISS does, so the
  codes are FAISS's codes bit for bit; a document decodes to vmin + (code + 0.5) / 255 * vdiff. The query is NOT
  encoded: it stays float32 and is scored against the decoded document (asymmetric distance), so query values
  outside the corpus range need no clipping. A document outside the fitted range (ranges fitted on a sample)
  clips to code 0 or 255, never wraps.
- `binary`: one sign bit per dim (x > 0), packed 8 per byte, for documents and queries; ranked by Hamming distance
  (`IndexBinaryFlat`), reported as the score `dim - 2 * hamming` (the dot product of the +-1 sign vectors).

Engines name the same storage differently: Qdrant's scalar quantization (int8), pgvector's `halfvec` (float16) and
`bit` with `<~>` Hamming (binary). docs/precision.md gives the table.

The search over these codes (`methods/cell_search.py`) gives rankings that are a function of the vectors alone,
not of corpus chunking; this module holds only the codecs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from mrl_eval.errors import UsageError

PRECISIONS = ("float32", "float16", "int8", "binary")

# Budget for one temporary array of float64 rows: ~64 MiB.
BLOCK_BYTES = 64 * 1024**2

INT8_METHOD = (
    "scalar quantisation, per-dim min/max fitted on the corpus, documents decoded as vmin + (code + 0.5) / 255 * "
    "vdiff and scored against the float query (FAISS IndexScalarQuantizer QT_8bit, RS_minmax)"
)
FLOAT16_METHOD = "documents stored as float16, float query (FAISS IndexScalarQuantizer QT_fp16)"
BINARY_METHOD = "sign bit (> 0), packed 8 per byte, Hamming distance (FAISS IndexBinaryFlat)"


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
    check_precision(precision)
    return {"float32": 4 * dim, "float16": 2 * dim, "int8": dim, "binary": (dim + 7) // 8}[precision]


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")


def rows_per_block(dim: int) -> int:
    return max(1, BLOCK_BYTES // (8 * max(1, dim)))


def blocks(n: int, step: int) -> Iterator[tuple[int, int]]:
    return ((s, min(n, s + step)) for s in range(0, n, step))


def normalised(block: np.ndarray, dim: int) -> np.ndarray:
    """Rows cut to `dim`, L2-normalised in float64, as float32; all-zero rows stay zero. Always on a copy: a float64
    block is the caller's own memory (or a read-only memory map) and must not be divided in place."""
    x = np.array(block[:, :dim], dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    np.divide(x, norms[:, None], out=x, where=norms[:, None] > 0)
    return x.astype(np.float32)


def half_float(x: np.ndarray) -> np.ndarray:
    """float32 -> float16 rounded to nearest, exact ties away from zero, as FAISS's fp16 encoder (numpy's cast
    rounds ties to even; the two differ on about 1 value in 20,000, by one float16 step)."""
    h = x.astype(np.float16)
    away = np.nextafter(h, np.copysign(np.float16(np.inf), h))
    back = h.astype(np.float32)
    tie = (np.abs(back) < np.abs(x)) & (np.abs(x - back) == np.abs(away.astype(np.float32) - x))
    return np.where(tie, away, h)


@dataclass(frozen=True)
class Codec:
    """How one (precision, dim) cell stores a document: encode normalised rows, decode codes to float32."""

    precision: str
    dim: int
    vmin: np.ndarray | None = field(default=None, repr=False)  # int8: (dim,) float32 per-dim corpus minimum
    vdiff: np.ndarray | None = field(default=None, repr=False)  # int8: (dim,) float32 maximum - minimum
    n_fit: int | None = None  # int8: the corpus rows the ranges were fitted on

    @property
    def width(self) -> int:
        """Code columns per row (bytes for int8 and binary)."""
        return bytes_per_vector(self.dim, "binary") if self.precision == "binary" else self.dim

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes of normalised float32 rows (n, dim)."""
        if self.precision == "float32":
            return np.asarray(x, np.float32)
        if self.precision == "float16":
            return half_float(np.asarray(x, np.float32))
        if self.precision == "binary":
            return np.packbits(np.asarray(x) > 0, axis=1)
        assert self.vmin is not None and self.vdiff is not None
        # float32 throughout, as FAISS's encoder: (x - vmin) / vdiff, clipped to [0, 1], then truncated 255 * xi
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = (np.asarray(x, np.float32) - self.vmin) / self.vdiff
        xi = np.where(self.vdiff > 0, np.clip(xi, np.float32(0), np.float32(1)), np.float32(0))
        return (np.float32(255) * xi).astype(np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """float32 document values the engine scores against (float16 and int8; float32 as is)."""
        if self.precision == "binary":
            raise ValueError("binary codes are compared by Hamming distance, not decoded")
        if self.precision != "int8":
            return np.asarray(codes, np.float32)
        assert self.vmin is not None and self.vdiff is not None
        return self.vmin + ((codes.astype(np.float32) + np.float32(0.5)) / np.float32(255)) * self.vdiff

    def describe(self) -> dict:
        """JSON-able description of how the codes were made; {} for float32."""
        if self.precision == "int8":
            return {"method": INT8_METHOD, "fit_on": "corpus", "n": self.n_fit}
        if self.precision == "float16":
            return {"method": FLOAT16_METHOD}
        if self.precision == "binary":
            return {"method": BINARY_METHOD}
        return {}


def fit_codecs(
    docs: np.ndarray, cells: Sequence[tuple[int, str]], calibration_rows: np.ndarray | None = None
) -> dict[tuple[int, str], Codec]:
    """One Codec per (dim, precision); the int8 ranges of every dim in one pass over `docs` (a memory map is read
    in blocks). `calibration_rows` fits the ranges on those corpus rows only (the rest then clips)."""
    for dim, precision in cells:
        check_precision(precision)
        if not 1 <= dim <= docs.shape[1]:
            raise ValueError(f"dim {dim} outside 1..{docs.shape[1]}")
    int8_dims = sorted({d for d, p in cells if p == "int8"})
    ranges = _min_max(docs, int8_dims, calibration_rows) if int8_dims else {}
    codecs = {}
    for dim, precision in cells:
        if precision == "int8":
            lo, hi, n = ranges[dim]
            codecs[(dim, precision)] = Codec(precision, dim, lo, (hi - lo).astype(np.float32), n)
        else:
            codecs[(dim, precision)] = Codec(precision, dim)
    return codecs


def _min_max(
    docs: np.ndarray, dims: list[int], calibration_rows: np.ndarray | None
) -> dict[int, tuple[np.ndarray, np.ndarray, int]]:
    """Per-dim float32 [min, max] of the normalised prefix at each dim (np.min / np.max: exact, order-free)."""
    rows = None if calibration_rows is None else np.unique(np.asarray(calibration_rows, dtype=np.int64))
    n = docs.shape[0] if rows is None else rows.size
    if n == 0:
        raise ValueError("int8 ranges need at least one corpus row")
    lo = {d: np.full(d, np.inf, np.float32) for d in dims}
    hi = {d: np.full(d, -np.inf, np.float32) for d in dims}
    for s, e in blocks(n, rows_per_block(dims[-1])):
        raw = np.asarray(docs[s:e] if rows is None else docs[rows[s:e]])
        for d in dims:
            x = normalised(raw, d)
            np.minimum(lo[d], x.min(axis=0), out=lo[d])
            np.maximum(hi[d], x.max(axis=0), out=hi[d])
    return {d: (lo[d], hi[d], n) for d in dims}
