"""Read a retrieval test collection (corpus, queries, qrels), check its ids, report every problem at once.

Formats
  corpus / queries: ``.jsonl`` / ``.json`` (one JSON object per line), ``.csv``, ``.tsv``, ``.parquet``.
  qrels: BEIR TSV (``query-id<TAB>corpus-id<TAB>score`` after a header line) or TREC (``qid 0 docid rel``),
  told apart per file by the number of columns; ``.csv`` / ``.parquet`` with columns
  query-id / corpus-id / score (or query_id / doc_id / relevance).

Problems found in all three files are collected and raised together in one MrlEvalError (the first
MAX_REPORTED_PROBLEMS of them). Each names ``file:line`` (``file: row N`` for Parquet) and the offending
value. Text files are parsed with the standard library, so line numbers are exact; pyarrow is imported
only when a Parquet file is read.
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mrl_eval.data.collection import Collection
from mrl_eval.data.text_columns import Columns, choose, empty_text_note, empty_text_problem
from mrl_eval.errors import MrlEvalError, MrlEvalWarning, UsageError, raise_problems
from mrl_eval.extras import import_extra
from mrl_eval.limits import MAX_GRADE, MIN_GRADE

QUERY_ID_COLUMNS = ("query-id", "query_id")
DOC_ID_COLUMNS = ("corpus-id", "doc_id", "corpus_id", "doc-id")
RELEVANCE_COLUMNS = ("score", "relevance")

_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_TREC_BLANKS = re.compile(r"[ \f\v\r]+")
_ABSENT = object()  # a field a record does not have, told apart from an explicit null
_FIX_MISSING = (
    "Pass a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) "
    "or the files themselves with --corpus FILE, --queries FILE and --qrels FILE."
)

_LABEL_FREE_HINT = (
    "\nNo relevance judgments? Give no qrels and use label-free metrics (sweep: leave --metrics out, or "
    "--metrics overlap@10,shortlist_recall@100,rbo@100; recommend: --metric overlap@10): each dim is then measured "
    "against the full-dim ranking."
)

# A record is (where, at, fields): `where` starts a problem ("file:3" or "file: row 3"),
# `at` points back to it from a later one ("on line 3" or "in row 3").
_Record = tuple[str, str, dict[str, Any]]
_Judgment = tuple[str, str, Any, Any, Any]  # where, at, query id, doc id, relevance (as read)


def join_title_text(title: str | None, text: str | None) -> str:
    """``title + " " + text``; if either is empty or None just the other; both empty -> ``""``.

    Outer whitespace of each part is stripped, so an empty text leaves no trailing space.
    """
    return " ".join(part.strip() for part in (title, text) if part and part.strip())


def load_collection(
    folder: Path | None = None,
    *,
    corpus: Path | None = None,
    queries: Path | None = None,
    qrels: Path | None = None,
    split: str = "test",
    doc_columns: Columns | None = None,
    query_columns: Columns | None = None,
    require_texts: bool = True,
    require_qrels: bool = True,
    require_queries: bool = True,
    unknown_docs: str = "error",
) -> Collection:
    """Read and check a collection from a BEIR folder and/or explicit files (which override the folder's).

    A BEIR folder holds ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``. With
    ``require_texts=False`` a missing corpus or queries file is allowed and gives empty ids and texts
    (the caller takes ids from precomputed vectors). With ``require_qrels=False`` (label-free mode) no qrels is
    allowed only where none was named and the folder has no ``qrels/`` at all (a wrong --split stays an error):
    qrels are then empty. Ids keep file order and queries without judgments are kept. Raises MrlEvalError listing
    every problem found. ``require_queries=False`` (pseudo-queries from the corpus) allows no queries file.
    ``doc_columns`` and ``query_columns`` name each file's fields (default: the common names, text_columns.py);
    a large share of empty texts is a warning (`MrlEvalWarning`), every text empty a problem. A judgment of a doc id
    the corpus lacks is a problem, or with ``unknown_docs="ignore"`` dropped (`drop_unknown_docs`).
    """
    given = {"corpus": corpus, "queries": queries, "qrels": qrels}
    paths, qrels_path = _resolve_paths(folder, given, split, require_texts, require_qrels, require_queries)
    problems: list[str] = []
    notes: list[str] = []
    loaded: dict[str, tuple[list[str], list[str]]] = {}
    clean: dict[str, bool] = {}
    for role, columns in (("corpus", doc_columns), ("queries", query_columns)):
        path = paths[role]
        if path is not None:
            before = len(problems)
            loaded[role] = _load_texts(path, problems, notes, columns or Columns(role), require_texts)
            clean[role] = len(problems) == before
            _sort_by_line(problems, before, path)
    doc_ids, doc_texts = loaded.get("corpus", ([], []))
    query_ids, query_texts = loaded.get("queries", ([], []))

    before = len(problems)
    qrels_map, where = _load_qrels(qrels_path, problems) if qrels_path else ({}, {})
    if len(problems) == before and qrels_path:
        # Check ids only against a file that read cleanly: a broken line there would otherwise
        # come back here as a flood of "unknown id" problems.
        query_side = query_ids if clean.get("queries") else None
        doc_side = doc_ids if clean.get("corpus") else None
        if doc_side is not None and unknown_docs == "ignore":
            qrels_map, note = drop_unknown_docs(qrels_map, doc_side, str(qrels_path))
            notes += [note] if note else []
        problems += _unknown_id_problems(qrels_map, query_side, doc_side, str(qrels_path), where)
        if qrels_map and not any(rel >= 1 for judged in qrels_map.values() for rel in judged.values()):
            # Every metric would be zero for every query: a scored run of zeros is a wrong number, not a result.
            problems.append(
                f"{qrels_path}: no query has a relevant document (every score is 0 or below; relevant means a "
                "score of 1 or more, as in trec_eval); check the score column"
            )
    if qrels_path:
        _sort_by_line(problems, before, qrels_path)
    fix = "Fix the lines above and run again."
    if any(": unknown doc id " in p for p in problems):
        fix += " Judgments of documents the corpus lacks: --unknown-docs ignore drops them (one warning says how many)."
    raise_problems(problems, "Invalid input data", fix)
    for note in notes:
        warnings.warn(note, MrlEvalWarning, stacklevel=2)
    sources = {role: str(path) for role, path in paths.items() if path is not None}
    if qrels_path:
        sources["qrels"] = str(qrels_path)
    return Collection(doc_ids, doc_texts, query_ids, query_texts, qrels_map, sources)


UNKNOWN_DOCS = ("error", "ignore")  # --unknown-docs: what a judgment of a document the corpus lacks is


def check_unknown_docs(value: str) -> None:
    if value not in UNKNOWN_DOCS:
        raise UsageError(f"--unknown-docs {value!r}: choose one of {', '.join(UNKNOWN_DOCS)}")


def drop_unknown_docs(
    qrels: dict[str, dict[str, int]], doc_ids: Sequence[str], source: str
) -> tuple[dict[str, dict[str, int]], str | None]:
    """`qrels` without the judgments of doc ids not in `doc_ids`, and the warning that says how many were dropped
    (None: none were). Dropped, they count in no metric; trec_eval, given such qrels, counts a relevant one as
    relevant and never retrieved (in recall's and nDCG's ideal), which is what `--unknown-docs error` keeps you from
    measuring unawares."""
    known = set(doc_ids)
    kept: dict[str, dict[str, int]] = {}
    dropped: dict[str, int] = {}
    for query_id, judged in qrels.items():
        for doc_id, relevance in judged.items():
            if doc_id in known:
                kept.setdefault(query_id, {})[doc_id] = relevance
            else:
                dropped[doc_id] = dropped.get(doc_id, 0) + 1
    if not dropped:
        return qrels, None
    n = sum(dropped.values())
    relevant = sum(1 for judged in qrels.values() for d, rel in judged.items() if d not in known and rel >= 1)
    examples = ", ".join(repr(d) for d in list(dropped)[:3]) + (", ..." if len(dropped) > 3 else "")
    note = (
        f"{source}: {n:,} judgment{'s' if n != 1 else ''} ({relevant:,} relevant) of {len(dropped):,} doc "
        f"id{'s' if len(dropped) != 1 else ''} not in the corpus ({examples}) dropped (--unknown-docs ignore): they "
        "count in no metric"
    )
    return kept, note


def check_qrels(
    qrels: dict[str, dict[str, int]], query_ids: Sequence[str], doc_ids: Sequence[str], source: str
) -> list[str]:
    """Problems (strings) for qrels that name a query id or doc id not in the given ids.

    One problem per unknown id, naming ``source``, the id and how many judgments use it.
    Returns ``[]`` when all ids are known.
    """
    return _unknown_id_problems(qrels, query_ids, doc_ids, source, None)


QRELS_LOOKALIKES = ("*.tsv", "*.trec", "*qrels*")  # file names that may be qrels put where none are looked for


def qrels_lookalikes(folders: Sequence[Path], used: Sequence[Path]) -> list[Path]:
    """Files in `folders` whose names look like qrels (`QRELS_LOOKALIKES`, any case), other than the `used` ones
    (the corpus and queries files): qrels, most likely, in a place mrl-eval does not look."""
    taken = {Path(p).resolve() for p in used}
    found: dict[Path, None] = {}
    for folder in dict.fromkeys(Path(f) for f in folders):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            lower = path.name.lower()
            if path.is_file() and path.resolve() not in taken and any(Path(lower).match(g) for g in QRELS_LOOKALIKES):
                found[path] = None
    return list(found)


def check_trec_ids(query_ids: Sequence[str], doc_ids: Sequence[str]) -> None:
    """Ids a TREC run file can hold (`--save-runs`): its lines are split on whitespace, so an id holding any (a
    space, a tab, U+2028) would shift the columns. Refused, naming the id, rather than written as a line that
    trec_eval misreads."""
    for kind, ids in (("query", query_ids), ("doc", doc_ids)):
        bad = next((i for i in ids if any(c.isspace() for c in i)), None)
        if bad is not None:
            raise MrlEvalError(
                f"--save-runs: {kind} id {bad!r} contains whitespace, which a TREC run file cannot hold (its columns "
                "are split on whitespace); rename the ids or drop --save-runs"
            )


def _resolve_paths(
    folder: Path | None,
    explicit: dict[str, Path | None],
    split: str,
    require_texts: bool,
    require_qrels: bool = True,
    require_queries: bool = True,
) -> tuple[dict[str, Path | None], Path | None]:
    """The corpus and queries files (None where allowed to be missing) and the qrels file (None only when
    `require_qrels` is False and no qrels were named or exist in the folder).

    Raises MrlEvalError naming every required file that is missing.
    """
    if folder is not None and not Path(folder).is_dir():
        raise MrlEvalError(f"Collection folder not found: {folder}\n{_FIX_MISSING}")
    base = Path(folder) if folder is not None else None
    defaults = {"corpus": "corpus.jsonl", "queries": "queries.jsonl", "qrels": f"qrels/{split}.tsv"}
    paths: dict[str, Path | None] = {}
    missing: list[str] = []
    for role, given in explicit.items():
        path = Path(given) if given is not None else (base / defaults[role] if base else None)
        paths[role] = path if path is not None and path.is_file() else None
        if paths[role] is not None or (role != "qrels" and not require_texts and given is None):
            continue  # found, or allowed to be absent (ids will come from precomputed vectors)
        if role == "qrels" and not require_qrels and given is None and not (base and (base / "qrels").is_dir()):
            continue  # label-free: no judgments anywhere
        if role == "queries" and not require_queries and given is None:
            continue  # pseudo-queries are drawn from the corpus
        if path is None:
            missing.append(f"no {role} file given: pass --{role} FILE or a BEIR folder")
            continue
        hint = ""
        if role == "qrels" and given is None and base is not None:
            splits = sorted(p.stem for p in (base / "qrels").glob("*.tsv"))
            hint = f" (splits in this folder: {', '.join(splits)}; pass --split)" if splits else ""
        missing.append(f"{role} file not found: {path}{hint}")
    raise_problems(
        missing, "Missing input files", _FIX_MISSING + (_LABEL_FREE_HINT if any("qrels" in m for m in missing) else "")
    )
    return paths, paths.pop("qrels")


def _clip(value: Any, width: int = 60) -> str:
    """repr of a value, cut to `width` characters, for problem messages."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _sort_by_line(problems: list[str], start: int, path: Path) -> None:
    """Put the problems found in one file (those from index `start` on) in line or row order."""
    pattern = re.compile(re.escape(str(path)) + r":(?: row )?([0-9]+)")

    def line_of(problem: str) -> int:
        match = pattern.match(problem)
        return int(match.group(1)) if match else 0

    problems[start:] = sorted(problems[start:], key=line_of)


def _read_text(path: Path, problems: list[str]) -> str | None:
    """The file decoded as UTF-8 (a BOM is dropped), or None after recording why it cannot be."""
    try:
        data = path.read_bytes()
    except OSError as err:
        problems.append(f"{path}: cannot read the file ({err.strerror or err})")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        problems.append(
            f"{path}:{line}: not UTF-8 (byte 0x{data[err.start]:02x} at byte offset {err.start}); save it as UTF-8"
        )
        return None


def _lines(text: str) -> list[str]:
    # Split on "\n" only: str.splitlines() also breaks on \u2028, \x1c, ... which JSON strings may
    # hold, and that would shift every later line number.
    return [line.rstrip("\r") for line in text.split("\n")]


def _read_records(path: Path, problems: list[str], wanted: Sequence[str]) -> tuple[list[str], list[_Record]]:
    """Column names and records of a JSONL / CSV / TSV / Parquet file (Parquet: only `wanted` columns)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet_records(path, problems, wanted)
    if suffix not in (".jsonl", ".json", ".csv", ".tsv"):
        problems.append(f"{path}: unsupported file type {suffix!r}; use .jsonl, .csv, .tsv or .parquet")
        return [], []
    text = _read_text(path, problems)
    if text is None:
        return [], []
    if suffix in (".jsonl", ".json"):
        return _json_records(path, text, problems)
    return _delimited_records(path, text, "\t" if suffix == ".tsv" else ",", problems)


def _json_records(path: Path, text: str, problems: list[str]) -> tuple[list[str], list[_Record]]:
    columns: dict[str, None] = {}
    records: list[_Record] = []
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(f"{where}: invalid JSON ({err.msg}, column {err.colno}): {_clip(line)}")
            continue
        except ValueError as err:  # a number of more than 4,300 digits: int() refuses it
            problems.append(f"{where}: invalid JSON ({err}): {_clip(line)}")
            continue
        if not isinstance(fields, dict):
            problems.append(f"{where}: malformed line, not a JSON object: {_clip(line)}")
            continue
        columns.update(dict.fromkeys(fields))
        records.append((where, f"on line {number}", fields))
    return list(columns), records


def _delimited_records(path: Path, text: str, delimiter: str, problems: list[str]) -> tuple[list[str], list[_Record]]:
    """CSV / TSV with a header line; a record's line is where it starts (a quoted field may span lines)."""
    if csv.field_size_limit() < 2**31 - 1:
        csv.field_size_limit(2**31 - 1)  # the default, 128 KiB, is less than one long document
    reader = csv.reader(io.StringIO(text, newline="\n"), delimiter=delimiter)
    header: list[str] = []
    records: list[_Record] = []
    end = 0
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if not any(field.strip() for field in fields):
                continue
            if not header:
                header = [name.strip() for name in fields]
            elif len(fields) != len(header):
                problems.append(
                    f"{path}:{start}: malformed line: {len(fields)} columns, the header has {len(header)}: "
                    f"{_clip(delimiter.join(fields))}"
                )
            else:
                records.append((f"{path}:{start}", f"on line {start}", dict(zip(header, fields, strict=True))))
    except csv.Error as err:
        problems.append(f"{path}:{reader.line_num}: malformed line: {err}")
    return header, records


def _parquet_records(path: Path, problems: list[str], wanted: Sequence[str]) -> tuple[list[str], list[_Record]]:
    pa = import_extra("pyarrow", extra="parquet", feature=f"reading the Parquet file {path}")
    import pyarrow.parquet as pq

    try:
        names = list(pq.read_schema(path).names)
        chosen = [name for name in dict.fromkeys(wanted) if name in names]
        table = pq.read_table(path, columns=chosen)
    except (OSError, pa.ArrowException) as err:
        problems.append(f"{path}: cannot read as Parquet ({err}); check that it is a Parquet file")
        return [], []
    data = {name: table.column(name).to_pylist() for name in chosen}
    records = [
        (f"{path}: row {i + 1}", f"in row {i + 1}", {name: data[name][i] for name in chosen})
        for i in range(table.num_rows)
    ]
    return names, records


def _parse_id(value: Any, name: str, where: str, what: str, problems: list[str]) -> str | None:
    """An id as a string (integers become strings), or None after recording a problem."""
    if value is _ABSENT or value is None or (isinstance(value, str) and not value.strip()):
        how = "no {!r} field" if value is _ABSENT else "{!r} is null" if value is None else "{!r} is empty"
        problems.append(f"{where}: missing {what} ({how.format(name)})")
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a Parquet integer column with nulls in it may come back as float
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problems.append(f"{where}: {what} must be a string or an integer, got {_clip(value)}")
        return None
    return str(value).strip()


def _parse_text(value: Any, name: str, where: str, problems: list[str] | None) -> str:
    """A text field as a string; missing, null or NaN is "". Any other value (a number, a list, an object) would be
    embedded as its Python repr: a problem when the texts are embedded (`problems` given), shown as "" otherwise."""
    if value is None or value is _ABSENT or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, str):
        return value
    if problems is not None:
        problems.append(f"{where}: {name!r} must be a string (or null), got {_kind(value)} {_clip(value)}")
    return ""


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "a list", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _parse_relevance(value: Any) -> int | None:
    """An integer relevance grade, or None if the value is not an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        if len(value.strip().lstrip("+-").lstrip("0")) > 19:
            return MAX_GRADE + 1  # out of range anyway; int() of a long digit string is slow, and refused past 4300
        return int(value)
    return None


def _load_texts(
    path: Path, problems: list[str], notes: list[str], columns: Columns, require_texts: bool
) -> tuple[list[str], list[str]]:
    """Ids and texts (the title joined before the text, for the corpus) of a corpus or queries file; the fields
    are the ones `columns` names or the common names (text_columns.py)."""
    before = len(problems)
    found, records = _read_records(path, problems, columns.wanted())
    if not records:
        if len(problems) == before:
            problems.append(f"{path}: file is empty")
        return [], []
    chosen = choose(columns, found, [fields for _, _, fields in records], str(path), require_text=require_texts)
    if isinstance(chosen, str):
        problems.append(chosen)
        return [], []

    ids: list[str] = []
    texts: list[str] = []
    empty_fields = 0
    first_seen: dict[str, str] = {}
    for where, at, fields in records:
        item_id = _parse_id(fields.get(chosen.id, _ABSENT), chosen.id, where, "id", problems)
        if item_id is None:
            continue
        if item_id in first_seen:
            problems.append(f"{where}: duplicate id {item_id!r} (first seen {first_seen[item_id]})")
            continue
        first_seen[item_id] = at
        ids.append(item_id)
        checked = problems if require_texts else None  # with precomputed vectors the texts are only shown
        text = _parse_text(fields.get(chosen.text), chosen.text, where, checked) if chosen.text else ""
        empty_fields += not text.strip()
        title = _parse_text(fields.get(chosen.title), chosen.title, where, checked) if chosen.title else ""
        texts.append(join_title_text(title, text) if columns.role == "corpus" else text)
    if require_texts and len(problems) == before:
        problem = empty_text_problem(str(path), columns, chosen, texts)
        if problem:
            problems.append(problem)
        elif note := empty_text_note(str(path), columns, chosen, empty_fields, len(texts)):
            notes.append(note)
    return ids, texts


def _load_qrels(path: Path, problems: list[str]) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], str]]:
    """qrels as query_id -> doc_id -> relevance, and where each judgment was read."""
    before = len(problems)
    is_table = path.suffix.lower() in (".csv", ".parquet")
    judgments = _table_judgments(path, problems) if is_table else _text_judgments(path, problems)
    if not judgments and len(problems) == before:
        problems.append(f"{path}: file is empty")

    qrels: dict[str, dict[str, int]] = {}
    where_of: dict[tuple[str, str], str] = {}
    first_seen: dict[tuple[str, str], str] = {}
    for where, at, raw_query, raw_doc, raw_relevance in judgments:
        query_id = _parse_id(raw_query, "query id", where, "query id", problems)
        doc_id = _parse_id(raw_doc, "doc id", where, "doc id", problems)
        relevance = _parse_relevance(raw_relevance)
        if relevance is None:
            problems.append(f"{where}: non-integer relevance {_clip(raw_relevance)}")
        elif not MIN_GRADE <= relevance <= MAX_GRADE:
            problems.append(
                f"{where}: relevance {_clip(raw_relevance)} is out of range; grades are whole numbers from "
                f"{MIN_GRADE:,} to {MAX_GRADE:,} (usually 0, 1, 2)"
            )
            relevance = None
        if query_id is None or doc_id is None or relevance is None:
            continue
        pair = (query_id, doc_id)
        if pair in first_seen:
            problems.append(
                f"{where}: duplicate judgment for query {query_id!r} and doc {doc_id!r} (first seen {first_seen[pair]})"
            )
            continue
        first_seen[pair] = at
        where_of[pair] = where
        qrels.setdefault(query_id, {})[doc_id] = relevance
    return qrels, where_of


def _text_judgments(path: Path, problems: list[str]) -> list[_Judgment]:
    """BEIR TSV (3 columns, header) or TREC (4 columns: qid iteration docid rel), told apart per file."""
    text = _read_text(path, problems)
    if text is None:
        return []
    shapes = {3: "3 columns (query-id, corpus-id, score)", 4: "4 columns (TREC: qid 0 docid rel)"}
    width = 0  # 3 (BEIR) or 4 (TREC), fixed by the first well-formed line
    judgments: list[_Judgment] = []
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        # Tab-separated lines keep empty fields, so an empty relevance is reported as one.
        # TREC lines split on ASCII blanks as trec_eval does (C isspace), not on U+2028, U+0085 or \x1c, which
        # str.split() also takes for whitespace and an id may hold.
        fields = (
            [field.strip() for field in line.split("\t")] if "\t" in line else _TREC_BLANKS.split(line.strip(" \f\v\r"))
        )
        if len(fields) != width and (width or len(fields) not in shapes):
            expected = shapes[width] if width else " or ".join(shapes.values())
            problems.append(f"{path}:{number}: malformed line: expected {expected}, got {len(fields)}: {_clip(line)}")
            continue
        if not width:
            width = len(fields)
            if not _NUMBER.fullmatch(fields[-1]):
                continue  # a header line, e.g. "query-id  corpus-id  score"
        judgments.append((f"{path}:{number}", f"on line {number}", fields[0], fields[-2], fields[-1]))
    return judgments


def _table_judgments(path: Path, problems: list[str]) -> list[_Judgment]:
    """qrels from a CSV or Parquet file with query id / doc id / relevance columns."""
    choices = (QUERY_ID_COLUMNS, DOC_ID_COLUMNS, RELEVANCE_COLUMNS)
    columns, records = _read_records(path, problems, [name for names in choices for name in names])
    if not records:
        return []
    keys = [next((name for name in names if name in columns), None) for names in choices]
    if None in keys:
        problems.append(
            f"{path}: qrels need columns query-id, corpus-id, score (or query_id, doc_id, relevance); "
            f"found {_clip(columns, 120)}"
        )
        return []
    return [(where, at, *(fields.get(key, _ABSENT) for key in keys)) for where, at, fields in records]


def _unknown_id_problems(
    qrels: dict[str, dict[str, int]],
    query_ids: Sequence[str] | None,
    doc_ids: Sequence[str] | None,
    source: str,
    where: dict[tuple[str, str], str] | None,
) -> list[str]:
    """One problem per query id / doc id in qrels missing from the given ids (None: that side unchecked)."""
    known = {
        "query": set(query_ids) if query_ids is not None else None,
        "doc": set(doc_ids) if doc_ids is not None else None,
    }
    unknown: dict[tuple[str, str], list[Any]] = {}  # (kind, id) -> [first (query, doc) pair, count]
    for query_id, docs in qrels.items():
        for doc_id in docs:
            for kind, item in (("query", query_id), ("doc", doc_id)):
                ids = known[kind]
                if ids is not None and item not in ids:
                    unknown.setdefault((kind, item), [(query_id, doc_id), 0])[1] += 1
    problems = []
    for (kind, item), (pair, count) in unknown.items():
        at = where.get(pair, source) if where else source
        judgments = f"{count} judgment{'' if count == 1 else 's'}"
        total = len(known[kind] or ())
        problems.append(f"{at}: unknown {kind} id {item!r} ({judgments}); not among the {total} {kind} ids")
    return problems
