"""The HTML report: written with the others, self-contained, escaped, and showing what the other reports show.
The real recommend run behind it is tests/conftest.py's `recommended`, shared with the browser test."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.report import document as report_document
from mrl_eval.report import html as html_report
from mrl_eval.report.html import to_html
from mrl_eval.report.schema import parse_document

runner = CliRunner()

STEM = "scifact-subset__embeddinggemma-300m"


def _invoke(args: list[object]):
    return runner.invoke(app, [str(a) for a in args])


class _Tags(HTMLParser):
    """Every start tag with its attributes, and whether the elements nest properly."""

    VOID = {"meta", "link", "br", "img", "hr", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.mismatched: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.mismatched.append(tag)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def test_the_html_report_is_written_with_the_others(recommended):
    work, _, page = recommended
    assert page.startswith("<!DOCTYPE html>")
    names = {p.name for p in (work / "reports").iterdir()}
    assert {f"{STEM}.html", f"{STEM}.json", f"{STEM}.svg"} <= names


def test_the_html_report_is_self_contained(recommended):
    _, _, page = recommended
    parser = _parse(page)
    for tag, attrs in parser.tags:
        for name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            value = (attrs.get(name) or "").strip()
            # only in-page references (#id) and inline data: no http(s), no protocol-relative //, no files
            assert value == "" or value.startswith(("#", "data:")), (tag, name, value)
    assert not any(tag == "script" for tag, _ in parser.tags)  # no script at all, so no console errors
    assert not any(tag == "link" and attrs.get("rel") == "stylesheet" for tag, attrs in parser.tags)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", page)  # no remote CSS, fonts or images
    assert "<!DOCTYPE svg" not in page  # the SVG's DOCTYPE names a remote DTD
    assert parser.open == [] and parser.mismatched == []  # well nested


def test_the_html_report_shows_table_chart_recommendation_losses_and_fingerprints(recommended):
    _, doc, page = recommended
    rec = doc["recommendation"]
    # the oracle: the smallest dim whose per-query nDCG@10 values average at least the bar of --min-ndcg
    means = {int(d): np.mean(list(values["ndcg@10"].values())) for d, values in doc["per_query"].items()}
    dim = min(d for d, mean in means.items() if mean >= 0.85)
    assert rec["dim"] == dim
    assert page.count("<svg") == 1 and "</svg>" in page  # the trade-off chart, inline
    assert f"Recommended dim: {dim} (rule point: mean ndcg@10 &gt;= bar 0.8500)." in page
    assert "Gate passed" in page
    # the results table: one row per dim, the chosen one marked, with the CI of the primary metric
    table = page.split("<h2>Results</h2>")[1].split("</table>")[0]
    assert table.count("<tr") == 1 + len(means) == 1 + 5
    st = next(r for r in doc["results"] if r["dim"] == dim)["stats"]["ndcg@10"]
    assert f'<tr class="pick"><td>{dim}</td>' in table and f"[{st['ci'][0]:.4f}, {st['ci'][1]:.4f}]" in table
    # the 10 worst queries of each dim
    losses = page.split("<h2>Queries that lose the most</h2>")[1]
    dim64 = losses.split("<h3>dim 64:")[1].split("<h3>")[0]
    assert dim64.count("<tr") == 1 + 10
    assert f'<td class="text">{doc["losses"]["by_dim"]["64"][0]["query_id"]}</td>' in dim64
    # fingerprints of the model and the data
    assert doc["model"]["fingerprint"] in page
    assert doc["data"]["qrels"]["sha256"] in page and doc["data"]["corpus"]["sha256"] in page
    assert "@media print" in page


def test_everything_from_the_run_is_escaped(recommended):
    _, doc, _ = recommended
    hostile = copy.deepcopy(doc)
    hostile["data"]["name"] = 'x<script>alert("name")</script>'
    hostile["losses"]["by_dim"]["64"][0]["text"] = '<img src="https://example.com/t.png" onerror="alert(1)">'
    page = to_html(parse_document(hostile, Path("hostile.json")), "stem")
    assert "<script" not in page and "<img" not in page
    assert "x&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=&quot;https://example.com/t.png&quot;" in page


def test_without_charts_the_page_says_so_and_has_no_svg(recommended, cli_env):
    work, _, _ = recommended
    result = _invoke(["recommend", "--from", work / "reports" / f"{STEM}.json", "--min-ndcg", "0.75"])
    assert result.exit_code == 0, result.output
    page = (cli_env / "reports" / f"{STEM}.html").read_text(encoding="utf-8")
    assert "<svg" not in page and "Charts were not drawn" in page
    assert not (cli_env / "reports" / f"{STEM}.png").exists()


def test_the_html_report_shows_the_baseline_comparison(recommended, cli_env):
    work, _, _ = recommended
    saved = work / "reports" / f"{STEM}.json"
    result = _invoke(["recommend", "--from", saved, "--min-ndcg", "0.75", "--baseline", saved])
    assert result.exit_code == 0, result.output
    page = (cli_env / "reports" / f"{STEM}.html").read_text(encoding="utf-8")
    section = page.split("<h2>Compared with the baseline</h2>")[1].split("<h2>")[0]
    assert section.count("<tr") == 1 + 5 and "Baseline gate passed" in section


def test_a_failure_while_writing_the_html_leaves_no_report(recommended, cli_env, monkeypatch):
    work, _, _ = recommended

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(report_document, "to_html", broken)  # where the report set is written
    result = _invoke(["recommend", "--from", work / "reports" / f"{STEM}.json", "--min-ndcg", "0.75"])
    assert result.exit_code == 1, result.output
    assert "disk full" in result.stderr
    assert not (cli_env / "reports").exists() or list((cli_env / "reports").iterdir()) == []  # all or nothing


def test_inline_svg_drops_the_prologue_metadata_and_fixed_size():
    svg = (
        '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
        '<svg width="720pt" height="374.4pt" viewBox="0 0 720 374.4" xmlns="http://www.w3.org/2000/svg">\n'
        " <metadata><rdf:RDF/></metadata>\n <text>ndcg@10</text>\n</svg>\n"
    )
    out = html_report.inline_svg(svg, "a <chart>")
    assert out.startswith('<svg viewBox="0 0 720 374.4" xmlns="http://www.w3.org/2000/svg" role="img"')
    assert 'aria-label="a &lt;chart&gt;"' in out
    assert "metadata" not in out and "DOCTYPE" not in out and "width=" not in out
    assert out.endswith("<text>ndcg@10</text>\n</svg>")
