"""Tests for mrl_eval.data.collection_files: formats, every problem kind with its file:line, and the real collections."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mrl_eval.data.collection_files import check_qrels, join_title_text, load_collection
from mrl_eval.data.text_columns import Columns
from mrl_eval.errors import MAX_REPORTED_PROBLEMS, MrlEvalError, MrlEvalWarning
from tests.conftest import brute_force_run, checkout_env, data_path, read_qrels_tsv, require

CORPUS = [
    {"_id": "d1", "title": "Alpha", "text": "first doc"},
    {"_id": "d2", "title": "", "text": "second doc"},
    {"_id": "d3", "title": "Gamma", "text": ""},
]
QUERIES = [{"_id": "q1", "text": "what is alpha"}, {"_id": "q2", "text": "second?"}]
QRELS_TSV = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t0\nq2\td2\t2\n"
EXPECTED_QRELS = {"q1": {"d1": 1, "d3": 0}, "q2": {"d2": 2}}
EXPECTED_DOC_TEXTS = ["Alpha first doc", "second doc", "Gamma"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make_folder(tmp_path: Path, *, corpus: str | None = None, qrels: str = QRELS_TSV) -> Path:
    """A BEIR folder; `corpus` replaces corpus.jsonl's text when given."""
    folder = tmp_path / "beir"
    if corpus is None:
        write_jsonl(folder / "corpus.jsonl", CORPUS)
    else:
        write_text(folder / "corpus.jsonl", corpus)
    write_jsonl(folder / "queries.jsonl", QUERIES)
    write_text(folder / "qrels" / "test.tsv", qrels)
    return folder


def error_of(**kwargs) -> str:
    with pytest.raises(MrlEvalError) as info:
        load_collection(**kwargs)
    return str(info.value)


# --- join_title_text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("Title", "Body", "Title Body"),
        ("", "Body", "Body"),
        (None, "Body", "Body"),
        ("Title", "", "Title"),
        ("Title", None, "Title"),
        ("", "", ""),
        (None, None, ""),
        ("  Title ", " Body  ", "Title Body"),
        ("   ", "Body", "Body"),
    ],
)
def test_join_title_text(title: str | None, text: str | None, expected: str) -> None:
    assert join_title_text(title, text) == expected


# --- happy paths and formats ---------------------------------------------------------------------------


def test_beir_folder_loads_in_file_order(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    collection = load_collection(folder)
    assert collection.doc_ids == ["d1", "d2", "d3"]
    assert collection.doc_texts == EXPECTED_DOC_TEXTS
    assert collection.query_ids == ["q1", "q2"]
    assert collection.query_texts == ["what is alpha", "second?"]
    assert collection.qrels == EXPECTED_QRELS
    assert collection.sources == {
        "corpus": str(folder / "corpus.jsonl"),
        "queries": str(folder / "queries.jsonl"),
        "qrels": str(folder / "qrels" / "test.tsv"),
    }


def test_blank_lines_bom_int_ids_null_text_and_unjudged_queries(tmp_path: Path) -> None:
    corpus = '\ufeff{"_id": 5, "title": null, "text": "five"}\n\n{"_id": "6"}\r\n{"_id": "7", "text": null}\n'
    folder = make_folder(tmp_path, corpus=corpus, qrels="query-id\tcorpus-id\tscore\nq1\t5\t1\n\n")
    collection = load_collection(folder)
    assert collection.doc_ids == ["5", "6", "7"]
    assert collection.doc_texts == ["five", "", ""]
    assert collection.query_ids == ["q1", "q2"]  # q2 has no judgments and is kept
    assert collection.qrels == {"q1": {"5": 1}}


def test_line_separator_inside_json_string_does_not_shift_line_numbers(tmp_path: Path) -> None:
    # str.splitlines() would break line 1 at U+2028 and call the duplicate "line 3".
    corpus = '{"_id": "a", "text": "x\u2028y"}\n{"_id": "a", "text": "z"}\n'
    message = error_of(folder=make_folder(tmp_path, corpus=corpus))
    assert "corpus.jsonl:2: duplicate id 'a' (first seen on line 1)" in message


def write_corpus(path: Path) -> Path:
    """CORPUS in the format of path's extension, with the doc ids written as they come."""
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(CORPUS), path)
    elif path.suffix in (".csv", ".tsv"):
        import csv

        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, ["_id", "title", "text"], delimiter="," if path.suffix == ".csv" else "\t")
            writer.writeheader()
            writer.writerows(CORPUS)
    else:
        write_jsonl(path, CORPUS)
    return path


@pytest.mark.parametrize("name", ["corpus.jsonl", "corpus.json", "corpus.csv", "corpus.tsv", "corpus.parquet"])
def test_corpus_formats(tmp_path: Path, name: str) -> None:
    folder = make_folder(tmp_path)
    corpus = write_corpus(tmp_path / name)
    collection = load_collection(folder, corpus=corpus)
    assert collection.doc_ids == ["d1", "d2", "d3"]
    assert collection.doc_texts == EXPECTED_DOC_TEXTS
    assert collection.sources["corpus"] == str(corpus)


def test_csv_with_quoted_multiline_field_and_id_column_fallback(tmp_path: Path) -> None:
    corpus = write_text(tmp_path / "docs.csv", 'id,text\n1,"two\nlines"\n2,plain\n2,again\n')
    message = error_of(folder=make_folder(tmp_path), corpus=corpus)
    # Record "2,plain" starts on line 4 because the quoted field spans lines 2-3.
    assert "docs.csv:5: duplicate id '2' (first seen on line 4)" in message


def test_csv_field_longer_than_csv_default_limit(tmp_path: Path) -> None:
    long_text = "word " * 40_000  # 200,000 characters; csv's default field limit is 131,072
    corpus = write_text(tmp_path / "long.tsv", f"_id\ttext\nd1\t{long_text}\nd2\tb\nd3\tc\n")
    collection = load_collection(make_folder(tmp_path), corpus=corpus)
    assert collection.doc_texts[0] == long_text.strip()


def test_parquet_int_ids_and_titles_joined(tmp_path: Path) -> None:
    table = pa.table({"id": [10, 11], "title": ["T", None], "text": [None, "body"]})
    pq.write_table(table, tmp_path / "c.parquet")
    qrels = write_text(tmp_path / "q.tsv", "query-id\tcorpus-id\tscore\nq1\t10\t1\n")
    collection = load_collection(make_folder(tmp_path), corpus=tmp_path / "c.parquet", qrels=qrels)
    assert collection.doc_ids == ["10", "11"]
    assert collection.doc_texts == ["T", "body"]


def test_bug_a_text_that_is_not_a_string_was_embedded_as_its_repr(tmp_path: Path) -> None:
    table = pa.table({"id": ["d1", "d2", "d3"], "text": [["a", "b"], ["c"], ["d"]]})
    pq.write_table(table, tmp_path / "c.parquet")
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": 42}, {"_id": "q2", "text": "two"}])
    message = error_of(folder=make_folder(tmp_path), corpus=tmp_path / "c.parquet", queries=queries)
    assert "c.parquet: row 1: 'text' must be a string (or null), got a list ['a', 'b']" in message
    assert "q.jsonl:1: 'text' must be a string (or null), got a number 42" in message
    # with precomputed vectors the texts are never embedded, only shown: such a text is shown empty, not refused
    shown = load_collection(make_folder(tmp_path), corpus=tmp_path / "c.parquet", queries=queries, require_texts=False)
    assert shown.doc_texts == ["", "", ""] and shown.query_texts == ["", "two"]


def test_custom_columns(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"pid": "d1", "body": "x", "head": "H"}])
    queries = write_jsonl(tmp_path / "q.jsonl", [{"pid": "q1", "body": "ask"}])
    qrels = write_text(tmp_path / "r.tsv", "q1\td1\t1\n")
    collection = load_collection(
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        doc_columns=Columns("corpus", id="pid", text="body", title="head"),
        query_columns=Columns("queries", id="pid", text="body"),
    )
    assert (collection.doc_texts, collection.query_texts) == (["H x"], ["ask"])


# --- each file's columns (issue 22: one --text-column for both files made the corpus embed its titles alone) ---

BEIR_CORPUS = [{"_id": "d1", "title": "Alpha", "text": "first doc"}, {"_id": "d2", "title": "Beta", "text": "second"}]
QRELS_D = "q1\td1\t1\nq2\td2\t1\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("queries.csv", "query_id,query\nq1,what is alpha\nq2,beta?\n"),
        ("queries.tsv", "query-id\tquestion\nq1\twhat is alpha\nq2\tbeta?\n"),
        ("queries.jsonl", '{"_id": "q1", "query": "what is alpha"}\n{"_id": "q2", "query": "beta?"}\n'),
        ("queries.jsonl", '{"qid": "q1", "text": "what is alpha"}\n{"qid": "q2", "text": "beta?"}\n'),
    ],
)
def test_bug_a_queries_file_with_common_column_names_reads_without_flags(tmp_path: Path, name, content) -> None:
    """The oracle is the file itself: each query's own text, and the corpus's title joined to its text."""
    corpus = write_jsonl(tmp_path / "corpus.jsonl", BEIR_CORPUS)
    queries = write_text(tmp_path / name, content)
    collection = load_collection(corpus=corpus, queries=queries, qrels=write_text(tmp_path / "r.tsv", QRELS_D))
    assert collection.query_ids == ["q1", "q2"]
    assert collection.query_texts == ["what is alpha", "beta?"]
    assert collection.doc_texts == ["Alpha first doc", "Beta second"]


def test_bug_the_queries_text_column_leaves_the_corpus_text_alone(tmp_path: Path) -> None:
    """--query-text-column names the queries' field only: the corpus keeps its own `text` (it used to be read
    from a `query` field it lacks, so every document was embedded from its title alone)."""
    corpus = write_jsonl(tmp_path / "corpus.jsonl", BEIR_CORPUS)
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "ask": "alpha?"}, {"_id": "q2", "ask": "beta?"}])
    qrels = write_text(tmp_path / "r.tsv", QRELS_D)
    collection = load_collection(
        corpus=corpus, queries=queries, qrels=qrels, query_columns=Columns("queries", text="ask")
    )
    assert collection.doc_texts == ["Alpha first doc", "Beta second"]
    assert collection.query_texts == ["alpha?", "beta?"]


def test_bug_a_named_corpus_column_that_is_absent_is_a_problem_not_the_titles(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", BEIR_CORPUS)
    queries = write_jsonl(tmp_path / "q.jsonl", QUERIES)
    message = error_of(
        corpus=corpus,
        queries=queries,
        qrels=write_text(tmp_path / "r.tsv", "q1\td1\t1\n"),
        doc_columns=Columns("corpus", text="query"),
    )
    assert f"{corpus}: no 'query' column (--doc-text-column; found ['_id', 'title', 'text'])" in message


def test_a_field_of_numbers_is_never_taken_for_the_text(tmp_path: Path) -> None:
    """A text column of numbers is refused row by row (never embedded as '7'); a file with no text column at all
    names the columns looked for and the flag."""
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "query": 7}, {"_id": "q2", "query": 8}])
    message = error_of(folder=make_folder(tmp_path), queries=queries)
    assert f"{queries}:1: 'query' must be a string (or null), got a number 7" in message
    nothing = write_jsonl(tmp_path / "q2.jsonl", [{"_id": "q1", "score": 7}])
    message = error_of(folder=make_folder(tmp_path), queries=nothing)
    assert f"{nothing}: no text column (looked for 'text', 'query'" in message
    assert "pass --query-text-column NAME" in message


@pytest.mark.parametrize(("role", "flag"), [("corpus", "--doc-id-column"), ("queries", "--query-id-column")])
def test_no_id_column_names_the_flag_of_that_file(tmp_path: Path, role: str, flag: str) -> None:
    path = write_jsonl(tmp_path / f"{role}.jsonl", [{"key": "1", "text": "x"}])
    message = error_of(folder=make_folder(tmp_path), **{role: path})
    assert f"{path}: no id column (looked for '_id', 'id'" in message
    assert f"pass {flag} NAME" in message


def test_a_large_share_of_empty_texts_is_a_warning_naming_file_column_and_count(tmp_path: Path) -> None:
    rows = [{"_id": f"q{i}", "text": "", "query": f"question {i}"} for i in range(3)] + [{"_id": "q3", "text": "x"}]
    queries = write_jsonl(tmp_path / "q.jsonl", rows)
    with pytest.warns(MrlEvalWarning) as caught:
        collection = load_collection(make_folder(tmp_path), queries=queries)
    assert collection.query_texts == ["", "", "", "x"]
    (warning,) = [str(w.message) for w in caught]
    assert warning.startswith(f"{queries}: 3 of 4 queries (75%) have an empty 'text' (--query-text-column)")


def test_every_text_empty_is_a_problem(tmp_path: Path) -> None:
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": " "}, {"_id": "q2", "text": None}])
    message = error_of(folder=make_folder(tmp_path), queries=queries)
    assert f"{queries}: every one of the 2 queries is empty after reading 'text'" in message


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("beir.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t0\nq2\td2\t2\n"),
        ("noheader.tsv", "q1\td1\t1\nq1\td3\t0\nq2\td2\t2\n"),
        ("trec.txt", "q1 0 d1 1\nq1 0 d3 0\nq2 Q0 d2 2\n"),
        ("trec-tabs.qrels", "q1\t0\td1\t1\nq1\t0\td3\t0\nq2\t0\td2\t2\n"),
        ("beir.csv", "query-id,corpus-id,score\nq1,d1,1\nq1,d3,0\nq2,d2,2\n"),
        ("other.csv", "query_id,doc_id,relevance\nq1,d1,1\nq1,d3,0\nq2,d2,2\n"),
    ],
)
def test_qrels_formats(tmp_path: Path, name: str, content: str) -> None:
    qrels = write_text(tmp_path / name, content)
    assert load_collection(make_folder(tmp_path), qrels=qrels).qrels == EXPECTED_QRELS


def test_parquet_qrels_with_float_relevance(tmp_path: Path) -> None:
    table = pa.table({"query_id": ["q1", "q1", "q2"], "doc_id": ["d1", "d3", "d2"], "relevance": [1.0, 0.0, 2.0]})
    pq.write_table(table, tmp_path / "qrels.parquet")
    collection = load_collection(make_folder(tmp_path), qrels=tmp_path / "qrels.parquet")
    assert collection.qrels == EXPECTED_QRELS
    assert all(type(rel) is int for docs in collection.qrels.values() for rel in docs.values())


def test_negative_relevance_is_kept(tmp_path: Path) -> None:
    qrels = write_text(tmp_path / "r.tsv", "q1\td1\t-1\nq1\td2\t+2\n")
    assert load_collection(make_folder(tmp_path), qrels=qrels).qrels == {"q1": {"d1": -1, "d2": 2}}


# --- finding the files ---------------------------------------------------------------------------------


def test_explicit_file_overrides_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    rows = [{"_id": "q2", "text": "other"}, {"_id": "q1", "text": "one"}]
    queries = write_jsonl(tmp_path / "other_queries.jsonl", rows)
    collection = load_collection(folder, queries=queries)
    assert collection.query_ids == ["q2", "q1"]
    assert collection.query_texts == ["other", "one"]
    assert collection.sources["queries"] == str(queries)
    assert collection.sources["corpus"] == str(folder / "corpus.jsonl")


def test_split_picks_the_qrels_file(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    write_text(folder / "qrels" / "dev.tsv", "query-id\tcorpus-id\tscore\nq2\td1\t3\n")
    assert load_collection(folder, split="dev").qrels == {"q2": {"d1": 3}}


def test_require_texts_false_allows_missing_corpus_and_queries(tmp_path: Path) -> None:
    folder = tmp_path / "vectors_only"
    write_text(folder / "qrels" / "test.tsv", QRELS_TSV)
    collection = load_collection(folder, require_texts=False)
    assert (collection.doc_ids, collection.doc_texts, collection.query_ids, collection.query_texts) == ([], [], [], [])
    assert collection.qrels == EXPECTED_QRELS
    assert set(collection.sources) == {"qrels"}


def test_require_texts_false_still_reads_a_corpus_without_text_column(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "ids.jsonl", [{"_id": "d1"}, {"_id": "d2"}, {"_id": "d3"}])
    collection = load_collection(make_folder(tmp_path), corpus=corpus, require_texts=False)
    assert collection.doc_ids == ["d1", "d2", "d3"]
    assert collection.doc_texts == ["", "", ""]


def test_require_texts_true_reports_missing_corpus_and_queries(tmp_path: Path) -> None:
    folder = tmp_path / "only_qrels"
    write_text(folder / "qrels" / "test.tsv", QRELS_TSV)
    message = error_of(folder=folder)
    assert f"corpus file not found: {folder / 'corpus.jsonl'}" in message
    assert f"queries file not found: {folder / 'queries.jsonl'}" in message
    assert "--corpus FILE" in message


def test_nothing_given_says_what_to_pass() -> None:
    message = error_of()
    assert "no corpus file given: pass --corpus FILE or a BEIR folder" in message
    assert "no qrels file given: pass --qrels FILE or a BEIR folder" in message


def test_qrels_required_even_without_texts(tmp_path: Path) -> None:
    message = error_of(corpus=write_jsonl(tmp_path / "c.jsonl", CORPUS), require_texts=False)
    assert "no qrels file given" in message
    assert "corpus" not in message.splitlines()[1]


def test_explicit_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    message = error_of(folder=make_folder(tmp_path), corpus=missing, require_texts=False)
    assert f"corpus file not found: {missing}" in message


def test_missing_split_names_the_splits_there(tmp_path: Path) -> None:
    message = error_of(folder=make_folder(tmp_path), split="dev")
    assert "qrels file not found:" in message and "dev.tsv" in message
    assert "splits in this folder: test; pass --split" in message


def test_missing_folder(tmp_path: Path) -> None:
    assert f"Collection folder not found: {tmp_path / 'absent'}" in error_of(folder=tmp_path / "absent")


# --- problems ------------------------------------------------------------------------------------------

GOOD = '{"_id": "1", "text": "a"}\n'


@pytest.mark.parametrize(
    ("corpus", "expected"),
    [
        (GOOD + "{not json\n", "corpus.jsonl:2: invalid JSON (Expecting property name"),
        (GOOD + '["_id", "2"]\n', 'corpus.jsonl:2: malformed line, not a JSON object: \'["_id", "2"]\''),
        (GOOD + '{"text": "no id"}\n', "corpus.jsonl:2: missing id (no '_id' field)"),
        (GOOD + '{"_id": null, "text": "x"}\n', "corpus.jsonl:2: missing id ('_id' is null)"),
        (GOOD + '{"_id": "", "text": "x"}\n', "corpus.jsonl:2: missing id ('_id' is empty)"),
        (GOOD + '{"_id": 1.5, "text": "x"}\n', "corpus.jsonl:2: id must be a string or an integer, got 1.5"),
        (GOOD + "\n" + '{"_id": "1", "text": "again"}\n', "corpus.jsonl:3: duplicate id '1' (first seen on line 1)"),
        ("", "corpus.jsonl: file is empty"),
        ("\n  \n", "corpus.jsonl: file is empty"),
        ('{"_id": "1", "summary": "x"}\n', "corpus.jsonl: no text column (looked for 'text', 'contents'"),
        ('{"key": "1", "text": "x"}\n', "corpus.jsonl: no id column (looked for '_id', 'id'"),
        # a text that is not a string was embedded as its Python repr ("{'a': 1}", "['a', 'b']", "5")
        (
            GOOD + '{"_id": "2", "text": {"a": 1}}\n',
            "corpus.jsonl:2: 'text' must be a string (or null), got an object {'a': 1}",
        ),
        (
            GOOD + '{"_id": "2", "text": ["a", "b"]}\n',
            "corpus.jsonl:2: 'text' must be a string (or null), got a list ['a', 'b']",
        ),
        (GOOD + '{"_id": "2", "text": 5}\n', "corpus.jsonl:2: 'text' must be a string (or null), got a number 5"),
        (
            GOOD + '{"_id": "2", "text": "x", "title": true}\n',
            "corpus.jsonl:2: 'title' must be a string (or null), got a boolean True",
        ),
    ],
)
def test_corpus_problem(tmp_path: Path, corpus: str, expected: str) -> None:
    message = error_of(folder=make_folder(tmp_path, corpus=corpus))
    assert message.startswith("Invalid input data: 1 problem found")
    assert expected in message
    assert message.endswith("Fix the lines above and run again.")


@pytest.mark.parametrize(
    ("qrels", "expected"),
    [
        (QRELS_TSV + "q1\td2\n", "test.tsv:5: malformed line: expected 3 columns (query-id, corpus-id, score), got 2"),
        ("q1 0 d1 1\nq1 d2 1\n", "test.tsv:2: malformed line: expected 4 columns (TREC: qid 0 docid rel), got 3"),
        ("q1 d1\n", "test.tsv:1: malformed line: expected 3 columns (query-id, corpus-id, score) or 4 columns"),
        (
            QRELS_TSV + "\nq1\td1\t2\n",
            "test.tsv:6: duplicate judgment for query 'q1' and doc 'd1' (first seen on line 2)",
        ),
        (QRELS_TSV + "q1\td2\t1.5\n", "test.tsv:5: non-integer relevance '1.5'"),
        (QRELS_TSV + "q1\td2\tabc\n", "test.tsv:5: non-integer relevance 'abc'"),
        (QRELS_TSV + "q1\td2\t\n", "test.tsv:5: non-integer relevance ''"),
        (QRELS_TSV + "\td2\t1\n", "test.tsv:5: missing query id"),
        (
            QRELS_TSV + "q9\td1\t1\nq9\td2\t1\n",
            "test.tsv:5: unknown query id 'q9' (2 judgments); not among the 2 query ids",
        ),
        (QRELS_TSV + "q1\td404\t1\n", "test.tsv:5: unknown doc id 'd404' (1 judgment); not among the 3 doc ids"),
        ("query-id\tcorpus-id\tscore\n", "test.tsv: file is empty"),
        ("", "test.tsv: file is empty"),
        # every metric would be 0 for every query: refused, not scored as zeros
        ("query-id\tcorpus-id\tscore\nq1\td1\t0\nq2\td2\t-1\n", "test.tsv: no query has a relevant document"),
    ],
)
def test_qrels_problem(tmp_path: Path, qrels: str, expected: str) -> None:
    message = error_of(folder=make_folder(tmp_path, qrels=qrels))
    assert message.startswith("Invalid input data: 1 problem found"), message
    assert expected in message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("c.csv", "_id,text\n", "c.csv: file is empty"),
        ("c.tsv", "_id\ttext\n1\ta\tb\n", "c.tsv:2: malformed line: 3 columns, the header has 2: '1\\ta\\tb'"),
        ("c.csv", "_id,text\n1,a\n,b\n", "c.csv:3: missing id ('_id' is empty)"),
        ("c.csv", "_id,text\n1,a\n1,b\n", "c.csv:3: duplicate id '1' (first seen on line 2)"),
    ],
)
def test_table_corpus_problem(tmp_path: Path, name: str, content: str, expected: str) -> None:
    corpus = write_text(tmp_path / name, content)
    message = error_of(folder=make_folder(tmp_path), corpus=corpus, require_texts=False)
    assert message.startswith("Invalid input data: 1 problem found"), message
    assert expected in message


def test_not_utf8_csv(tmp_path: Path) -> None:
    corpus = tmp_path / "c.csv"
    corpus.write_bytes(b"_id,text\nd1,ok\nd2,\xff\n")
    message = error_of(folder=make_folder(tmp_path), corpus=corpus)
    # offset: "_id,text\n" (9 bytes) + "d1,ok\n" (6) + "d2," (3) = 18
    assert "c.csv:3: not UTF-8 (byte 0xff at byte offset 18); save it as UTF-8" in message


def test_csv_qrels_problems(tmp_path: Path) -> None:
    qrels = write_text(tmp_path / "r.csv", "query-id,corpus-id,score\nq1,d1,1\nq1,d2\nq2,d2,x\n")
    message = error_of(folder=make_folder(tmp_path), qrels=qrels)
    assert "r.csv:3: malformed line: 2 columns, the header has 3" in message
    assert "r.csv:4: non-integer relevance 'x'" in message


def test_csv_qrels_without_known_columns(tmp_path: Path) -> None:
    qrels = write_text(tmp_path / "r.csv", "a,b,c\nq1,d1,1\n")
    assert "r.csv: qrels need columns query-id, corpus-id, score" in error_of(folder=make_folder(tmp_path), qrels=qrels)


def test_parquet_problems_name_the_row(tmp_path: Path) -> None:
    pq.write_table(pa.table({"_id": ["d1", None, "d1"], "text": ["a", "b", "c"]}), tmp_path / "c.parquet")
    pq.write_table(pa.table({"query-id": ["q1"], "corpus-id": ["d1"], "score": [0.5]}), tmp_path / "r.parquet")
    message = error_of(folder=make_folder(tmp_path), corpus=tmp_path / "c.parquet", qrels=tmp_path / "r.parquet")
    assert "c.parquet: row 2: missing id ('_id' is null)" in message
    assert "c.parquet: row 3: duplicate id 'd1' (first seen in row 1)" in message
    assert "r.parquet: row 1: non-integer relevance 0.5" in message


def test_not_a_parquet_file(tmp_path: Path) -> None:
    corpus = write_text(tmp_path / "fake.parquet", "not parquet")
    assert "fake.parquet: cannot read as Parquet" in error_of(folder=make_folder(tmp_path), corpus=corpus)


def test_unsupported_corpus_extension(tmp_path: Path) -> None:
    corpus = write_text(tmp_path / "docs.xml", "<doc/>")
    assert "docs.xml: unsupported file type '.xml'" in error_of(folder=make_folder(tmp_path), corpus=corpus)


@pytest.mark.parametrize("name", ["queries.jsonl", "qrels/test.tsv"])
def test_not_utf8_names_line_and_fix(tmp_path: Path, name: str) -> None:
    folder = make_folder(tmp_path)
    good = (folder / name).read_bytes()
    (folder / name).write_bytes(good + "caf\u00e9\n".encode("latin-1"))
    lines = good.count(b"\n")
    message = error_of(folder=folder)
    assert f"{name}:{lines + 1}: not UTF-8 (byte 0xe9 at byte offset {len(good) + 3}); save it as UTF-8" in message


def test_problems_from_all_files_in_one_error(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, corpus=GOOD + GOOD, qrels="query-id\tcorpus-id\tscore\nq1\t1\tx\n")
    write_text(folder / "queries.jsonl", '{"_id": "q1", "text": "t"}\n{oops\n')
    message = error_of(folder=folder)
    assert message.startswith("Invalid input data: 3 problems found")
    lines = message.splitlines()
    assert "corpus.jsonl:2: duplicate id '1'" in lines[1]
    assert "queries.jsonl:2: invalid JSON" in lines[2]
    assert "test.tsv:2: non-integer relevance 'x'" in lines[3]


def test_problems_are_listed_in_line_order(tmp_path: Path) -> None:
    corpus = GOOD + GOOD + "{bad\n" + GOOD
    message = error_of(folder=make_folder(tmp_path, corpus=corpus))
    lines = message.splitlines()[1:4]
    assert [line.split("corpus.jsonl:")[1][0] for line in lines] == ["2", "3", "4"]


def test_unknown_ids_not_checked_against_a_broken_file(tmp_path: Path) -> None:
    # d2's line is broken; reporting "unknown doc id 'd2'" as well would only add noise.
    corpus = '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": \n{"_id": "d3", "text": "c"}\n'
    message = error_of(folder=make_folder(tmp_path, corpus=corpus))
    assert message.startswith("Invalid input data: 1 problem found")
    assert "unknown doc id" not in message


def test_only_the_first_problems_are_listed(tmp_path: Path) -> None:
    extra = 5
    corpus = GOOD * (MAX_REPORTED_PROBLEMS + extra + 1)
    message = error_of(folder=make_folder(tmp_path, corpus=corpus))
    total = MAX_REPORTED_PROBLEMS + extra
    assert message.startswith(f"Invalid input data: {total} problems found")
    listed = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(listed) == MAX_REPORTED_PROBLEMS
    assert listed[-1].endswith(f"corpus.jsonl:{MAX_REPORTED_PROBLEMS + 1}: duplicate id '1' (first seen on line 1)")
    assert f"  ... and {extra} more" in message


# --- check_qrels -----------------------------------------------------------------------------------------


def test_check_qrels_all_known() -> None:
    assert check_qrels(EXPECTED_QRELS, ["q1", "q2", "q3"], ["d1", "d2", "d3"], "qrels.tsv") == []


def test_check_qrels_reports_each_unknown_id_once() -> None:
    qrels = {"q1": {"d1": 1, "dx": 1}, "q9": {"d1": 1, "dx": 0}}
    problems = check_qrels(qrels, ["q1"], ["d1"], "vectors")
    assert problems == [
        "vectors: unknown doc id 'dx' (2 judgments); not among the 1 doc ids",
        "vectors: unknown query id 'q9' (2 judgments); not among the 1 query ids",
    ]


# --- imports ---------------------------------------------------------------------------------------------


def test_jsonl_loading_does_not_import_pandas_or_pyarrow(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    code = (
        "import sys; from pathlib import Path; from mrl_eval.data.collection_files import load_collection; "
        f"c = load_collection(Path({str(folder)!r})); "
        "print(len(c.doc_ids), 'pandas' in sys.modules, 'pyarrow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=checkout_env(), cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["3", "False", "False"]


# --- real collections ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "docs", "queries", "judgments", "judged", "grades"),
    [
        ("scifact-subset", 600, 300, 339, 300, {1}),  # counts from tests/data/README.md
        ("cranfield", 1400, 225, 1612, 225, {1, 2, 3, 4}),
    ],
)
def test_real_collection(name: str, docs: int, queries: int, judgments: int, judged: int, grades: set[int]) -> None:
    folder = data_path(name)
    collection = load_collection(folder)
    assert len(collection.doc_ids) == len(set(collection.doc_ids)) == len(collection.doc_texts) == docs
    assert len(collection.query_ids) == len(collection.query_texts) == queries
    assert sum(len(docs) for docs in collection.qrels.values()) == judgments
    assert len(collection.qrels) == judged
    assert {rel for docs in collection.qrels.values() for rel in docs.values()} == grades
    assert check_qrels(collection.qrels, collection.query_ids, collection.doc_ids, name) == []


def test_cranfield_empty_documents() -> None:
    folder = data_path("cranfield")
    collection = load_collection(folder)
    texts = dict(zip(collection.doc_ids, collection.doc_texts, strict=True))
    assert texts["471"] == texts["995"] == ""
    assert [doc_id for doc_id, text in texts.items() if not text] == ["471", "995"]


def test_scifact_title_joined_to_text() -> None:
    folder = data_path("scifact-subset")
    first = json.loads((folder / "corpus.jsonl").open(encoding="utf-8").readline())
    collection = load_collection(folder)
    assert collection.doc_ids[0] == first["_id"]
    assert collection.doc_texts[0] == f"{first['title']} {first['text']}".strip()


class RecordingProvider:
    """Hash vectors; records every text it is given, by role: the oracle of what the model was asked to embed."""

    name, model, fingerprint, full_dim = "recording", "recording-model", "f1", 8

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {"document": [], "query": []}

    def prompt(self, role):
        return ""

    def embed(self, texts, role):
        self.texts[role] += list(texts)
        seeds = [int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") for text in texts]
        return np.stack([np.random.default_rng(s).standard_normal(8) for s in seeds]).astype(np.float32)


@pytest.fixture
def recording(monkeypatch, cli_env):
    from mrl_eval.pipeline import embed

    provider = RecordingProvider()
    monkeypatch.setattr(embed, "get_provider", lambda *args, **kwargs: provider)
    return provider


def test_bug_text_column_for_queries_made_the_cli_embed_the_corpus_titles_alone(tmp_path: Path, recording) -> None:
    """A queries file with a `query` field: the error said "pass --text-column"; doing so made the corpus (which has
    `text`) embed only its titles. Now the queries' `query` is found without a flag, and --text-column (the
    corpus's old name) naming a field the corpus lacks is an error, not the titles."""
    from typer.testing import CliRunner

    from mrl_eval.cli.app import app

    corpus = write_jsonl(tmp_path / "corpus.jsonl", BEIR_CORPUS)
    queries = write_text(tmp_path / "queries.csv", "query_id,query\nq1,what is alpha\nq2,beta?\n")
    qrels = write_text(tmp_path / "r.tsv", QRELS_D)
    files = ["--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels), "--resamples", "100"]
    misled = CliRunner().invoke(app, ["sweep", *files, "--text-column", "query", "--json"])
    assert misled.exit_code == 1, misled.output
    assert f"{corpus}: no 'query' column (--doc-text-column" in " ".join(misled.output.split())
    assert recording.texts["document"] == []
    result = CliRunner().invoke(app, ["sweep", *files, "--json"])
    assert result.exit_code == 0, result.output
    assert recording.texts == {"document": ["Alpha first doc", "Beta second"], "query": ["what is alpha", "beta?"]}


# --- qrels that judge documents the corpus lacks (--unknown-docs) --------------------------------------


def test_unknown_docs_are_an_error_that_names_the_way_to_drop_them(tmp_path: Path) -> None:
    qrels = write_text(tmp_path / "r.tsv", "q1\td1\t1\nq1\tghost\t1\nq2\tghost\t0\n")
    message = error_of(folder=make_folder(tmp_path), qrels=qrels)
    assert f"{qrels}:2: unknown doc id 'ghost' (2 judgments)" in message
    assert "--unknown-docs ignore drops them" in message


def test_unknown_docs_ignore_drops_those_judgments_with_one_warning(tmp_path: Path) -> None:
    qrels = write_text(tmp_path / "r.tsv", "q1\td1\t1\nq1\tghost\t1\nq2\tghost\t0\nq2\td2\t2\nq2\tnone\t0\n")
    with pytest.warns(MrlEvalWarning) as caught:
        collection = load_collection(make_folder(tmp_path), qrels=qrels, unknown_docs="ignore")
    assert collection.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}
    (warning,) = [str(w.message) for w in caught]
    assert warning.startswith(f"{qrels}: 3 judgments (1 relevant) of 2 doc ids not in the corpus ('ghost', 'none')")
    assert "dropped (--unknown-docs ignore)" in warning


@pytest.mark.parametrize("files", [("corpus.jsonl", "queries.jsonl"), ()], ids=["with-corpus", "vectors-only"])
def test_bug_unknown_docs_had_no_way_to_be_ignored(cli_env, files) -> None:
    """Qrels that judge documents the corpus (or, with no corpus file, the vectors) lacks were a hard error with no
    way past it. --unknown-docs ignore drops them with one warning; the scores are pytrec_eval's on the qrels without
    them, over a brute-force ranking."""
    import shutil

    pytrec_eval = require("pytrec_eval")
    cranfield = data_path("cranfield")
    vectors = cranfield / "embeddings" / "all-minilm-l6-v2"
    folder = cli_env / "with-ghosts"
    (folder / "qrels").mkdir(parents=True)
    for name in files:
        shutil.copy(cranfield / name, folder / name)
    original = (cranfield / "qrels" / "test.tsv").read_text()
    (folder / "qrels" / "test.tsv").write_text(original + "1\tghost-1\t2\n2\tghost-2\t1\n2\tghost-1\t0\n")
    from typer.testing import CliRunner

    from mrl_eval.cli.app import app

    args = ["sweep", str(folder), "--embeddings", str(vectors), "--dims", "64", "--resamples", "100", "--json"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "unknown doc id 'ghost-1'" in refused.output
    result = CliRunner().invoke(app, [*args, "--unknown-docs", "ignore"])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if "--unknown-docs ignore" in line]
    assert len(warned) == 1 and "3 judgments (2 relevant) of 2 doc ids not in the corpus" in warned[0]
    doc = json.loads(result.stdout)
    qrels = read_qrels_tsv(cranfield / "qrels" / "test.tsv")
    doc_ids = (vectors / "corpus_ids.txt").read_text().split()
    query_ids = (vectors / "queries_ids.txt").read_text().split()
    rows = [i for i, q in enumerate(query_ids) if q in qrels]
    evaluated = [query_ids[i] for i in rows]
    queries, docs = np.load(vectors / "queries.npy"), np.load(vectors / "corpus.npy")
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    for r in doc["results"]:
        runs = brute_force_run(queries[rows], docs, doc_ids, r["dim"], 100)
        ref = evaluator.evaluate({q: dict(ranked) for q, ranked in zip(evaluated, runs)})
        assert r["metrics"]["ndcg@10"] == pytest.approx(np.mean([ref[q]["ndcg_cut_10"] for q in evaluated]), abs=1e-6)
    assert doc["data"]["qrels"]["count"] == sum(map(len, qrels.values()))
