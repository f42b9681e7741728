"""Where a cell is searched: `exact` (brute force, the reference), `faiss` (embedded) or `pgvector` (PostgreSQL).

The exact engine is today's sweep. The other engines rebuild every (dim, precision) cell inside a real index and
report what a deployment of that index would see: task quality against the qrels, neighbour recall against exact
search over the same codes, the index's own size, its build time and one-query-at-a-time latency, plus the recipe
(FAISS factory string, or pgvector DDL and query) that reproduces the index. See docs/engines.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mrl_eval.errors import UsageError
from mrl_eval.evaluate.stats import MetricStats

ENGINES = ("exact", "faiss", "pgvector")
INDEX_KINDS = ("hnsw", "flat")
DEFAULT_EF_SEARCH = (16, 64, 256)
# Neighbour recall is counted in the top RECALL_K of the engine against the top RECALL_K of exact search.
RECALL_K = 10
TIE_RULE = (
    "Each engine returns its own order. Before scoring, the k results it returned are re-sorted by score, equal "
    "scores by doc id descending (what trec_eval does with a run file); which documents tie at the k-th place and "
    "make the cut is the engine's choice. Neighbour recall counts a returned document as a true neighbour when it "
    "scores at least the k-th exact score (ann-benchmarks' rule), so a tie at the cut is never counted as a miss."
)
LATENCY_NOTE = "one query at a time, one thread, measured on this machine: median and p95 over the evaluated queries"


def parse_ef_search(spec: str | None) -> tuple[int, ...]:
    """'16,64,256' -> (16, 64, 256), sorted and distinct; None -> the default."""
    if spec is None:
        return DEFAULT_EF_SEARCH
    values = set()
    for raw in spec.split(","):
        token = raw.strip()
        if not token.isdigit() or int(token) < 1:
            raise UsageError(f"--ef-search: {token!r} is not a positive whole number; use e.g. --ef-search 16,64,256")
        values.add(int(token))
    if not values:
        raise UsageError("--ef-search: give at least one value, e.g. --ef-search 16,64,256")
    return tuple(sorted(values))


def parse_index_kinds(spec: str | None) -> tuple[str, ...]:
    names = [t.strip().lower() for t in (spec or "hnsw").split(",") if t.strip()]
    for name in names:
        if name not in INDEX_KINDS:
            raise UsageError(f"--index: {name!r} is not an index kind; choose from {', '.join(INDEX_KINDS)}")
    return tuple(k for k in INDEX_KINDS if k in names) or ("hnsw",)


@dataclass(frozen=True)
class EngineSettings:
    engine: str = "exact"
    index_kinds: tuple[str, ...] = ("hnsw",)
    hnsw_m: int = 16
    ef_construction: int = 64  # pgvector's default; FAISS's own default is 40
    ef_search: tuple[int, ...] = DEFAULT_EF_SEARCH
    pg_dsn: str | None = None
    rerank: int = 0  # pgvector: shortlist size of the shortlist-then-rerank query; 0 = off

    @property
    def active(self) -> bool:
        return self.engine != "exact"

    def check(self) -> EngineSettings:
        if self.engine not in ENGINES:
            raise UsageError(f"--engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        if self.hnsw_m < 2:
            raise UsageError(f"--hnsw-m {self.hnsw_m}: HNSW needs at least 2 links per node (16 is usual)")
        if self.ef_construction < 1:
            raise UsageError(f"--ef-construction {self.ef_construction}: must be at least 1 (64 is usual)")
        if self.rerank < 0:
            raise UsageError(f"--rerank {self.rerank}: a shortlist size, 0 for none")
        if self.pg_dsn and self.engine != "pgvector":
            raise UsageError("--pg-dsn is for --engine pgvector")
        if self.engine == "pgvector":
            check_pgvector_bounds(self)
        return self

    def describe(self) -> dict:
        about = {"engine": self.engine, "index": list(self.index_kinds)}
        if "hnsw" in self.index_kinds:
            about.update(m=self.hnsw_m, ef_construction=self.ef_construction, ef_search=list(self.ef_search))
        if self.engine == "pgvector":
            about.update(server="--pg-dsn" if self.pg_dsn else "throwaway local PostgreSQL", rerank=self.rerank)
        return about


# pgvector's own limits (src/hnsw.h: HNSW_MIN_M .. HNSW_MAX_M, HNSW_MIN_EF_CONSTRUCTION .. HNSW_MAX_EF_CONSTRUCTION,
# HNSW_MIN_EF_SEARCH .. HNSW_MAX_EF_SEARCH; CREATE INDEX refuses ef_construction < 2 * m)
PG_M, PG_EF_CONSTRUCTION, PG_EF_SEARCH = (2, 100), (4, 1000), (1, 1000)


def check_pgvector_bounds(settings: EngineSettings) -> None:
    """The index options pgvector accepts, checked before any work (pgvector refuses them at CREATE INDEX or SET,
    after the exact search has run)."""
    low, high = PG_M
    if not low <= settings.hnsw_m <= high:
        raise UsageError(f"--hnsw-m {settings.hnsw_m}: pgvector's m is {low} to {high} (16 is its default)")
    low, high = PG_EF_CONSTRUCTION
    if not low <= settings.ef_construction <= high:
        raise UsageError(
            f"--ef-construction {settings.ef_construction}: pgvector's ef_construction is {low} to {high} (64 is its "
            "default)"
        )
    if settings.ef_construction < 2 * settings.hnsw_m:
        raise UsageError(
            f"--ef-construction {settings.ef_construction}: pgvector needs at least 2 x --hnsw-m "
            f"({2 * settings.hnsw_m})"
        )
    low, high = PG_EF_SEARCH
    if "hnsw" in settings.index_kinds and not low <= max(settings.ef_search) <= high:
        raise UsageError(f"--ef-search {max(settings.ef_search)}: pgvector's hnsw.ef_search is {low} to {high}")


@dataclass(frozen=True)
class EngineCell:
    """One index configuration: a (dim, precision) cell in one index kind, searched at one efSearch."""

    engine: str
    index: str  # "hnsw" or "flat"
    dim: int
    precision: str
    ef_search: int | None  # None for a flat index
    rerank: int  # shortlist size of a shortlist-then-rerank query, 0 for none
    metrics: dict[str, float]
    neighbour_recall: float  # mean share of exact search's top RECALL_K (same dim, same codes) found by the engine
    index_bytes: int  # serialised index (FAISS) or the index relation (pgvector)
    build_seconds: float
    latency_ms: tuple[float, float]  # median, p95
    recipe: dict
    stats: dict[str, MetricStats] = field(default_factory=dict)
    # queries that got fewer than k results (an efSearch or hnsw.ef_search below k stops early); None in reports
    # written before it was counted
    short_lists: int | None = None

    @property
    def label(self) -> str:
        parts = [self.engine, self.index, str(self.dim), self.precision]
        if self.ef_search is not None:
            parts.append(f"ef{self.ef_search}")
        if self.rerank:
            parts.append(f"rerank{self.rerank}")
        return ":".join(parts)


@dataclass(frozen=True)
class EngineResult:
    settings: EngineSettings
    cells: list[EngineCell]
    per_query: dict[str, dict[str, dict[str, float]]]  # cell label -> metric -> query_id -> value
    reference: str  # the exact full-dim float32 label the paired tests compare against
    table_bytes: int  # pgvector: the table holding the full vectors (0 for FAISS: the index holds the codes)
    server: dict  # engine version, and for pgvector where the server came from
    machine: dict


ENGINE_KEYS = ("engine", "index_kind", "hnsw_m", "ef_construction", "ef_search", "pg_dsn", "rerank")


def settings_from_options(options: dict) -> EngineSettings:
    """Take the engine flags out of `options` (a command's parameters) and check them."""
    values = {key: options.pop(key, None) for key in ENGINE_KEYS}
    defaults = EngineSettings()
    return EngineSettings(
        engine=(values["engine"] or "exact").strip().lower(),
        index_kinds=parse_index_kinds(values["index_kind"]),
        hnsw_m=defaults.hnsw_m if values["hnsw_m"] is None else int(values["hnsw_m"]),
        ef_construction=defaults.ef_construction if values["ef_construction"] is None else values["ef_construction"],
        ef_search=parse_ef_search(values["ef_search"]),
        pg_dsn=values["pg_dsn"] or None,
        rerank=values["rerank"] or 0,
    ).check()
