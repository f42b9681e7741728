"""The exact engine, the reference every index is compared with: brute force over the same vectors.

float32 is `retrieval.search` (prefix, re-normalise, exact cosine, trec_eval's tie rule); the other precisions are
`cell_search.search_cells` over the same codes the grid scores (as FAISS scores them). `--engine exact` is the plain sweep; this wrapper gives the
same rankings one (dim, precision) cell at a time, for the checks that an index at efSearch >= corpus size finds
exactly these.
"""

from __future__ import annotations

import numpy as np

from mrl_eval.evaluate.retrieval import Ranking, search
from mrl_eval.methods.cell_search import search_cells
from mrl_eval.methods.precision import fit_codecs


def exact_ranking(
    docs: np.ndarray,
    queries: np.ndarray,
    dim: int,
    precision: str,
    k: int,
    doc_key: np.ndarray,
    exclude: np.ndarray | None = None,
) -> Ranking:
    """Exact top k of each query at `dim` and `precision`, best first, ties by doc id descending."""
    if precision == "float32":
        return search(queries, docs, [dim], k, doc_key, exclude=exclude)[dim]
    codec = fit_codecs(docs, [(dim, precision)])[(dim, precision)]
    return search_cells(queries, docs, [codec], k, doc_key, exclude)[0]
