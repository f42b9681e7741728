"""Property-based tests of the data loaders (JSONL, CSV, TSV, Parquet, BEIR folders, BEIR and TREC qrels) and of
precomputed vectors with their id files: a valid collection or vectors, or MrlEvalError (see tests/fuzzing.py)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.vectors import load_vectors, rescale_extreme_rows, zero_prefix_rows, zero_vector_notes
from mrl_eval.limits import MAX_GRADE, MIN_GRADE
from tests.fuzzing import (
    any_text,
    examples,
    number_text,
    promptly,
    some_bytes,
    tricky_text,
    valid_or_refused,
    workdir,
)

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
    number_text,
)
json_value = st.recursive(
    json_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3), max_leaves=6
)
id_value = st.one_of(st.sampled_from(["d1", "d2", "q1", "q2", " d1 ", "", "1", "1.0"]), json_value)
FIELDS = ["_id", "id", "text", "title", "other"]


@st.composite
def jsonl_file(draw: st.DrawFn) -> bytes:
    """JSONL: records with some of the expected fields (any JSON values), between broken and blank lines."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["record", "record", "record", "garbage", "blank"]))
        if kind == "record":
            keys = draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=4))
            record = {key: draw(id_value if key in ("_id", "id") else json_value) for key in keys}
            lines.append(json.dumps(record, allow_nan=draw(st.booleans())))
        elif kind == "garbage":
            lines.append(draw(st.one_of(any_text, number_text)))
        else:
            lines.append("")
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    return (draw(st.sampled_from(["", "\ufeff"])) + text).encode("utf-8")


@st.composite
def delimited_file(draw: st.DrawFn, delimiter: str) -> bytes:
    """CSV / TSV: a header of some expected names, rows of any text (some with the wrong width), quoted properly
    or written raw."""
    header = draw(st.lists(st.sampled_from(FIELDS), unique=True, min_size=0, max_size=4))
    rows = [header] + [
        draw(st.lists(st.one_of(tricky_text, number_text), min_size=max(0, len(header) - 1), max_size=len(header) + 1))
        for _ in range(draw(st.integers(0, 5)))
    ]
    if draw(st.booleans()):
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(rows)
        return buffer.getvalue().encode("utf-8")
    return "\n".join(delimiter.join(row) for row in rows).encode("utf-8", "surrogatepass")


@st.composite
def qrels_file(draw: st.DrawFn) -> bytes:
    """BEIR TSV (header, 3 columns) or TREC (qid 0 docid rel), with hostile ids and grades and some broken lines."""
    trec = draw(st.booleans())
    lines = [] if trec or not draw(st.booleans()) else ["query-id\tcorpus-id\tscore"]
    ids = st.one_of(st.sampled_from(["q1", "q2", "d1", "d2", "d3"]), tricky_text)
    for _ in range(draw(st.integers(0, 6))):
        fields = [draw(ids), "0", draw(ids), draw(number_text)] if trec else [draw(ids), draw(ids), draw(number_text)]
        if draw(st.integers(0, 5)) == 0:
            fields = fields[: draw(st.integers(0, len(fields)))]
        lines.append((" " if trec else "\t").join(fields))
    return "\n".join(lines).encode("utf-8", "surrogatepass")


# Valid ids holding what TSV, TREC and splitlines() might trip over (never a tab, newline or space).
odd_id = st.text(
    alphabet=st.sampled_from(list("abcXYZ019-_:.#é") + ["\u2028", "\x85", "\x1c", "١"]), min_size=1, max_size=8
)


@st.composite
def collection_files(draw: st.DrawFn, delimiter: str | None) -> tuple[bytes, bytes, bytes]:
    """A valid corpus, queries and qrels (JSONL when `delimiter` is None, else CSV/TSV) with odd but valid ids and
    texts, then now and then one hostile edit: the loader must still load it or name the problem."""
    doc_ids = draw(
        st.lists(odd_id, min_size=1, max_size=5, unique_by=str.strip).filter(lambda ids: all(i.strip() for i in ids))
    )
    query_ids = draw(
        st.lists(odd_id, min_size=1, max_size=3, unique_by=str.strip).filter(lambda ids: all(i.strip() for i in ids))
    )
    text = st.one_of(any_text, st.none()) if delimiter is None else tricky_text

    def table(ids: list[str], title: bool) -> bytes:
        rows = [{"_id": i, "text": draw(text), **({"title": draw(text)} if title else {})} for i in ids]
        if delimiter is None:
            return "\n".join(json.dumps(r) for r in rows).encode("utf-8")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().encode("utf-8")

    judged = draw(
        st.lists(
            st.tuples(st.sampled_from(query_ids), st.sampled_from(doc_ids), st.integers(-1, 3)),
            min_size=1,
            max_size=6,
            unique_by=lambda t: t[:2],
        )
    )
    judged.append((query_ids[0], doc_ids[0], 1))  # at least one relevant document
    judged = list({(q, d): (q, d, g) for q, d, g in judged}.values())
    trec = draw(st.booleans())
    lines = [] if trec else ["query-id\tcorpus-id\tscore"]
    lines += [f"{q} 0 {d} {g}" if trec else f"{q}\t{d}\t{g}" for q, d, g in judged]
    files = [table(doc_ids, True), table(query_ids, False), "\n".join(lines).encode("utf-8")]
    if draw(st.integers(0, 2)) == 0:  # one hostile edit: a line of junk, or a hostile grade
        which = draw(st.integers(0, 2))
        junk = draw(st.one_of(tricky_text, number_text)).encode("utf-8", "surrogatepass")
        files[which] = files[which] + b"\n" + (junk if which < 2 else f"{query_ids[0]}\t{doc_ids[0]}\t".encode() + junk)
    return files[0], files[1], files[2]


def check_collection(collection: Any) -> None:
    """What a loaded collection guarantees: unique, stripped, non-empty ids; integer grades in range; qrels that name
    only known ids (where the corpus and queries were given)."""
    for ids in (collection.doc_ids, collection.query_ids):
        assert len(ids) == len(set(ids))
        assert all(isinstance(i, str) and i and i == i.strip() for i in ids)
    assert len(collection.doc_texts) == len(collection.doc_ids)
    assert len(collection.query_texts) == len(collection.query_ids)
    assert all(isinstance(t, str) for t in collection.doc_texts + collection.query_texts)
    for query_id, judged in collection.qrels.items():
        assert isinstance(query_id, str) and query_id
        for doc_id, grade in judged.items():
            assert isinstance(doc_id, str) and doc_id
            assert type(grade) is int and MIN_GRADE <= grade <= MAX_GRADE
            if collection.doc_ids:
                assert doc_id in collection.doc_ids
        if collection.query_ids:
            assert query_id in collection.query_ids


# --- loaders ------------------------------------------------------------------------------------------------------


hostile_beir = st.tuples(
    st.one_of(jsonl_file(), some_bytes), st.one_of(jsonl_file(), some_bytes), st.one_of(qrels_file(), some_bytes)
)


@examples(60)
@given(files=st.one_of(collection_files(None), hostile_beir))
def test_a_beir_folder_loads_or_is_refused(files):
    corpus, queries, qrels = files
    with workdir() as root:
        (root / "qrels").mkdir()
        (root / "corpus.jsonl").write_bytes(corpus)
        (root / "queries.jsonl").write_bytes(queries)
        (root / "qrels" / "test.tsv").write_bytes(qrels)
        collection = valid_or_refused(lambda: load_collection(root))
        if collection is not None:
            check_collection(collection)


@examples(60)
@given(
    suffix=st.sampled_from([".csv", ".tsv"]),
    data=st.data(),
    qrels_suffix=st.sampled_from([".tsv", ".txt", ".csv"]),
)
def test_csv_and_tsv_files_load_or_are_refused(suffix, data, qrels_suffix):
    delimiter = "," if suffix == ".csv" else "\t"
    if qrels_suffix != ".csv" and data.draw(st.booleans()):
        corpus, queries, qrels = data.draw(collection_files(delimiter))
    else:
        corpus = data.draw(st.one_of(delimited_file(delimiter), some_bytes))
        queries = data.draw(st.one_of(delimited_file(delimiter), some_bytes))
        qrels = data.draw(delimited_file(",") if qrels_suffix == ".csv" else qrels_file())
    with workdir() as root:
        paths = {"corpus": root / f"c{suffix}", "queries": root / f"q{suffix}", "qrels": root / f"r{qrels_suffix}"}
        for path, content in zip(paths.values(), (corpus, queries, qrels)):
            path.write_bytes(content)
        collection = valid_or_refused(lambda: load_collection(**paths))
        if collection is not None:
            check_collection(collection)


@examples(40)
@given(qrels=st.one_of(qrels_file(), some_bytes))
def test_qrels_alone_load_or_are_refused(qrels):
    """As with --embeddings, where the corpus and queries come from the id files."""
    with workdir() as root:
        (root / "qrels.tsv").write_bytes(qrels)
        collection = valid_or_refused(lambda: load_collection(qrels=root / "qrels.tsv", require_texts=False))
        if collection is not None:
            check_collection(collection)


PARQUET_COLUMNS = {
    "_id": ["string", "int64", "float64", "bool", "null", "list"],
    "text": ["string", "int64", "null", "binary"],
    "title": ["string", "null"],
    "query-id": ["string", "int64", "float64"],
    "corpus-id": ["string", "int64"],
    "score": ["int64", "float64", "string", "null"],
}


@st.composite
def parquet_table(draw: st.DrawFn, columns: list[str]) -> Any:
    """A Parquet table of typed columns (as pyarrow writes them), with nulls, NaN, huge numbers and hostile text."""
    import pyarrow as pa

    rows = draw(st.integers(0, 4))
    values = {
        "string": st.one_of(st.none(), any_text, number_text),
        "int64": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        "float64": st.one_of(st.none(), st.floats()),
        "bool": st.one_of(st.none(), st.booleans()),
        "null": st.none(),
        "list": st.one_of(st.none(), st.lists(st.integers(0, 9), max_size=2)),
        "binary": st.one_of(st.none(), some_bytes),
    }
    arrays = {}
    for name in draw(st.lists(st.sampled_from(columns), unique=True, max_size=len(columns))):
        kind = draw(st.sampled_from(PARQUET_COLUMNS[name]))
        column = [draw(values[kind]) for _ in range(rows)]
        types = {"list": pa.list_(pa.int64()), "bool": pa.bool_()}
        arrays[name] = pa.array(column, type=types.get(kind) or getattr(pa, kind)())
    return pa.table(arrays) if arrays else pa.table({"other": pa.array([None] * rows, pa.null())})


@examples(40)
@given(data=st.data())
def test_parquet_files_load_or_are_refused(data):
    import pyarrow.parquet as pq

    with workdir() as root:
        paths = {"corpus": root / "c.parquet", "queries": root / "q.parquet", "qrels": root / "r.parquet"}
        pq.write_table(data.draw(parquet_table(["_id", "text", "title"])), paths["corpus"])
        pq.write_table(data.draw(parquet_table(["_id", "text"])), paths["queries"])
        if data.draw(st.booleans()):
            pq.write_table(data.draw(parquet_table(["query-id", "corpus-id", "score"])), paths["qrels"])
        else:
            paths["qrels"].write_bytes(data.draw(some_bytes))
        collection = valid_or_refused(lambda: load_collection(**paths))
        if collection is not None:
            check_collection(collection)


# --- vectors ------------------------------------------------------------------------------------------------------

HOSTILE_FLOATS = [0.0, -0.0, 1.0, -1.0, 1e-300, 1e-45, 3.4e38, 1e39, -1e300, math.nan, math.inf, -math.inf]


@st.composite
def npy_file(draw: st.DrawFn, rows: int) -> bytes:
    """An .npy of some dtype and shape (usually `rows` x 4), hostile values; or an .npz, a pickle, or junk."""
    kind = draw(st.sampled_from(["good"] * 6 + ["odd", "odd", "npz", "object", "junk", "truncated"]))
    buffer = io.BytesIO()
    if kind == "junk":
        return draw(some_bytes)
    if kind == "odd":  # any shape and dtype, any values
        shape = draw(st.sampled_from([(rows, 4), (rows, 3), (rows,), (rows, 4, 1), (0, 4), (rows, 0)]))
        dtype = draw(st.sampled_from(["float32", "float64", "float16", "int32", "bool", "complex64"]))
        values = draw(st.lists(st.sampled_from(HOSTILE_FLOATS) | st.floats(-2, 2), min_size=1, max_size=8))
    else:  # rows x 4 floats, now and then one hostile value among them
        shape, dtype = (rows, 4), draw(st.sampled_from(["float32", "float64", "float16"]))
        values = draw(st.lists(st.floats(-2, 2), min_size=4 * rows, max_size=4 * rows))
        if draw(st.integers(0, 2)) == 0:
            values[draw(st.integers(0, len(values) - 1))] = draw(st.sampled_from(HOSTILE_FLOATS))
    flat = np.resize(np.array(values, dtype=np.float64), int(np.prod(shape)))
    with np.errstate(all="ignore"), contextlib.suppress(TypeError, ValueError):
        matrix = flat.reshape(shape).astype(dtype)
    if kind == "object":
        np.save(buffer, np.array([[1.0, "x"]] * max(rows, 1), dtype=object), allow_pickle=True)
    elif kind == "npz":
        np.savez(buffer, vectors=matrix)
    else:
        np.save(buffer, matrix)
    data = buffer.getvalue()
    return data[: draw(st.integers(0, len(data) - 1))] if kind == "truncated" else data


@st.composite
def ids_file(draw: st.DrawFn, rows: int, prefix: str) -> bytes:
    ids = [f"{prefix}{i}" for i in range(rows)]
    edit = draw(st.sampled_from(["none"] * 4 + ["odd", "odd", "tricky", "duplicate", "blank", "fewer", "bytes"]))
    if edit == "bytes":
        return draw(some_bytes)
    if edit == "tricky" and ids:
        ids[draw(st.integers(0, rows - 1))] = draw(tricky_text)
    elif edit == "odd" and ids:  # a valid id with characters str.splitlines() would break on
        ids[draw(st.integers(0, rows - 1))] = draw(odd_id)
    elif edit == "duplicate" and len(ids) > 1:
        ids[1] = ids[0]
    elif edit == "blank" and ids:
        ids[0] = ""
    elif edit == "fewer":
        ids = ids[:-1]
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return (ending.join(ids) + draw(st.sampled_from(["", ending]))).encode("utf-8")


@examples(80)
@given(data=st.data(), n_docs=st.integers(1, 5), n_queries=st.integers(1, 3))
def test_a_vectors_folder_loads_or_is_refused(data, n_docs, n_queries):
    with workdir() as root:
        (root / "corpus.npy").write_bytes(data.draw(npy_file(n_docs)))
        (root / "queries.npy").write_bytes(data.draw(npy_file(n_queries)))
        (root / "corpus_ids.txt").write_bytes(data.draw(ids_file(n_docs, "d")))
        (root / "queries_ids.txt").write_bytes(data.draw(ids_file(n_queries, "q")))
        vectors = valid_or_refused(lambda: load_vectors(root))
        if vectors is None:
            return
        assert vectors.docs.ndim == 2 and vectors.docs.shape[0] == len(vectors.doc_ids) > 0
        assert vectors.queries.shape == (len(vectors.query_ids), vectors.full_dim)
        # what scoring sees: every value finite in float32 once rows of extreme norm are rescaled (a finite float64
        # beyond float32's range is accepted at load and rescaled, not refused: data/vectors.rescale_extreme_rows)
        scaled, _ = rescale_extreme_rows(vectors)
        with np.errstate(over="ignore"):
            assert np.isfinite(np.asarray(scaled.docs, np.float32)).all()
            assert np.isfinite(np.asarray(scaled.queries, np.float32)).all()
        for ids in (vectors.doc_ids, vectors.query_ids):
            assert len(set(ids)) == len(ids) and all(ids)
        dims = sorted({1, (vectors.full_dim + 1) // 2, vectors.full_dim})
        with promptly():
            notes = zero_vector_notes(vectors, dims)
            zero = zero_prefix_rows(vectors.docs, dims)
        with np.errstate(all="ignore"):
            docs = np.asarray(vectors.docs, np.float32)
        for d in dims:  # the naive definition: every one of the first d values is 0
            assert zero[d].tolist() == np.flatnonzero((docs[:, :d] == 0).all(axis=1)).tolist()
        assert all("vector" in note for note in notes)
