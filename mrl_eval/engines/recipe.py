"""The deployable recipe of a cell: what was measured, written so that it can be run again.

FAISS: the index factory string, the build and search parameters, and a Python snippet that builds and queries the
index from the full-size vectors (`corpus`, `queries`). pgvector: the DDL (extension, table, HNSW index on an
expression over the full-size column), the load statement, the SET commands and the query, with `$1` the full-size
query vector. The engines build and search from these very strings and parameters, and the tests run what the
report prints, so the recipe cannot drift from the measurement.
"""

from __future__ import annotations

TABLE = "items"


def faiss_factory(precision: str, kind: str, m: int) -> str:
    if precision == "binary":
        return f"BHNSW{m}" if kind == "hnsw" else "BFlat"
    codec = {"float32": "Flat", "float16": "SQfp16", "int8": "SQ8"}[precision]
    return f"HNSW{m},{codec}" if kind == "hnsw" else codec


def faiss_recipe(
    dim: int, precision: str, kind: str, *, m: int, ef_construction: int, ef_search: int | None, k: int
) -> dict:
    binary = precision == "binary"
    index_dim = 8 * ((dim + 7) // 8) if binary else dim
    factory = faiss_factory(precision, kind, m)
    build = {"efConstruction": ef_construction} if kind == "hnsw" else {}
    search = {"efSearch": ef_search} if kind == "hnsw" and ef_search is not None else {}
    if binary:
        prepare = f"    return np.packbits(np.asarray(x)[:, :{dim}] > 0, axis=1)  # sign bits; Hamming distance\n"
        make = f'index = faiss.index_binary_factory({index_dim}, "{factory}")\n'
        about = f"first {dim} values, sign bit (> 0), packed 8 per byte; Hamming distance"
    else:
        prepare = (
            f"    x = np.asarray(x[:, :{dim}], dtype=np.float64)  # the Matryoshka prefix, re-normalised:\n"
            "    norms = np.linalg.norm(x, axis=1, keepdims=True)  # cosine = inner product of unit vectors\n"
            "    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0).astype(np.float32)\n"
        )
        make = f'index = faiss.index_factory({index_dim}, "{factory}", faiss.METRIC_INNER_PRODUCT)\n'
        about = f"first {dim} values, L2-normalised; inner product (= cosine)"
    lines = (
        f"import faiss\nimport numpy as np\n\nk = {k}  # results per query\n\n\ndef prepare(x):\n"
        + prepare
        + "\n\n"
        + make
        + "".join(f"index.hnsw.{key} = {value}\n" for key, value in build.items())
        + "index.train(prepare(corpus))\nindex.add(prepare(corpus))\n"
        + "".join(f"index.hnsw.{key} = {value}\n" for key, value in search.items())
        + "distances, ids = index.search(prepare(queries), k)\n"
    )
    return {
        "engine": "faiss",
        "language": "python",
        "factory": factory,
        "metric": "hamming" if binary else "inner_product",
        "binary": binary,
        "index_dim": index_dim,
        "vectors": about,
        "build": build,
        "search": search,
        "k": k,
        "python": lines,
    }


def pg_expression(column: str, dim: int, full_dim: int, precision: str) -> str:
    """The indexed expression over the full-size `column` (or a full-size query parameter)."""
    prefix = column if dim == full_dim else f"subvector({column}, 1, {dim})"
    if precision == "float32":
        return column if dim == full_dim else f"{prefix}::vector({dim})"
    if precision == "float16":
        return f"{prefix}::halfvec({dim})"
    if precision == "binary":
        return f"binary_quantize({prefix})::bit({dim})"
    raise ValueError(f"pgvector has no {precision} type")


PG_OPS = {
    "float32": ("vector_cosine_ops", "<=>"),
    "float16": ("halfvec_cosine_ops", "<=>"),
    "binary": ("bit_hamming_ops", "<~>"),
}


def pg_table_ddl(full_dim: int, *, temporary: bool = False) -> str:
    """The table of full-size vectors; TEMPORARY in a user's database (it goes with the session)."""
    return (
        f"CREATE {'TEMPORARY ' if temporary else ''}TABLE {TABLE} (id bigint PRIMARY KEY, embedding vector({full_dim}))"
    )


def pg_index_name(dim: int, precision: str) -> str:
    return f"{TABLE}_{precision}_{dim}_hnsw"


def pgvector_recipe(
    dim: int,
    full_dim: int,
    precision: str,
    kind: str,
    *,
    m: int,
    ef_construction: int,
    ef_search: int | None,
    k: int,
    rerank: int = 0,
) -> dict:
    """DDL, SET commands and the query of one cell. `$1` is the full-size query vector ('[0.1,0.2,...]')."""
    opclass, op = PG_OPS[precision]
    column = pg_expression("embedding", dim, full_dim, precision)
    query_vector = pg_expression("$1::vector", dim, full_dim, precision)
    ddl = ["CREATE EXTENSION IF NOT EXISTS vector", pg_table_ddl(full_dim)]
    index_ddl, settings = [], []
    if kind == "hnsw":
        index_ddl.append(
            f"CREATE INDEX {pg_index_name(dim, precision)} ON {TABLE} USING hnsw (({column}) {opclass}) "
            f"WITH (m = {m}, ef_construction = {ef_construction})"
        )
        # The planner may prefer a sequential scan and sort on a small table; the measurement is of the index.
        settings.append("SET enable_seqscan = off")
        if ef_search is not None:
            settings.append(f"SET hnsw.ef_search = {ef_search}")
    else:
        settings.append("SET enable_indexscan = off")  # an exact scan, even where an index on this expression exists
    if rerank:
        query = (
            f"SELECT id, embedding <=> $1::vector AS distance FROM (SELECT id, embedding FROM {TABLE} "
            f"ORDER BY {column} {op} {query_vector} LIMIT {rerank}) AS shortlist ORDER BY distance LIMIT {k}"
        )
    else:
        query = f"SELECT id, {column} {op} {query_vector} AS distance FROM {TABLE} ORDER BY distance LIMIT {k}"
    statements = [
        *ddl,
        f"-- COPY {TABLE} (id, embedding) FROM STDIN: the full-size vectors",
        *index_ddl,
        *settings,
        query,
    ]
    return {
        "engine": "pgvector",
        "language": "sql",
        "table": TABLE,
        "ddl": ddl,
        "load": f"COPY {TABLE} (id, embedding) FROM STDIN",
        "index": index_ddl,
        "settings": settings,
        "query": query,
        "k": k,
        "parameters": {"$1": f"the full-size query vector, vector({full_dim}) text: '[0.1,0.2,...]'"},
        "sql": ";\n".join(statements) + ";\n",
    }
