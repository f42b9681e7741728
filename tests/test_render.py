"""Escaping in every renderer: hostile ids, query texts and model names through the Markdown report, the GitHub step
summary, the HTML page, the terminal table and the CSV files. The oracles are independent parsers: markdown-it-py
(CommonMark with GFM tables, rich's own Markdown parser), Python's csv module and html.parser."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from mrl_eval.report.github import summary_markdown
from mrl_eval.report.html import to_html
from mrl_eval.report.markdown import to_markdown
from mrl_eval.report.model import Report
from mrl_eval.report.render import csv_cell, csv_text, markdown_table, md_line
from mrl_eval.report.schema import parse_document
from mrl_eval.report.table_model import Table
from mrl_eval.report.tables import losses_csv_table, results_csv_table
from tests.helpers import minimal_report

HOSTILE = [
    "- item",
    "1. item",
    "> quote",
    "    indented code",
    "a|b",
    "line\nbreak",
    "# heading",
    "\n## injected heading\n",
    "<script>alert(1)</script>",
    '<img src="https://example.com/x.png">',
    "**bold** _it_ `code` [link](https://example.com) ![img](x.png)",
    "[ref]: https://example.com",
    "[x][ref] [y][]",
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
    "back\\slash",
    "u2028\u2028sep",
]


def _hostile_doc(text: str) -> Report:
    doc = minimal_report(
        model={"provider": "precomputed", "name": f"vec {text}", "fingerprint": "sha256:" + "0" * 64},
        data={"name": f"tiny {text}"},
    )
    doc["losses"] = {
        "metric": "ndcg@10",
        "k": 10,
        "by_dim": {
            "4": [{"query_id": text, "text": text, "full": 0.6, "value": 0.5, "delta": -0.1, "lost_relevant": [text]}]
        },  # fmt: skip
    }
    doc["recommendation"] = {
        "metric": "ndcg@10", "threshold": 0.5, "rule": "point", "rule_kind": "point", "dim": None, "full_dim": 8,
        "full_value": 0.6, "storage": {}, "evidence": {},
    }  # fmt: skip
    return parse_document(doc, Path("hostile.json"))


def _gfm(text: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(text)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)


def _tags(page: str) -> list[str]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_table_keeps_its_shape_and_shows_no_markup(text):
    table = Table.of("title " + text, ["id", "text", "value"], [[text, text, "0.5000"], ["2", "two", "0.4000"]])
    rendered = _gfm("\n".join(markdown_table(table, heading="##")))
    tags = _tags(rendered)
    assert tags.count("h2") == 1 and "h1" not in tags and "h3" not in tags  # no heading from the data
    assert tags.count("tr") == 3 and tags.count("td") == 6  # header + 2 rows, 3 cells each: no cell split or row added
    assert not {"script", "img", "strong", "em", "code", "a"} & set(tags)  # no markup from the data


@pytest.mark.parametrize("text", HOSTILE)
def test_md_text_is_one_plain_paragraph(text):
    rendered = _gfm(md_line(text))
    assert _tags(rendered) == ["p"]


@pytest.mark.parametrize("text", HOSTILE)
def test_the_markdown_report_and_the_step_summary_escape_every_field(text):
    doc = _hostile_doc(text)
    for markdown, heading in ((to_markdown(doc, "tiny", plots=False), "h1"), (summary_markdown(doc, "ndcg@10"), "h2")):
        tags = _tags(_gfm(markdown))
        assert tags.count(heading) == 1 and tags[0] == heading  # the title is one heading, with the name inside
        assert "script" not in tags and "img" not in tags
    loss_rows = to_markdown(doc, "tiny", plots=False).split("### dim 4")[1]
    assert _tags(_gfm(loss_rows)).count("td") == 6  # query, text, full, dim, delta, lost: one row of six cells


@pytest.mark.parametrize("text", HOSTILE)
def test_the_html_page_escapes_every_field(text):
    page = to_html(_hostile_doc(text), "tiny")
    tags = _tags(page)
    assert "script" not in tags and "img" not in tags
    assert tags.count("h1") == 1 and tags.count("title") == 1


@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-1+2", "@A1", "\tx", "\rx", "=cmd|' /C calc'!A0"])
def test_a_csv_formula_gets_a_quote(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["-0.012345", "+0.5", "-3", "1e-5", "-2.5e+3", "plain", "", "a=b"])
def test_numbers_and_plain_text_are_left_as_they_are(text):
    assert csv_cell(text) == text


@pytest.mark.parametrize("text", HOSTILE)
def test_losses_csv_escapes_formulas_and_keeps_the_row(text):
    rows = list(csv.reader(io.StringIO(csv_text(losses_csv_table(_hostile_doc(text))), newline="")))
    assert len(rows) == 2 and len(rows[1]) == len(rows[0])  # quoting keeps line breaks and commas inside the cell
    row = dict(zip(rows[0], rows[1]))
    for key in ("query_id", "text", "relevant_lost_from_top10"):
        assert not row[key].startswith(("=", "+", "-", "@", "\t", "\r"))
        assert row[key].lstrip("'") == text.replace("\r", "\n")
    assert row["delta"] == "-0.100000"  # a number keeps its sign


def test_the_results_csv_has_full_precision_numbers():
    rows = list(
        csv.DictReader(io.StringIO(csv_text(results_csv_table(parse_document(minimal_report(), Path("run.json"))))))
    )
    assert [r["dim"] for r in rows] == ["4", "8"] and rows[0]["ndcg@10"] == "0.550000"


def test_the_terminal_table_prints_data_as_text_not_rich_markup():
    from rich.console import Console

    from mrl_eval.report.terminal import rich_table

    console = Console(record=True, width=200)
    console.print(rich_table(Table.of("[bold]title[/bold]", ["id"], [["[red]x[/red]"]])))
    text = "".join(console.export_text().split())
    assert "[bold]title[/bold]" in text and "[red]x[/red]" in text
