"""Where a cell is searched: `exact` (brute force, the reference) or an engine (`faiss` embedded, `pgvector` in
PostgreSQL, or any engine registered here).

The exact engine is today's sweep. An engine rebuilds every (dim, precision) cell inside a real index and reports
what a deployment of that index would see: task quality against the qrels, neighbour recall against exact search
over the same codes, the index's own size, its build time and one-query-at-a-time latency, plus the recipe that
reproduces the index. See docs/engines.md.

An engine is one module: a class that meets `EngineClass` (its name, its own options and their checks, how it opens)
and whose instances meet `Engine` (build, search, exact search, recipe, sizes, version), registered here by name
(`ENGINE_CLASSES`, imported when first used, or `register_engine`). `evaluate.evaluate_engine` drives any of them;
the report and the recipe code read what the engine wrote and never name one. docs/architecture.md adds a toy
engine in one module.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mrl_eval import defaults
from mrl_eval.engines.dsn import redact_dsn
from mrl_eval.errors import UsageError
from mrl_eval.evaluate.stats import MetricStats

INDEX_KINDS = ("hnsw", "flat")
DEFAULT_EF_SEARCH = tuple(int(v) for v in defaults.EF_SEARCH.split(","))
# Neighbour recall is counted in the top RECALL_K of the engine against the top RECALL_K of exact search.
RECALL_K = 10
TIE_RULE = (
    "Each engine returns its own order. Before scoring, the k results it returned are re-sorted by score, equal "
    "scores by doc id descending (what trec_eval does with a run file); which documents tie at the k-th place and "
    "make the cut is the engine's choice. Neighbour recall counts a returned document as a true neighbour when it "
    "scores at least the k-th exact score (ann-benchmarks' rule), so a tie at the cut is never counted as a miss."
)
LATENCY_NOTE = "one query at a time, one thread, measured on this machine: median and p95 over the evaluated queries"
EXACT = defaults.ENGINE  # no engine: the plain sweep, the reference every engine is compared with


class BuiltIndex(Protocol):
    """One built index of a cell, as `Engine.build` returns it."""

    dim: int
    precision: str
    kind: str  # one of INDEX_KINDS
    size: int  # bytes the index takes (FAISS: serialised; pgvector: the index relation)
    seconds: float  # build time


class Engine(Protocol):
    """An opened engine holding one corpus and the evaluated queries. Scores are higher-is-better; doc indexes are
    corpus rows, -1 where fewer results came back."""

    name: str
    precisions: tuple[str, ...]  # the precisions it can store; others are not measured (see `version`)
    reranks: bool  # whether it runs the shortlist-then-rerank query (`--rerank`)

    def build(self, dim: int, precision: str, kind: str) -> BuiltIndex: ...

    def search(
        self, built: BuiltIndex, ef_search: int | None, k: int, rerank: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top k per query, one query at a time: (doc index, score, seconds per query)."""
        ...

    def exact(self, dim: int, precision: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over the same codes (the neighbour-recall reference): (doc index, score), k per query."""
        ...

    def drop(self, built: BuiltIndex) -> None: ...

    def recipe(self, dim: int, precision: str, kind: str, ef_search: int | None, rerank: int = 0, k: int = 10) -> dict:
        """What reproduces the cell. `language` names the key that holds the code to print ("python", "sql")."""
        ...

    def table_bytes(self) -> int:
        """Bytes every cell shares beyond its index (pgvector's table of full-size vectors; 0 if none)."""
        ...

    def version(self) -> dict:
        """`engine`, `version` (shown in the report's title), optionally `server` and `not_measured` (a note)."""
        ...

    def close(self) -> None: ...


class EngineClass(Protocol):
    """What a registration names: the engine's class, or anything with these members."""

    name: str
    options: tuple[str, ...]  # EngineSettings fields only this engine reads ("pg_dsn", "rerank"); others refuse them

    def open(self, settings: EngineSettings, docs: np.ndarray, queries: np.ndarray) -> Engine:
        """The engine, ready to build (a missing extra is an MrlEvalError naming it)."""
        ...

    def check(self, settings: EngineSettings) -> None:
        """UsageError for settings the engine cannot run (its own bounds), before any work."""
        ...

    def describe(self, settings: EngineSettings) -> dict:
        """The engine's own settings, as the report states them (beyond index, m, ef_construction, ef_search)."""
        ...


# name -> "module:class", imported when first used, so that `--help` and a FAISS run never import the others
ENGINE_CLASSES: dict[str, str] = {
    "faiss": "mrl_eval.engines.faiss:FaissEngine",
    "pgvector": "mrl_eval.engines.pgvector:PgvectorEngine",
}
_registered: dict[str, EngineClass] = {}


def register_engine(engine: EngineClass) -> None:
    """Make `engine` (a class meeting EngineClass) available as `--engine <engine.name>`."""
    if engine.name == EXACT:
        raise ValueError(f"{EXACT!r} is the reference search, not an engine name")
    _registered[engine.name] = engine


def unregister_engine(name: str) -> None:
    _registered.pop(name, None)


def engine_names() -> tuple[str, ...]:
    return (EXACT, *ENGINE_CLASSES, *(n for n in _registered if n not in ENGINE_CLASSES))


def engine_class(name: str) -> EngineClass:
    """The registered class of engine `name` (UsageError for an unknown name)."""
    if name in _registered:
        return _registered[name]
    if name not in ENGINE_CLASSES:
        raise UsageError(f"--engine {name!r}: choose one of {', '.join(engine_names())}")
    module, attribute = ENGINE_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), attribute)


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
    engine: str = EXACT
    index_kinds: tuple[str, ...] = (defaults.INDEX_KIND,)
    hnsw_m: int = defaults.HNSW_M
    ef_construction: int = defaults.EF_CONSTRUCTION
    ef_search: tuple[int, ...] = DEFAULT_EF_SEARCH
    pg_dsn: str | None = None  # pgvector: the user's database
    rerank: int = defaults.RERANK  # pgvector: shortlist size of the shortlist-then-rerank query; 0 = off

    @property
    def active(self) -> bool:
        return self.engine != EXACT

    def check(self) -> EngineSettings:
        """The generic bounds, options given to an engine that does not read them, then the engine's own checks."""
        if self.engine not in engine_names():
            raise UsageError(f"--engine {self.engine!r}: choose one of {', '.join(engine_names())}")
        if self.hnsw_m < 2:
            raise UsageError(f"--hnsw-m {self.hnsw_m}: HNSW needs at least 2 links per node (16 is usual)")
        if self.ef_construction < 1:
            raise UsageError(f"--ef-construction {self.ef_construction}: must be at least 1 (64 is usual)")
        if self.rerank < 0:
            raise UsageError(f"--rerank {self.rerank}: a shortlist size, 0 for none")
        mine = () if not self.active else engine_class(self.engine).options
        for name in engine_names()[1:]:
            for option in engine_class(name).options:
                if option not in mine and getattr(self, option) != _DEFAULTS[option]:
                    raise UsageError(f"--{option.replace('_', '-')} is for --engine {name}")
        if self.active:
            engine_class(self.engine).check(self)
        return self

    def shown(self) -> dict[str, Any]:
        """Every field as a report's settings show them: a connection string without its password."""
        out = dataclasses.asdict(self)
        for name in SECRET_OPTIONS:
            out[name] = redact_dsn(out[name])
        return out

    def describe(self) -> dict:
        about: dict[str, Any] = {"engine": self.engine, "index": list(self.index_kinds)}
        if "hnsw" in self.index_kinds:
            about.update(m=self.hnsw_m, ef_construction=self.ef_construction, ef_search=list(self.ef_search))
        if self.active:
            about.update(engine_class(self.engine).describe(self))
        return about


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(EngineSettings)}
SECRET_OPTIONS = ("pg_dsn",)  # connection strings: shown only without their password


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
        engine=(values["engine"] or EXACT).strip().lower(),
        index_kinds=parse_index_kinds(values["index_kind"]),
        hnsw_m=defaults.hnsw_m if values["hnsw_m"] is None else int(values["hnsw_m"]),
        ef_construction=defaults.ef_construction if values["ef_construction"] is None else values["ef_construction"],
        ef_search=parse_ef_search(values["ef_search"]),
        pg_dsn=values["pg_dsn"] or None,
        rerank=values["rerank"] or 0,
    ).check()
