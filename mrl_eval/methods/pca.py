"""PCA as the baseline for truncation: is cutting to the first d dims as good as the best linear d-dim projection?

The basis is fitted on the L2-normalised corpus vectors (all of them, or a random sample: `--pca-fit-sample`):
the eigenvectors of their covariance, by decreasing eigenvalue. Vectors are then projected *without* centring,
``y = V^T x``. V is orthogonal, so at the full dim the projection is a pure rotation: every cosine, and so every
ranking, is unchanged. Keeping the first d coordinates of y and re-normalising is "PCA to d dims", scored exactly
like a truncated prefix. (Centring before projecting would shift every vector and change the cosines.)

Fitting on the corpus that is then searched flatters PCA a little (the basis has seen every document); the report
says which rows it was fitted on.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrl_eval.errors import UsageError
from mrl_eval.limits import whole_number

FIT_BLOCK = 8_192  # corpus rows per block (64 MiB of float64 at 1,024 dims) for the covariance and the projection


@dataclass(frozen=True)
class PcaFit:
    basis: np.ndarray  # (full_dim, full_dim) float64, columns by decreasing variance
    mean: np.ndarray  # (full_dim,) mean of the normalised fit rows (used for the covariance only)
    explained: np.ndarray  # (full_dim,) cumulative share of the variance of the first d components
    n_fit: int
    n_docs: int
    sample: float | int | None
    seed: int

    def describe(self, dims: list[int]) -> dict:
        """What the report records about the fit."""
        fit_on = "the whole corpus that is searched" if self.sample is None else "a random sample of the corpus"
        return {
            "method": "eigenvectors of the covariance of the L2-normalised corpus vectors; vectors projected "
            "without centring, so the full dim is a pure rotation",
            "fit_on": fit_on,
            "sample": self.sample,
            "seed": self.seed,
            "n_fit": self.n_fit,
            "n_docs": self.n_docs,
            "explained_variance": {str(d): round(float(self.explained[d - 1]), 6) for d in dims},
            "note": "fitting on the searched corpus flatters PCA slightly; use --pca-fit-sample to fit on part of it"
            if self.sample is None
            else "fitted on part of the corpus; all of it is searched",
        }


def parse_fit_sample(spec: str | None) -> float | int | None:
    """'0.2' -> a fraction of the corpus, '5000' -> a number of rows, None -> the whole corpus."""
    if spec is None or str(spec).strip().lower() in ("", "all", "1", "1.0"):
        return None
    text = str(spec).strip()
    if re.fullmatch(r"0?\.\d+", text) and float(text) > 0:
        return float(text)
    if re.fullmatch(r"\d+", text) and whole_number(text, "--pca-fit-sample") > 1:
        return int(text)
    raise UsageError(f"--pca-fit-sample {spec!r}: give a fraction of the corpus (0.2) or a number of documents (5000)")


def check_fit_sample(sample: float | int, n_fit: int, n_docs: int, full_dim: int) -> None:
    """A sample of fewer rows than the full dim (always swept) leaves the covariance rank-deficient: its last
    components are arbitrary directions, which would be scored as "PCA". Refused, naming the size that works."""
    if n_fit >= full_dim:
        return
    given = f"{sample:g} of the corpus" if isinstance(sample, float) else str(sample)
    if n_docs >= full_dim:
        fix = f"give --pca-fit-sample {full_dim} or more (or a fraction of at least {full_dim / n_docs:.3g})"
    else:
        fix = f"the corpus has only {n_docs:,} documents, so drop --pca-fit-sample (or --compare pca)"
    raise UsageError(
        f"--pca-fit-sample {given}: fits PCA on {n_fit:,} documents, fewer than the {full_dim} dims it must resolve "
        f"(the full dim is always swept), so its components past the first {max(n_fit - 1, 0)} would be arbitrary "
        f"directions scored as PCA; {fix}"
    )


def _normalised(block: np.ndarray) -> np.ndarray:
    x = np.asarray(block, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def fit(docs: np.ndarray, sample: float | int | None = None, seed: int = 0) -> PcaFit:
    """Fit the basis on the (normalised) rows of `docs`, which may be a memory map; memory stays O(full_dim^2)."""
    n_docs, full_dim = docs.shape
    if sample is None:
        rows = None
        n_fit = n_docs
    else:
        n_fit = int(round(sample * n_docs)) if isinstance(sample, float) else int(sample)
        n_fit = min(n_docs, max(n_fit, 2))
        check_fit_sample(sample, n_fit, n_docs, full_dim)
        rows = np.sort(np.random.default_rng(seed).choice(n_docs, size=n_fit, replace=False))
    total = np.zeros(full_dim, np.float64)
    gram = np.zeros((full_dim, full_dim), np.float64)
    for start in range(0, n_fit, FIT_BLOCK):
        block = docs[start : start + FIT_BLOCK] if rows is None else docs[rows[start : start + FIT_BLOCK]]
        x = _normalised(block)
        total += x.sum(axis=0)
        gram += x.T @ x
    mean = total / n_fit
    cov = gram / n_fit - np.outer(mean, mean)
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    order = np.argsort(-values, kind="stable")
    values, vectors = np.clip(values[order], 0, None), vectors[:, order]
    # a fixed sign per component (largest coordinate positive) makes the basis reproducible across LAPACK builds
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(full_dim)])
    vectors *= np.where(signs == 0, 1, signs)
    explained = np.cumsum(values) / values.sum() if values.sum() > 0 else np.ones(full_dim)
    return PcaFit(vectors, mean, explained, n_fit, n_docs, sample, seed)


def project(vectors: np.ndarray, pca: PcaFit, block: int = FIT_BLOCK) -> np.ndarray:
    """Normalised rows rotated onto the basis (float32; the search re-normalises every prefix anyway)."""
    out = np.empty((vectors.shape[0], pca.basis.shape[1]), np.float32)
    for start in range(0, vectors.shape[0], block):
        out[start : start + block] = _normalised(vectors[start : start + block]) @ pca.basis
    return out


class DiskRows:
    """A read-only (n, d) float32 array in an .npy file, read with plain file reads, never memory-mapped: only the
    rows asked for are copied into this process, so memory is bounded by the access, not the file. (A memory map,
    even one unmapped after each access, keeps resident every page an access touches, and the kernel maps pages
    around each one it faults in: a gather of scattered rows, as the exact rescoring of shortlists does, made the
    whole file resident.) Supports what the searches use: `shape`, `dtype` and `rows[key]` / `rows[key, cols]`
    with an integer, a slice or an integer array of rows."""

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            self.shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if fortran or len(self.shape) != 2:
            raise ValueError(f"{path}: expected a C-ordered 2-d array")
        self.dtype = np.dtype(dtype)
        self.row_bytes = self.shape[1] * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        n = self.shape[0]
        if isinstance(rows, slice):
            start, stop, step = rows.indices(n)
            with open(self.path, "rb", buffering=0) as fh:
                block = self._read(fh, start, max(0, stop - start))
            return np.ascontiguousarray(block[::step, cols] if step != 1 else block[:, cols])
        index = np.asarray(rows)
        if not np.issubdtype(index.dtype, np.integer):
            raise IndexError("DiskRows takes an integer, a slice or an integer array of rows")
        flat = np.where(index < 0, index + n, index).ravel()
        if flat.size and (flat.min() < 0 or flat.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        unique, inverse = np.unique(flat, return_inverse=True)
        out = np.empty((unique.size, self.shape[1]), self.dtype)
        # runs of consecutive rows, each read at once, in file order
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        with open(self.path, "rb", buffering=0) as fh:
            for lo, hi in zip([0, *breaks.tolist()], [*breaks.tolist(), unique.size]) if unique.size else ():
                out[lo:hi] = self._read(fh, int(unique[lo]), hi - lo)
        return np.ascontiguousarray(out[inverse.ravel()].reshape(*index.shape, self.shape[1])[..., cols])

    def _read(self, fh, start: int, count: int) -> np.ndarray:
        """Rows start..start+count, read from the open file `fh`."""
        out = np.empty((count, self.shape[1]), self.dtype)
        view = memoryview(out).cast("B")
        fh.seek(self.offset + start * self.row_bytes)
        done = 0
        while done < view.nbytes:
            got = fh.readinto(view[done:])
            if not got:
                raise OSError(f"{self.path}: file ends before row {start + count}")
            done += got
        return out


@contextlib.contextmanager
def projected_on_disk(docs: np.ndarray, pca: PcaFit, block: int = FIT_BLOCK) -> Iterator[DiskRows]:
    """The projected corpus (as `project` computes it, block by block) in a temporary file, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="mrl-eval-pca-") as folder:
        path = Path(folder) / "projected.npy"
        shape = (docs.shape[0], pca.basis.shape[1])
        with open(path, "wb") as fh:  # plain writes: no written page stays mapped into this process
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
            for start in range(0, docs.shape[0], block):
                fh.write(np.ascontiguousarray(project(docs[start : start + block], pca, block), "<f4").tobytes())
        yield DiskRows(path)


def deploy_cost(full_dim: int, dim: int) -> dict:
    """What PCA to `dim` costs in production: a full_dim x dim matrix applied to every document and query."""
    return {
        "matrix_shape": [full_dim, dim],
        "matrix_bytes_float32": full_dim * dim * 4,
        "multiply_adds_per_vector": full_dim * dim,
    }


def safety(
    prefix: dict[int, float], pca: dict[int, float], full_value: float, metric: str, margin: float, full_dim: int
) -> dict:
    """How far down truncation is safe, read off the numbers: within `margin` of the full dim, and of PCA at the
    same dim. A dim counts as safe only if every swept dim above it is too."""
    dims = sorted(prefix)

    def lowest_safe(ok: dict[int, bool]) -> int:
        safe = full_dim
        for d in reversed(dims):
            if not ok[d]:
                break
            safe = d
        return safe

    safe_full = lowest_safe({d: prefix[d] >= full_value - margin for d in dims})
    safe_pca = lowest_safe({d: prefix[d] >= pca[d] - margin for d in dims})
    below = [
        {
            "dim": d,
            "prefix": prefix[d],
            "pca": pca[d],
            "pca_gain": pca[d] - prefix[d],
            "deploy": deploy_cost(full_dim, d),
        }
        for d in dims
        if d < safe_pca
    ]
    return {
        "metric": metric,
        "margin": margin,
        "full_value": full_value,
        "safe_vs_full_dim": safe_full,
        "safe_vs_pca_dim": safe_pca,
        "below": below,
        "statement": statement(metric, margin, full_value, safe_full, safe_pca, below, full_dim, dims),
    }


def statement(
    metric: str,
    margin: float,
    full_value: float,
    safe_full: int,
    safe_pca: int,
    below: list[dict],
    full_dim: int,
    dims: list[int],
) -> str:
    """The truncation-safety finding in words, every figure taken from the measurements."""
    smallest = dims[0]
    if safe_pca == full_dim:
        versus_pca = f", and trails PCA at the same dim by more than {margin:g} at the next smaller swept dim"
    elif safe_pca > smallest:
        versus_pca = f", and within {margin:g} of PCA at the same dim down to {safe_pca} d"
    else:
        versus_pca = ""
    parts = [
        f"Truncation stays within {margin:g} {metric} of the full dim ({full_value:.3f})"
        + (f" down to {safe_full} d" if safe_full < full_dim else " only at the full dim")
        + versus_pca
        + "."
    ]
    if safe_pca == smallest:
        parts.append(f"At every swept dim, truncation is within {margin:g} of PCA or better.")
    else:
        gains = ", ".join(f"{b['pca_gain']:+.3f} at {b['dim']} d" for b in sorted(below, key=lambda b: -b["dim"]))
        worst = min(below, key=lambda b: b["dim"])
        cost = worst["deploy"]
        parts.append(
            f"Below {safe_pca} d, PCA fitted on this corpus would recover {gains}; deploying it means a "
            f"{full_dim}×{worst['dim']} float32 matrix ({cost['matrix_bytes_float32']:,} B at {worst['dim']} d) "
            f"applied to every document at index time and every query at query time "
            f"({cost['multiply_adds_per_vector']:,} multiply-adds per vector)."
        )
    return " ".join(parts)
