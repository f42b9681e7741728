"""Precomputed full-size vectors from any system: `corpus.npy` + `corpus_ids.txt`, `queries.npy` + `queries_ids.txt`.

One row per id, in id-file order, any float dtype, not necessarily normalised. Loaded with
`allow_pickle=False` and memory-mapped, so a corpus larger than memory is read a chunk at a time.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrl_eval.errors import MrlEvalError, raise_problems

_CHECK_BYTES = 64 * 1024**2  # float32 rows per block in the checks below: memory stays flat for any corpus
WORKING_DTYPE = np.float32  # what retrieval scores in (then rescored in float64 from the same values)


@dataclass(frozen=True)
class Vectors:
    """Full-size vectors for the corpus and the queries, rows aligned with the id lists."""

    doc_ids: list[str]
    docs: np.ndarray  # (n_docs, full_dim), possibly a read-only memory map
    query_ids: list[str]
    queries: np.ndarray  # (n_queries, full_dim)

    @property
    def full_dim(self) -> int:
        return int(self.docs.shape[1])


def read_model_info(folder: Path) -> dict:
    """`model.json` beside the vectors, if there is one (name, dim, prompts...)."""
    path = folder / "model.json"
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # ValueError: bad UTF-8, bad JSON, or a number of more than 4,300 digits
        raise MrlEvalError(f"{path}: not valid JSON ({err}). Fix or delete the file.") from err
    return info if isinstance(info, dict) else {}


def split_lines(text: str) -> list[str]:
    """Lines split on "\n" only ("\r\n" tolerated), the last newline optional. Not `str.splitlines()`, which also
    splits on U+2028, U+0085 and other characters an id may hold, shifting every later row."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def _read_ids(path: Path, problems: list[str]) -> list[str]:
    if not path.is_file():
        problems.append(f"{path}: file not found (one id per line, in the row order of the .npy file)")
        return []
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        problems.append(f"{path}: not UTF-8 (byte {err.start}); save it as UTF-8")
        return []
    except OSError as err:
        problems.append(f"{path}: cannot read the file ({err.strerror or err})")
        return []
    lines = split_lines(text)
    seen: dict[str, int] = {}
    ids = []
    for n, line in enumerate(lines, start=1):
        doc_id = line.strip()
        if not doc_id:
            problems.append(f"{path}:{n}: missing id (empty line)")
        elif doc_id in seen:
            problems.append(f"{path}:{n}: duplicate id {doc_id!r} (first seen on line {seen[doc_id]})")
        else:
            seen[doc_id] = n
        ids.append(doc_id)
    if not lines:
        problems.append(f"{path}: file is empty")
    return ids


def _read_matrix(path: Path, problems: list[str]) -> np.ndarray | None:
    if not path.is_file():
        problems.append(f"{path}: file not found")
        return None
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err) or "Python objects" in str(err):
            problems.append(f"{path}: needs pickle to load (object array); save a plain float array with np.save")
        else:
            problems.append(f"{path}: not a readable .npy file ({err})")
        return None
    except (OSError, EOFError) as err:
        problems.append(f"{path}: not a readable .npy file ({err or 'empty file'})")
        return None
    if not isinstance(matrix, np.ndarray):  # np.load opens an .npz archive (a zip of arrays) whatever its name
        with contextlib.suppress(AttributeError):
            matrix.close()
        problems.append(f"{path}: is an .npz archive, not a .npy array; save one array with np.save(path, array)")
        return None
    if matrix.dtype.kind != "f":
        problems.append(f"{path}: dtype {matrix.dtype} is not a float type; save float16/32/64 vectors")
        return None
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        problems.append(f"{path}: shape {matrix.shape}, expected a non-empty 2-D array (rows x dims)")
        return None
    return matrix


def _working_blocks(matrix: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows) of `matrix` in blocks, cast to the working dtype (float32) as scoring casts them: a float64
    value beyond float32's range becomes inf there, and one below its smallest subnormal becomes 0."""
    rows = max(1, _CHECK_BYTES // (4 * max(1, matrix.shape[1])))
    for start in range(0, matrix.shape[0], rows):
        with np.errstate(over="ignore", under="ignore"):
            yield start, np.asarray(matrix[start : start + rows], dtype=WORKING_DTYPE)


def _first_non_finite(matrix: np.ndarray) -> int | None:
    """The first row holding NaN or inf as stored (a finite float64 beyond float32's range is not: its row is
    rescaled before scoring, `rescale_extreme_rows`)."""
    rows = max(1, _CHECK_BYTES // (8 * max(1, matrix.shape[1])))
    for start in range(0, matrix.shape[0], rows):
        bad = np.flatnonzero(~np.isfinite(np.asarray(matrix[start : start + rows])).all(axis=1))
        if bad.size:
            return start + int(bad[0])
    return None


def zero_prefix_rows(matrix: np.ndarray, dims: Sequence[int]) -> dict[int, np.ndarray]:
    """dim -> the rows whose first `dim` values are all zero in the working dtype (such a row scores 0 against
    everything at that dim, so its rank is decided by the tie rule alone)."""
    dims = sorted(dims)
    found: dict[int, list[np.ndarray]] = {d: [] for d in dims}
    for start, block in _working_blocks(matrix):
        seen = np.zeros(block.shape[0], dtype=bool)  # a non-zero value so far, segment by segment as dims nest
        for lo, d in zip([0, *dims[:-1]], dims):
            seen |= (block[:, lo:d] != 0).any(axis=1)
            found[d].append(start + np.flatnonzero(~seen))
    return {d: np.concatenate(rows) if rows else np.empty(0, np.int64) for d, rows in found.items()}


def zero_vector_notes(vectors: Vectors, dims: Sequence[int], shown: int = 3) -> list[str]:
    """One line per role and dim where some vectors are all zero: the count and the first few ids."""
    notes = []
    for role, ids, matrix in (
        ("document", vectors.doc_ids, vectors.docs),
        ("query", vectors.query_ids, vectors.queries),
    ):
        zero = zero_prefix_rows(matrix, dims)
        full = vectors.full_dim
        for d in sorted(zero):
            rows = zero[d]
            if not rows.size or (d != full and rows.size == zero[full].size):
                continue  # zero in full: said once, at the full dim
            examples = ", ".join(repr(ids[i]) for i in rows[:shown]) + (", ..." if rows.size > shown else "")
            where = "all zero" if d == full else f"zero in their first {d} values"
            notes.append(
                f"{rows.size} {role} vector{'s are' if rows.size != 1 else ' is'} {where} ({examples}); "
                f"{'they score' if rows.size != 1 else 'it scores'} 0 against every "
                f"{'query' if role == 'document' else 'document'}{'' if d == full else f' at dim {d}'}"
            )
    return notes


# Rows whose norm lies outside this range are rescaled by a power of two before scoring: float32 squares and dot
# products of such rows overflow or underflow (a row x 1e30, or x 1e-25), and cosine does not depend on scale.
SAFE_NORMS = (2.0**-20, 2.0**20)


def _extreme_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of `matrix` whose float64 norm is non-zero and outside SAFE_NORMS, and the power of two that brings
    each to a norm in [0.5, 2)."""
    rows_per_block = max(1, _CHECK_BYTES // (8 * max(1, matrix.shape[1])))
    found, scales = [], []
    for start in range(0, matrix.shape[0], rows_per_block):
        block = np.asarray(matrix[start : start + rows_per_block], dtype=np.float64)
        peak = np.abs(block).max(axis=1, initial=0.0)  # scaled first: the sum of squares of 1e200 overflows float64
        safe_peak = np.where(peak > 0, peak, 1.0)
        norms = peak * np.sqrt(np.einsum("ij,ij->i", block / safe_peak[:, None], block / safe_peak[:, None]))
        bad = np.flatnonzero((norms > 0) & ((norms < SAFE_NORMS[0]) | (norms > SAFE_NORMS[1])))
        if bad.size:
            found.append(start + bad)
            scales.append(np.exp2(-np.round(np.log2(norms[bad]))))
    if not found:
        return np.empty(0, np.int64), np.empty(0)
    return np.concatenate(found), np.concatenate(scales)


def _writable(matrix: np.ndarray) -> np.ndarray:
    """A copy of `matrix` that rows can be written to: a memory map reopened copy-on-write (only the rows written are
    held in memory), anything else copied."""
    if isinstance(matrix, np.memmap) and matrix.filename:
        return np.memmap(
            matrix.filename, dtype=matrix.dtype, mode="c", shape=matrix.shape, offset=matrix.offset,
            order="F" if matrix.flags.f_contiguous and not matrix.flags.c_contiguous else "C",
        )  # fmt: skip
    return np.array(matrix)


def rescale_extreme_rows(vectors: Vectors) -> tuple[Vectors, list[str]]:
    """The vectors with every row of extreme norm (outside SAFE_NORMS) multiplied by a power of two, exact in
    floating point and without effect on any prefix cosine, so that every scoring path (float32 products, codes,
    PCA, an engine) sees it as it would its unit version; and one note per role that had such rows."""
    notes = []
    parts = {}
    for role, ids, matrix in (
        ("document", vectors.doc_ids, vectors.docs),
        ("query", vectors.query_ids, vectors.queries),
    ):
        rows, scales = _extreme_rows(matrix)
        if rows.size:
            matrix = _writable(matrix)
            for row, scale in zip(rows.tolist(), scales.tolist()):
                matrix[row] = (np.asarray(matrix[row], dtype=np.float64) * scale).astype(matrix.dtype)
            shown = ", ".join(repr(ids[i]) for i in rows[:3]) + (", ..." if rows.size > 3 else "")
            notes.append(
                f"{rows.size} {role} vector{'s have' if rows.size != 1 else ' has'} a norm outside "
                f"[2^-20, 2^20] ({shown}); rescaled by a power of two before scoring (cosine does not depend on "
                "scale)"
            )
        parts[role] = matrix
    return Vectors(vectors.doc_ids, parts["document"], vectors.query_ids, parts["query"]), notes


def load_vectors(folder: Path) -> Vectors:
    """Load and check a precomputed-vectors folder; every problem is reported at once."""
    if not folder.is_dir():
        raise MrlEvalError(
            f"{folder}: embeddings folder not found. Pass a folder holding corpus.npy, corpus_ids.txt, "
            "queries.npy and queries_ids.txt."
        )
    problems: list[str] = []
    parts = {}
    for role in ("corpus", "queries"):
        ids = _read_ids(folder / f"{role}_ids.txt", problems)
        matrix = _read_matrix(folder / f"{role}.npy", problems)
        if matrix is not None and ids and len(ids) != matrix.shape[0]:
            problems.append(
                f"{folder / (role + '.npy')}: {matrix.shape[0]} rows but {role}_ids.txt has {len(ids)} ids; "
                "there must be one id per row, in row order"
            )
        if matrix is not None and ids and len(ids) == matrix.shape[0]:
            bad = _first_non_finite(matrix)
            if bad is not None:
                problems.append(
                    f"{folder / (role + '.npy')}: row {bad} (id {ids[bad]!r}) contains NaN or inf; "
                    "re-embed that text or drop it"
                )
        parts[role] = (ids, matrix)
    (doc_ids, docs), (query_ids, queries) = parts["corpus"], parts["queries"]
    if docs is not None and queries is not None and docs.shape[1] != queries.shape[1]:
        problems.append(
            f"{folder}: corpus.npy has {docs.shape[1]} dims but queries.npy has {queries.shape[1]}; "
            "both must come from the same model"
        )
    raise_problems(problems, f"Invalid embeddings in {folder}", "Fix the files above and run again.")
    # raise_problems has returned, so both matrices were read.
    # Both as stored: scoring casts them to float32 once extreme norms are rescaled (`rescale_extreme_rows`).
    return Vectors(doc_ids, docs, query_ids, queries)  # type: ignore[arg-type]
