"""Which field of a corpus or queries file holds the id, the text and the title.

Each file has its own names (`--doc-id-column`, `--doc-text-column`, `--doc-title-column` for the corpus;
`--query-id-column`, `--query-text-column` for the queries): one file's names never apply to the other. A name
given must be in the file (else a problem naming the flag). With none given, the first of the common names
found is used (`defaults.DOC_ID_COLUMNS`, `QUERY_TEXT_COLUMNS`, ...: `_id`, `id`, `query_id`; `text`, `query`,
`question`): the first that holds text, and a value in it that is not a string (a number, a list, an object) is
refused with its file and line, never embedded as its repr. Once read, `empty_text_problem` and `empty_text_note` say when texts are empty (all of them:
refused; a large share: a warning naming the file, the column and how many).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mrl_eval import defaults

# At least this share of a file's texts empty after the mapping: worth a warning (a wrong column, most likely).
EMPTY_SHARE_WARNED = 0.5


@dataclass(frozen=True)
class Columns:
    """The fields of one file: each a name the user gave, or None for the common names; `title` "" means none."""

    role: str  # "corpus" or "queries"
    id: str | None = None
    text: str | None = None
    title: str | None = None  # the corpus only; None: "title" if the file has it

    @property
    def flag(self) -> str:
        return "--doc" if self.role == "corpus" else "--query"

    @property
    def what(self) -> str:
        return "documents" if self.role == "corpus" else "queries"

    def id_names(self) -> tuple[str, ...]:
        return (
            (self.id,) if self.id else defaults.DOC_ID_COLUMNS if self.role == "corpus" else defaults.QUERY_ID_COLUMNS
        )

    def text_names(self) -> tuple[str, ...]:
        if self.text:
            return (self.text,)
        return defaults.DOC_TEXT_COLUMNS if self.role == "corpus" else defaults.QUERY_TEXT_COLUMNS

    def title_names(self) -> tuple[str, ...]:
        if self.role != "corpus" or self.title == "":
            return ()
        return (self.title,) if self.title else (defaults.DOC_TITLE_COLUMN,)

    def wanted(self) -> list[str]:
        """Every name that may be read (a Parquet file reads only these columns)."""
        return list(dict.fromkeys((*self.id_names(), *self.text_names(), *self.title_names())))


@dataclass(frozen=True)
class Chosen:
    """The fields read from one file (`text` None: none, allowed only when texts are not needed)."""

    id: str
    text: str | None
    title: str | None


def is_text(value: Any) -> bool:
    return isinstance(value, str)


def choose(
    columns: Columns, found: Sequence[str], records: Sequence[dict[str, Any]], path: str, *, require_text: bool
) -> Chosen | str:
    """The fields to read, or a problem (a string) naming the file, what was looked for, what was found and the fix.
    Without `require_text` (the vectors are precomputed) only the id column must be there."""
    shown = _clip_list(found)
    id_key = next((name for name in columns.id_names() if name in found), None)
    if id_key is None:
        if columns.id:
            return f"{path}: no {columns.id!r} column ({columns.flag}-id-column; found {shown}); check the name"
        looked = ", ".join(repr(n) for n in columns.id_names())
        return f"{path}: no id column (looked for {looked}; found {shown}); pass {columns.flag}-id-column NAME"
    title_key = next((name for name in columns.title_names() if name in found), None)
    text_key = _text_column(columns, found, records)
    if not require_text:
        return Chosen(id_key, text_key, title_key)
    if columns.title and title_key is None:
        return f"{path}: no {columns.title!r} column ({columns.flag}-title-column; found {shown}); check the name"
    if text_key is None and columns.text:
        if columns.text in found:
            return f"{path}: the {columns.text!r} column ({columns.flag}-text-column) holds no text (not strings)"
        return f"{path}: no {columns.text!r} column ({columns.flag}-text-column; found {shown}); check the name"
    if text_key is None:
        looked = ", ".join(repr(n) for n in columns.text_names())
        return (
            f"{path}: no text column (looked for {looked}, holding text; found {shown}); "
            f"pass {columns.flag}-text-column NAME"
        )
    return Chosen(id_key, text_key, title_key)


def _text_column(columns: Columns, found: Sequence[str], records: Sequence[dict[str, Any]]) -> str | None:
    """The first candidate present that holds text (some string), else the first candidate present at all: its
    values that are not strings are then refused row by row, never read as their repr (collection_files)."""
    present = [name for name in columns.text_names() if name in found]
    for name in present:
        if any(is_text(r.get(name)) and r.get(name) != "" for r in records):
            return name
    return present[0] if present else None


def empty_text_problem(path: str, columns: Columns, chosen: Chosen, texts: Sequence[str]) -> str | None:
    """Every text empty: nothing to embed, a problem naming the file and the columns read."""
    if not texts or any(t.strip() for t in texts):
        return None
    read = " and ".join(repr(c) for c in (chosen.title, chosen.text) if c) or "no text column"
    return (
        f"{path}: every one of the {len(texts):,} {columns.what} is empty after reading {read}; "
        f"pass {columns.flag}-text-column NAME"
    )


def empty_text_note(path: str, columns: Columns, chosen: Chosen, empty_fields: int, total: int) -> str | None:
    """A warning when at least `EMPTY_SHARE_WARNED` of the texts read from `chosen.text` are empty."""
    if not total or chosen.text is None or empty_fields < EMPTY_SHARE_WARNED * total:
        return None
    alone = f"; they are embedded from their {chosen.title!r} alone" if chosen.title else ""
    return (
        f"{path}: {empty_fields:,} of {total:,} {columns.what} ({empty_fields / total:.0%}) have an empty "
        f"{chosen.text!r} ({columns.flag}-text-column){alone}. If that is the wrong column, pass "
        f"{columns.flag}-text-column NAME"
    )


def _clip_list(names: Sequence[str], width: int = 120) -> str:
    text = repr(list(names))
    return text if len(text) <= width else text[: width - 3] + "..."
