"""Property-based tests over everything a user hands mrl-eval: the data loaders (JSONL, CSV, TSV, Parquet, BEIR
folders, TREC and BEIR qrels), precomputed vectors and their id files, the option parsers, and the config file.

One property throughout: any input either gives a valid result or raises MrlEvalError (UsageError included), and
does so promptly. Anything else (a foreign exception, a traceback, a hang) is a bug; each one found here has a
regression test in test_input_checks.py named after it. Examples are derandomized (the "ci" profile in
conftest.py), so the suite runs the same examples everywhere; `HYPOTHESIS_PROFILE=explore` draws 20x more, at random.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import string
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.cli.common import CONFIGURABLE
from mrl_eval.cli.config import COMMANDS, file_values, read_config, settings_of
from mrl_eval.data.collections import load_collection
from mrl_eval.data.vectors import load_vectors, zero_prefix_rows, zero_vector_notes
from mrl_eval.decide.compare import Gate
from mrl_eval.decide.recommend import make_rule, parse_max_drop
from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate import metrics as M
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.evaluate.sweep import parse_dims, resolve_dims
from mrl_eval.limits import MAX_GRADE, MAX_RESAMPLES, MAX_SEED, MIN_GRADE, MIN_RESAMPLES
from mrl_eval.methods.grid import parse_methods, parse_scales
from mrl_eval.methods.pca import parse_fit_sample
from mrl_eval.methods.precision import PRECISIONS, parse_precisions
from mrl_eval.methods.two_stage import parse_shortlists, parse_stages

SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else 1
SECONDS_PER_EXAMPLE = 10  # far above any honest example (milliseconds): only a hang reaches it


def examples(n: int) -> settings:
    return settings(max_examples=n * SCALE)


@contextlib.contextmanager
def promptly(seconds: int = SECONDS_PER_EXAMPLE) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the body runs longer than `seconds`."""

    def timeout(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer within {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def valid_or_refused(call: Callable[[], Any]) -> Any:
    """The call's result, or None when it raised MrlEvalError; any other exception fails the test."""
    with promptly():
        try:
            return call()
        except MrlEvalError as err:
            assert str(err).strip(), "an error without a message"
            return None


@contextlib.contextmanager
def workdir(enter: bool = False) -> Iterator[Path]:
    """A fresh folder per example (pytest's tmp_path is one per test, shared by all its examples); `enter`: cd there."""
    with tempfile.TemporaryDirectory(prefix="mrl-eval-fuzz-") as name:
        before = Path.cwd()
        if enter:
            os.chdir(name)
        try:
            yield Path(name)
        finally:
            os.chdir(before)


# --- strategies ---------------------------------------------------------------------------------------------------

# Characters that have broken parsers before: separators, quotes, line breaks str.splitlines() knows, NUL, a BOM,
# non-ASCII digits that \d matches, signs and exponents.
TRICKY = list("ab01 9-+.eE%@,;:\t\"'\\{}[]#=") + [
    "\n",
    "\r",
    "\u2028",
    "\x85",
    "\x1c",
    "\x00",
    "\ufeff",
    "é",
    "٣",
    "１",
]
tricky_text = st.text(alphabet=st.sampled_from(TRICKY), max_size=24)
any_text = st.one_of(tricky_text, st.text(max_size=24))
# 19 digits: past int64; 309: past float64 (inf); 4,301: past what int() converts at all.
long_digits = st.sampled_from([19, 20, 309, 400, 4301, 5000]).map(lambda n: "9" * n)
number_text = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    long_digits,
    st.sampled_from(["2e400", "1e-400", "nan", "inf", "-0", "0x10", "1_000", " 7 ", "+3", "٣", "１"]),
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
            lines.append(draw(any_text))
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


some_bytes = st.binary(max_size=200)
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
        with np.errstate(over="ignore"):  # what scoring sees: every value finite after the cast to float32
            assert np.isfinite(np.asarray(vectors.docs, np.float32)).all()
            assert np.isfinite(np.asarray(vectors.queries, np.float32)).all()
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


# --- option parsers -----------------------------------------------------------------------------------------------

spec_text = st.one_of(
    tricky_text,
    st.lists(st.one_of(number_text, number_text.map(lambda s: s + "%"), tricky_text), max_size=4).map(",".join),
)


@examples(200)
@given(spec=st.one_of(st.none(), spec_text), full_dim=st.integers(1, 4096))
def test_dims_specs_parse_to_dims_within_the_model_or_are_refused(spec, full_dim):
    dims = valid_or_refused(lambda: resolve_dims(spec, full_dim))
    if dims is not None:
        assert dims == sorted(set(dims)) and dims[-1] == full_dim and dims[0] >= 1
        assert all(type(d) is int for d in dims)
        parsed = parse_dims(spec)
        assert all((kind == "abs" and value >= 1) or (kind == "pct" and 0 < value <= 100) for kind, value in parsed)


metric_text = st.one_of(
    tricky_text,
    st.tuples(
        st.sampled_from([*M.SUPPORTED, "NDCG", "ndcg ", "p", ""]), st.sampled_from(["@", " @ ", "", "@@"]), number_text
    ).map("".join),
)


@examples(200)
@given(spec=st.one_of(metric_text, st.lists(metric_text, max_size=3).map(",".join)))
def test_metric_names_parse_to_canonical_names_or_are_refused(spec):
    names = valid_or_refused(lambda: M.parse_metrics(spec))
    if names is not None:
        assert names and len(names) == len(set(names))
        for name in names:
            metric, k = M.parse_metric(name)
            assert metric in M.SUPPORTED and type(k) is int and k >= 1 and name == f"{metric}@{k}"
        depth = M.max_depth(names)
        assert depth >= 1


@examples(100)
@given(
    spec=st.one_of(
        st.none(), tricky_text, st.lists(st.sampled_from([*PRECISIONS, "int4", " INT8 ", ""]), max_size=4).map(",".join)
    )
)
def test_precisions_parse_or_are_refused(spec):
    chosen = valid_or_refused(lambda: parse_precisions(spec))
    if chosen is not None:
        assert chosen and set(chosen) <= set(PRECISIONS)


@examples(200)
@given(text=st.one_of(tricky_text, number_text, number_text.map(lambda s: s + "%")))
def test_max_drop_specs_parse_to_a_drop_within_bounds_or_are_refused(text):
    parsed = valid_or_refused(lambda: parse_max_drop(text))
    if parsed is not None:
        absolute, relative = parsed
        assert (absolute is None) != (relative is None)
        value = absolute if absolute is not None else relative
        assert 0 <= value <= 1 and math.isfinite(value)
    valid_or_refused(lambda: Gate("ndcg@10", "point", text).check())


@examples(150)
@given(
    min_value=st.one_of(st.none(), st.floats()),
    max_drop=st.one_of(st.none(), tricky_text, number_text),
    kind=st.sampled_from(["point", "lower-bound", "non-inferior", "x", ""]),
)
def test_bars_are_made_or_refused(min_value, max_drop, kind):
    rule = valid_or_refused(lambda: make_rule("ndcg@10", min_value, max_drop, kind))
    if rule is not None and rule.min_value is not None:
        assert 0 <= rule.min_value <= 1


@examples(200)
@given(
    confidence=st.one_of(st.floats(), st.integers(-5, 5)),
    resamples=st.one_of(st.integers(), st.integers(min_value=10**20, max_value=10**30)),
    seed=st.one_of(st.integers(), st.integers(min_value=2**62, max_value=2**65)),
    method=st.sampled_from(["bca", "percentile", "BCa", ""]),
)
def test_statistics_settings_are_within_bounds_or_refused(confidence, resamples, seed, method):
    checked = valid_or_refused(lambda: StatsSettings(confidence, resamples, seed, method).check())
    if checked is not None:
        assert 0.5 <= checked.confidence < 1
        assert MIN_RESAMPLES <= checked.resamples <= MAX_RESAMPLES
        assert 0 <= checked.seed <= MAX_SEED


@examples(150)
@given(spec=st.one_of(tricky_text, st.lists(st.one_of(number_text, tricky_text), max_size=3).map(",".join)))
def test_grid_specs_parse_or_are_refused(spec):
    shortlists = valid_or_refused(lambda: parse_shortlists(spec))
    if shortlists is not None:
        assert shortlists == sorted(set(shortlists)) and all(type(s) is int and s >= 1 for s in shortlists)
    scales = valid_or_refused(lambda: parse_scales(spec))
    if scales is not None:
        assert all(type(n) is int and n >= 1 for n in scales.values())
    sample = valid_or_refused(lambda: parse_fit_sample(spec))
    assert sample is None or (isinstance(sample, float) and 0 < sample < 1) or (type(sample) is int and sample > 1)
    stages = valid_or_refused(lambda: parse_stages(spec, 768))
    if stages is not None:
        assert all(1 <= s.dim <= 768 and s.precision in PRECISIONS for s in stages)
    valid_or_refused(lambda: parse_methods(spec))


# --- the config file ----------------------------------------------------------------------------------------------

runner = CliRunner()
CONFIG_KEYS = [
    "dims", "metrics", "metric", "resamples", "seed", "confidence", "ci-method", "max-drop", "min-ndcg", "min",
    "rule", "holdout", "precisions", "shortlist", "two-stage", "scale", "pca-fit-sample", "batch-size",
    "concurrency", "max-retries", "max-cost", "out", "data", "split", "optimize", "methods", "compare",
    "safety-margin", "baseline-max-drop", "cache-dtype", "provider", "unknown-key", "min_ndcg",
]  # fmt: skip


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


toml_scalar = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    tricky_text,
    number_text,
)


@st.composite
def config_file(draw: st.DrawFn) -> str:
    lines = []
    for key in draw(st.lists(st.sampled_from(CONFIG_KEYS), unique=True, max_size=4)):
        value = draw(st.one_of(toml_scalar, st.lists(toml_scalar, max_size=3)))
        lines.append(f"{json.dumps(key)} = {toml_value(value)}")
    if draw(st.booleans()):
        lines.append(f"[{draw(st.sampled_from(['recommend', 'compare', 'sweep']))}]")
        key = draw(st.sampled_from(CONFIG_KEYS))
        lines.append(f"{json.dumps(key)} = {toml_value(draw(toml_scalar))}")
    return "\n".join(lines) + "\n"


config_body = st.one_of(config_file(), st.text(alphabet=string.printable, max_size=60))
ROOT_COMMAND = typer.main.get_command(app)
SPECS = {name: settings_of(ROOT_COMMAND.commands[name], CONFIGURABLE[name]) for name in COMMANDS}  # type: ignore[attr-defined]


@examples(80)
@given(body=config_body, command=st.sampled_from(COMMANDS))
def test_a_config_file_is_read_or_refused_naming_the_file(body, command):
    """The file's values as the command would run with them, each checked as its flag would be."""
    with workdir() as root:
        path = root / "mrl-eval.toml"
        path.write_text(body, encoding="utf-8")
        ctx = ROOT_COMMAND.commands[command].make_context(command, [])  # type: ignore[attr-defined]
        values = valid_or_refused(lambda: file_values(read_config(path), command, SPECS, ctx))
    if values is None:
        return
    for name, (key, value) in values.items():
        assert key in SPECS[command] and SPECS[command][key].name == name
        if name == "resamples":
            assert MIN_RESAMPLES <= value <= MAX_RESAMPLES
        if name == "seed":
            assert 0 <= value <= MAX_SEED


@examples(12)
@given(body=config_body, command=st.sampled_from(COMMANDS))
def test_config_show_answers_any_config_file_without_a_traceback(body, command):
    """The same files end to end (`mrl-eval config show`): exit 0, or exit 1 naming the file."""
    with workdir(enter=True) as root:
        (root / "mrl-eval.toml").write_text(body, encoding="utf-8")
        with promptly():
            result = runner.invoke(app, ["config", "show", command, "--json"])
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 1:
        assert "mrl-eval.toml" in result.stderr


@pytest.mark.parametrize("command", ["recommend", "compare"])
def test_the_fuzz_suite_sees_a_refusal_as_refusal(command, tmp_path, monkeypatch):
    """The property above could pass by never reaching the checks: a known-bad file must come back as exit 1."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mrl-eval.toml").write_text("resamples = 5\n", encoding="utf-8")
    result = runner.invoke(app, ["config", "show", command, "--json"])
    assert result.exit_code == 1 and "resamples = 5" in result.stderr
