"""The embedded engine: every (dim, precision) cell as a FAISS index, built from an index factory string.

Cosine on a Matryoshka prefix is the inner product of the prefix re-normalised to unit length, so a float cell is
`index_factory(d, "HNSW<M>,<codec>", METRIC_INNER_PRODUCT)` over the normalised first d values:

| precision | factory (HNSW)   | factory (flat) | what is stored                                               |
|-----------|------------------|----------------|--------------------------------------------------------------|
| float32   | `HNSW<M>,Flat`   | `Flat`         | the vectors                                                  |
| float16   | `HNSW<M>,SQfp16` | `SQfp16`       | float16 codes, queried with the float32 query                |
| int8      | `HNSW<M>,SQ8`    | `SQ8`          | 8-bit codes on per-dim min/max trained on the corpus (SQ8)   |
| binary    | `BHNSW<M>`       | `BFlat`        | sign bits (> 0), packed 8 per byte, Hamming distance         |

The index is built from its recipe (`recipe.faiss_recipe`: factory string and parameters), and the recipe's Python
snippet, which the report prints, builds the same index: tests run that snippet and compare the results.
Builds and queries run on one thread, so the graph is deterministic and the latency is per query, not per core.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mrl_eval.engines import EngineSettings
from mrl_eval.engines.recipe import faiss_recipe
from mrl_eval.extras import import_extra


def _faiss():
    return import_extra("faiss", extra="faiss", feature="--engine faiss")


def prepare(x: np.ndarray, dim: int, precision: str) -> np.ndarray:
    """What the index stores and the query it is asked: the prefix normalised in float64 (all-zero rows stay zero),
    as float32; for binary the sign bits, packed."""
    if precision == "binary":
        return np.packbits(np.asarray(x[:, :dim]) > 0, axis=1)
    v = np.asarray(x[:, :dim], dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.ascontiguousarray(np.divide(v, norms, out=np.zeros_like(v), where=norms > 0), dtype=np.float32)


def build_index(recipe: dict, docs: np.ndarray):
    """The index a recipe describes, filled with `docs` (already prepared)."""
    faiss = _faiss()
    if recipe["binary"]:
        index = faiss.index_binary_factory(recipe["index_dim"], recipe["factory"])
    else:
        index = faiss.index_factory(recipe["index_dim"], recipe["factory"], faiss.METRIC_INNER_PRODUCT)
    if "efConstruction" in recipe["build"]:
        index.hnsw.efConstruction = recipe["build"]["efConstruction"]
    index.train(docs)
    index.add(docs)
    return index


def set_search_parameters(index, params: dict) -> None:
    if "efSearch" in params:
        index.hnsw.efSearch = params["efSearch"]


def serialised_bytes(index) -> int:
    faiss = _faiss()
    binary = isinstance(index, faiss.IndexBinary)
    return int((faiss.serialize_index_binary if binary else faiss.serialize_index)(index).nbytes)


@dataclass
class Built:
    dim: int
    precision: str
    kind: str
    index: object
    queries: np.ndarray
    size: int
    seconds: float


class FaissEngine:
    """Builds and searches the FAISS index of each cell over the given corpus and (evaluated) queries: an Engine
    (mrl_eval.engines) whose class is its registration (EngineClass)."""

    name = "faiss"
    precisions = ("float32", "float16", "int8", "binary")
    reranks = False  # shortlist-then-rerank is the pgvector query; FAISS users reach it through the grid's --two-stage
    options: tuple[str, ...] = ()

    def __init__(self, docs: np.ndarray, queries: np.ndarray, *, m: int, ef_construction: int) -> None:
        self.docs, self.queries = docs, queries
        self.m, self.ef_construction = m, ef_construction
        _faiss().omp_set_num_threads(1)

    @classmethod
    def open(cls, settings: EngineSettings, docs: np.ndarray, queries: np.ndarray) -> FaissEngine:
        return cls(docs, queries, m=settings.hnsw_m, ef_construction=settings.ef_construction)

    @staticmethod
    def check(settings: EngineSettings) -> None:
        """FAISS takes any M >= 2 and efConstruction >= 1 (the generic checks); efSearch below k is a warning."""

    @staticmethod
    def describe(settings: EngineSettings) -> dict:
        return {}

    def version(self) -> dict:
        return {"engine": "faiss", "version": _faiss().__version__}

    def recipe(self, dim: int, precision: str, kind: str, ef_search: int | None, rerank: int = 0, k: int = 10) -> dict:
        return faiss_recipe(
            dim, precision, kind, m=self.m, ef_construction=self.ef_construction, ef_search=ef_search, k=k
        )

    def build(self, dim: int, precision: str, kind: str) -> Built:
        recipe = self.recipe(dim, precision, kind, None)
        started = time.perf_counter()
        index = build_index(recipe, prepare(self.docs, dim, precision))
        seconds = time.perf_counter() - started
        return Built(
            dim, precision, kind, index, prepare(self.queries, dim, precision), serialised_bytes(index), seconds
        )

    def search(
        self, built: Built, ef_search: int | None, k: int, rerank: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top k per query, one query at a time: (doc_index, score (higher is better), seconds per query)."""
        if ef_search is not None:
            set_search_parameters(built.index, {"efSearch": ef_search})
        k = min(k, self.docs.shape[0])
        n = built.queries.shape[0]
        index = np.full((n, k), -1, np.int64)
        score = np.full((n, k), -np.inf, np.float64)
        seconds = np.empty(n)
        built.index.search(built.queries[:1], k)  # warm-up
        for q in range(n):
            started = time.perf_counter()
            d, i = built.index.search(built.queries[q : q + 1], k)
            seconds[q] = time.perf_counter() - started
            index[q], score[q] = i[0], -d[0] if built.precision == "binary" else d[0]
        score[index < 0] = -np.inf
        return index, score, seconds

    def exact(self, dim: int, precision: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over the same codes (the flat index of the same codec): the neighbour-recall reference."""
        built = self.build(dim, precision, "flat")
        k = min(k, self.docs.shape[0])
        d, i = built.index.search(built.queries, k)
        score = -d.astype(np.float64) if precision == "binary" else d.astype(np.float64)
        return i.astype(np.int64), np.where(i >= 0, score, -np.inf)

    def drop(self, built: Built) -> None:
        built.index = None

    def table_bytes(self) -> int:
        return 0  # the index holds the codes: its serialised size is the whole footprint

    def close(self) -> None:
        pass
