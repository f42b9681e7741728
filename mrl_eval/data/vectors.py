"""Precomputed full-size vectors from any system: `corpus.npy` + `corpus_ids.txt`, `queries.npy` + `queries_ids.txt`.

One row per id, in id-file order, any float dtype, not necessarily normalised. Loaded with
`allow_pickle=False` and memory-mapped, so a corpus larger than memory is read a chunk at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrl_eval.errors import MrlEvalError, raise_problems

_CHECK_ROWS = 65536


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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MrlEvalError(f"{path}: not valid JSON ({err}). Fix or delete the file.") from err
    return info if isinstance(info, dict) else {}


def _read_ids(path: Path, problems: list[str]) -> list[str]:
    if not path.is_file():
        problems.append(f"{path}: file not found (one id per line, in the row order of the .npy file)")
        return []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        problems.append(f"{path}: not UTF-8 (byte {err.start}); save it as UTF-8")
        return []
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
    if matrix.dtype.kind != "f":
        problems.append(f"{path}: dtype {matrix.dtype} is not a float type; save float16/32/64 vectors")
        return None
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        problems.append(f"{path}: shape {matrix.shape}, expected a non-empty 2-D array (rows x dims)")
        return None
    return matrix


def _first_non_finite(matrix: np.ndarray) -> int | None:
    for start in range(0, matrix.shape[0], _CHECK_ROWS):
        block = np.asarray(matrix[start : start + _CHECK_ROWS])
        bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
        if bad.size:
            return start + int(bad[0])
    return None


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
    return Vectors(doc_ids, docs, query_ids, np.asarray(queries, dtype=np.float32))  # type: ignore[arg-type]
