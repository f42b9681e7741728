"""Model-specific post-processing of the full vectors, before the prefix is cut and re-normalised (`--pre-truncate`).

`layernorm`: nomic-embed-text-v1.5 prescribes a layer norm over the full vector before Matryoshka truncation
(its model card: `F.layer_norm(embeddings, normalized_shape=(d,))`, then `[:, :dim]`, then L2 normalise): subtract
the row's mean and divide by sqrt(variance + 1e-5), with no learned scale or shift. The cut and the L2 norm are
the sweep's own, as for every model. `none` leaves the vectors as they are.
"""

from __future__ import annotations

import numpy as np

from mrl_eval.data.vectors import Vectors
from mrl_eval.errors import UsageError

PRE_TRUNCATE = ("none", "layernorm")
LAYER_NORM_EPS = 1e-5  # torch.nn.functional.layer_norm's default, as the model card uses it
_CHUNK_ROWS = 65536


def check_pre_truncate(name: str) -> str:
    if name not in PRE_TRUNCATE:
        raise UsageError(f"--pre-truncate {name!r}: choose one of {', '.join(PRE_TRUNCATE)}")
    return name


def layer_norm(matrix: np.ndarray) -> np.ndarray:
    """Row-wise layer norm without affine parameters, computed in float64 a chunk at a time; float32 out. The
    result is in memory (a memory-mapped corpus is read once, a chunk at a time)."""
    out = np.empty(matrix.shape, np.float32)
    for start in range(0, matrix.shape[0], _CHUNK_ROWS):
        rows = np.asarray(matrix[start : start + _CHUNK_ROWS], np.float64)
        centred = rows - rows.mean(axis=1, keepdims=True)
        variance = (centred**2).mean(axis=1, keepdims=True)  # biased, as layer norm uses
        out[start : start + _CHUNK_ROWS] = centred / np.sqrt(variance + LAYER_NORM_EPS)
    return out


def pre_truncate(vectors: Vectors, name: str) -> Vectors:
    """The vectors after `--pre-truncate name` (the same object for "none")."""
    if check_pre_truncate(name) == "none":
        return vectors
    return Vectors(vectors.doc_ids, layer_norm(vectors.docs), vectors.query_ids, layer_norm(vectors.queries))
