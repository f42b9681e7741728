"""Two-stage retrieval, simulated from the same full-size vectors: shortlist with small (or quantised) vectors,
then rerank the shortlist with the full float32 vectors.

This is the pattern vector databases deploy: Qdrant's prefetch + rescore, Vespa's phased ranking, pgvector's
index on a subvector expression with an exact reorder. For every first stage and shortlist size the report gives
the final metrics, the shortlist recall (the share of the full dim's top 10 that survived the first stage) and the
cost: the first-stage index size and the full vectors fetched per query.

The rerank scores each shortlisted document exactly as the full-dim search does (`retrieval.exact_cosines`) and
breaks ties by the same rule, so a shortlist holding the whole corpus reproduces the full-dim ranking exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mrl_eval import defaults
from mrl_eval.errors import UsageError
from mrl_eval.evaluate.retrieval import Ranking, exact_cosines
from mrl_eval.limits import whole_number
from mrl_eval.methods.precision import PRECISIONS, bytes_per_vector

DEFAULT_SHORTLISTS = defaults.SHORTLISTS
SURVIVAL_K = 10


@dataclass(frozen=True)
class Stage:
    dim: int
    precision: str = "float32"

    @property
    def label(self) -> str:
        return f"{self.dim}:{self.precision}"


def parse_stages(spec: str, full_dim: int) -> list[Stage]:
    """'64,128,binary,256:int8' -> first stages; a bare precision means that precision at the full dim."""
    stages = []
    for raw in spec.split(","):
        token = raw.strip().lower()
        match = re.fullmatch(r"(\d+)?\s*(?::\s*([a-z0-9]+))?", token) if token not in PRECISIONS else None
        if token in PRECISIONS:
            stage = Stage(full_dim, token)
        elif match and match.group(1):
            stage = Stage(whole_number(match.group(1), "--two-stage"), match.group(2) or "float32")
        else:
            raise UsageError(
                f"--two-stage: {raw.strip()!r} is not a first stage; give dims, optionally with a precision: "
                "--two-stage 64,128,binary,256:int8"
            )
        if stage.precision not in PRECISIONS:
            raise UsageError(f"--two-stage: {raw.strip()!r}: precision must be one of {', '.join(PRECISIONS)}")
        if not 1 <= stage.dim <= full_dim:
            raise UsageError(f"--two-stage: {stage.dim} is not between 1 and the full dim {full_dim}")
        if stage not in stages:
            stages.append(stage)
    return stages


def parse_shortlists(spec: str | None) -> list[int]:
    values = []
    for raw in (spec or DEFAULT_SHORTLISTS).split(","):
        token = raw.strip()
        if not re.fullmatch(r"\d+", token) or whole_number(token, "--shortlist") < 1:
            raise UsageError(f"--shortlist: {token!r} is not a positive whole number; use e.g. --shortlist 100,1000")
        values.append(int(token))
    return sorted(set(values))


def rerank(
    queries: np.ndarray,
    corpus: np.ndarray,
    shortlist: np.ndarray,
    k: int,
    doc_key: np.ndarray,
) -> Ranking:
    """The best k of each query's shortlisted rows (-1 = empty slot) by exact full-dim cosine, ties doc id desc."""
    n_queries, width = shortlist.shape
    full_dim = corpus.shape[1]
    out_i = np.full((n_queries, k), -1, np.int64)
    out_s = np.full((n_queries, k), -np.inf, np.float64)
    block = max(1, (64 * 1024**2) // max(1, width * full_dim * 8))
    for b0 in range(0, n_queries, block):
        b1 = min(n_queries, b0 + block)
        valid = shortlist[b0:b1] >= 0
        idx = np.where(valid, shortlist[b0:b1], 0)
        rows = np.asarray(corpus[idx.ravel()], dtype=np.float64).reshape(*idx.shape, full_dim)
        exact = exact_cosines(np.asarray(queries[b0:b1], dtype=np.float64), rows)
        exact[~valid] = -np.inf
        order = np.lexsort((-doc_key[idx], -exact), axis=-1)[:, :k]
        top_i = np.take_along_axis(np.where(valid, idx, -1), order, axis=1)
        top_s = np.take_along_axis(exact, order, axis=1)
        n = top_i.shape[1]
        out_i[b0:b1, :n], out_s[b0:b1, :n] = top_i, top_s
    return Ranking(out_i, np.where(out_i >= 0, out_s, -np.inf))


def survival(full_top: np.ndarray, shortlist: np.ndarray) -> np.ndarray:
    """Per query: the share of the full dim's top documents (row of `full_top`, -1 padded) in the shortlist."""
    shares = np.empty(full_top.shape[0], np.float64)
    for row in range(full_top.shape[0]):
        wanted = full_top[row][full_top[row] >= 0]
        kept = np.isin(wanted, shortlist[row])
        shares[row] = kept.mean() if wanted.size else 1.0
    return shares


def cost(stage: Stage, shortlist: int, n_docs: int, full_dim: int) -> dict:
    """The deployment cost of a configuration, at the evaluated corpus size."""
    first = bytes_per_vector(stage.dim, stage.precision)
    fetched = min(shortlist, n_docs)
    return {
        "first_stage_bytes_per_vector": first,
        "first_stage_index_bytes": first * n_docs,
        "full_vectors_fetched_per_query": fetched,
        "full_bytes_fetched_per_query": fetched * full_dim * 4,
    }
