"""An OpenAI embeddings answer, read and checked (pure functions: no SDK, no network).

The API sends one vector per input with its `index`, the input's position, and does not promise their order. An
answer is accepted only when those indices are 0..n-1, each once, and its vectors are readable, all finite and all
of one size: anything else cannot be matched to the texts, and `WrongAnswer` says what was wrong.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np


class WrongAnswer(Exception):
    """An answer whose vectors cannot be trusted; the message says what is wrong with it."""


def index_problem(indices: Sequence[Any], n: int) -> str | None:
    """What is wrong with an answer's `index` fields for `n` inputs, or None when they are 0..n-1, each once (in
    any order: the API does not promise the input order)."""
    for position, index in enumerate(indices):
        if not isinstance(index, int) or isinstance(index, bool):
            return f"item {position} without a whole-number index ({index!r})"
    outside = sorted({i for i in indices if not 0 <= i < n})
    if outside:
        return f"index {outside[0]} for {n} inputs (indices run from 0 to {n - 1})"
    repeated = sorted(i for i, count in Counter(indices).items() if count > 1)
    if repeated:
        missing = sorted(set(range(n)) - set(indices))
        return (
            f"index {repeated[0]} given {indices.count(repeated[0])} times and {len(missing)} "
            f"ind{'ex' if len(missing) == 1 else 'ices'} missing (e.g. {missing[0]})"
        )
    return None


def read_answer(data: Any, n: int) -> np.ndarray:
    """The rows of an answer's `data` (items with `index` and `embedding`: a list of floats or base64 little-endian
    float32) to `n` inputs, in the inputs' order."""
    if not isinstance(data, list) or len(data) != n:
        raise WrongAnswer(f"{len(data) if isinstance(data, list) else 'no'} vectors for {n} inputs")
    indices = [getattr(item, "index", None) for item in data]
    problem = index_problem(indices, n)
    if problem is not None:
        raise WrongAnswer(problem)
    rows: list[np.ndarray] = [np.empty(0, np.float32)] * n
    for index, item in zip(indices, data):
        raw = getattr(item, "embedding", None)
        try:
            if isinstance(raw, str):
                rows[index] = np.frombuffer(base64.b64decode(raw, validate=True), dtype="<f4")
            else:
                rows[index] = np.asarray(raw, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError) as err:
            raise WrongAnswer(f"an unreadable vector at index {index} ({type(err).__name__})") from err
    sizes = sorted({len(r) for r in rows})
    if len(sizes) != 1 or sizes[0] == 0:
        raise WrongAnswer(f"vectors of {' and '.join(map(str, sizes))} values in one answer")
    matrix = np.stack(rows).astype(np.float32)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        raise WrongAnswer(f"NaN or infinite values in {int((~finite).sum())} of its {n} vectors")
    return matrix
