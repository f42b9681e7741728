"""Renderers of a `Table` as Markdown (the report and the GitHub step summary) and as CSV, with the escaping that
keeps data from the run (ids, query text, model names, paths) from being read as markup or as a formula.

- Markdown: line breaks become spaces (no heading, list or table row can start inside a field), `|` and the
  characters that start emphasis and code are backslash-escaped, as are `](` and `][` (which close a link) and `![`,
  and `& < >` become entities, so no raw HTML (`<script>`, `<img>`) reaches GitHub's renderer.
- CSV: OWASP's rule against formula injection: a text cell that starts with `= + - @`, a tab or a carriage return
  gets a leading `'`; a cell that is a number (`-0.0123`) is left as it is. Line breaks inside a field are written
  as `\n` inside quotes.
"""

from __future__ import annotations

import csv
import io
import re

from mrl_eval.report.table_model import Table

_BREAKS = re.compile(r"[\s\x1c-\x1e\x85\u2028\u2029]+")
_LIST_START = re.compile(r"^([-+]|\d+(?=[.)]))")
# `]` only where a link or image could close ("](" or "]["), so an interval stays "[0.7190, 0.7998]" in the source
_MARKDOWN = re.compile(r"([\\`*_|~#]|!(?=\[)|\](?=[(\[]))")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md(text: object) -> str:
    """One field inside a line of Markdown (a table cell, a title) as plain text: one line, no markup, no HTML."""
    flat = _BREAKS.sub(" ", str(text)).strip()  # no line break, and no indent that starts a code block
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = _MARKDOWN.sub(r"\\\1", flat)
    return "\\" + flat if flat.startswith("[") else flat  # no link reference definition "[x]: url"


def md_line(text: object) -> str:
    """A whole line of Markdown (a sentence) as plain text: `md`, and no list item from a leading `-`, `+` or `1.`."""
    return _LIST_START.sub(lambda m: m[0] + "\\" if m[0].isdigit() else "\\" + m[0], md(text))


def markdown_table(table: Table, *, heading: str | None = None) -> list[str]:
    """The table as GitHub-flavoured Markdown lines, with its title as a heading when `heading` ("##") is given.
    The highlighted row is bold with a check mark; the cells of failed rows are bold."""
    lines = [f"{heading} {md(table.title)}", ""] if heading else []
    align = ["---" if i in table.text_columns else "---:" for i in range(len(table.header))]
    lines += ["| " + " | ".join(md(h) for h in table.header) + " |", "|" + "|".join(align) + "|"]
    for n, row in enumerate(table.rows):
        cells = [md(v) for v in row]
        if n == table.highlighted and cells:
            cells[0] = f"**{cells[0]}** ✓"
        if n in table.failed:
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"- {md(note)}" for note in table.notes]
    return lines


def csv_cell(value: str) -> str:
    """OWASP CSV-injection rule: a leading `= + - @ \\t \\r` gets a `'` unless the cell is a plain number."""
    if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(table: Table) -> str:
    """The table as CSV (`\\n` line ends; a line break inside a field is written as `\\n`, inside quotes)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in table.header])
    # csv quotes a field with "\n" (the line terminator) but not one with a bare "\r": make every break a "\n"
    writer.writerows([csv_cell(v).replace("\r\n", "\n").replace("\r", "\n") for v in row] for row in table.rows)
    return buf.getvalue()
