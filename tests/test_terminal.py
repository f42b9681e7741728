"""The terminal view (report/terminal.py), read back: at 80 and 120 columns every table prints whole (no line
longer than the console, no value or header cut, no ellipsis), and every printed number, parsed from the text,
is the JSON report's value at the printed precision. The oracle of each number is the report's JSON document;
how the numbers themselves are computed is tested against pytrec_eval, scipy and FAISS elsewhere."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from mrl_eval.report.document import load_report
from mrl_eval.report.engine_view import engine_table
from mrl_eval.report.label_free import growth_table
from mrl_eval.report.models_view import models_table
from mrl_eval.report.schema import parse_document
from mrl_eval.report.table_model import Table
from mrl_eval.report.tables import comparison_table, grid_tables, paired_table, results_table
from mrl_eval.report.terminal import models_view, rich_table, run_view
from tests.conftest import DATA, checkout_env, data_path

WIDTHS = (80, 120)
NUMBER = r"[+-]?\d+\.\d{4}"
INTERVAL = rf"\[({NUMBER}), ({NUMBER})\]"
# a row of the results table at a glance: dim, bytes per vector, the metric, its interval, Δ vs full, its interval
RESULT_ROW = re.compile(
    rf"^\s*(?P<dim>\d+)(?P<mark> ✓)?\s+(?P<bytes>[\d,]+)\s+(?P<value>{NUMBER})\s+{INTERVAL}\s+"
    rf"(?:(?P<delta>{NUMBER})\s+\[(?P<dlow>{NUMBER}), (?P<dhigh>{NUMBER})\]|(?P<none>—\s+—))\s*$"
)


def _printed(view: list, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    for renderable in view:
        console.print(renderable)
    lines = console.export_text().splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), [line for line in lines if len(line.rstrip()) > width]
    assert "…" not in "\n".join(lines)  # nothing cut with an ellipsis
    return lines


def _flat(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def _near(text: str, value: float) -> None:
    """`text` is `value` rounded to the digits printed."""
    digits = len(text.partition(".")[2])
    assert float(text.replace(",", "")) == pytest.approx(value, abs=0.51 * 10**-digits), (text, value)


def _rows_whole(table: Table, lines: list[str]) -> None:
    """Each row of `table` is one printed line holding exactly its values, in order (none cut or wrapped), and
    every word of every header is printed whole."""
    tokens = [line.split() for line in lines]
    for n, row in enumerate(table.rows):
        values = " ".join([row[0] + (" ✓" if n == table.highlighted else ""), *row[1:]]).split()
        assert values in tokens, (values, lines)
    printed = {word for line in tokens for word in line}
    assert {word for header in table.header for word in header.split()} <= printed


@pytest.fixture(scope="module")
def recommended_report(recommended):
    _, doc, _ = recommended
    return doc, parse_document(doc, Path("run.json"))


@pytest.mark.parametrize("width", WIDTHS)
def test_the_results_table_and_the_decision_print_whole_and_read_back_as_the_json(recommended_report, width):
    doc, report = recommended_report
    lines = _printed(run_view(report, "ndcg@10"), width)
    results = {r["dim"]: r for r in doc["results"]}
    rows = [m for line in lines if (m := RESULT_ROW.match(line))]
    assert sorted(int(m["dim"]) for m in rows) == sorted(results)  # every dim once
    for m in rows:
        r = results[int(m["dim"])]
        st = r["stats"]["ndcg@10"]
        assert int(m["bytes"].replace(",", "")) == r["bytes_per_vector"]
        _near(m["value"], r["metrics"]["ndcg@10"])
        _near(m[5], st["ci"][0]), _near(m[6], st["ci"][1])
        if r["dim"] == doc["full_dim"]:
            assert m["none"] is not None  # the full dim against itself: "—", not +0.0000 [+0.0000, +0.0000]
        else:
            _near(m["delta"], st["delta"]), _near(m["dlow"], st["delta_ci"][0]), _near(m["dhigh"], st["delta_ci"][1])
        assert (m["mark"] is not None) == (r["dim"] == doc["recommendation"]["dim"])
    header = _flat(lines[: next(n for n, line in enumerate(lines) if set(line.strip()) == {"─"})])
    for word in ("dim", "bytes", "ndcg@10", "95%", "CI", "of", "Δ", "vs", "full"):
        assert word in header.split()
    # the decision, first: the dim, its bytes, the metric with its interval, Δ vs full with its interval
    flat = _flat(lines)
    dim = doc["recommendation"]["dim"]
    assert flat.startswith(f"Recommended dim: {dim} of {doc['full_dim']}")
    chosen = results[dim]
    st = chosen["stats"]["ndcg@10"]
    m = re.search(r"bytes/vector ([\d,]+) instead of ([\d,]+)", flat)
    assert m and int(m[1].replace(",", "")) == chosen["bytes_per_vector"]
    assert int(m[2].replace(",", "")) == results[doc["full_dim"]]["bytes_per_vector"]
    m = re.search(rf"ndcg@10 ({NUMBER}), 95% CI {INTERVAL}", flat)
    assert m
    _near(m[1], chosen["metrics"]["ndcg@10"]), _near(m[2], st["ci"][0]), _near(m[3], st["ci"][1])
    m = re.search(rf"Δ vs full ({NUMBER}), 95% CI of Δ {INTERVAL}, p (\d\.\d{{4}})", flat)
    assert m
    _near(m[1], st["delta"]), _near(m[2], st["delta_ci"][0]), _near(m[3], st["delta_ci"][1])
    _near(m[4], st["p_value"])


def test_every_interval_header_says_whose_interval_it_is(recommended_report):
    _, report = recommended_report
    grid = load_report(DATA / "reports" / "grid-recommend.json")
    tables = [results_table(report, "ndcg@10"), paired_table(report, "ndcg@10"), *grid_tables(grid, "ndcg@10")]
    assert grid.baseline is not None
    tables.append(comparison_table(grid.baseline))
    headers = [h for table in tables if table is not None for h in table.header]
    intervals = [h for h in headers if "CI" in h or "interval" in h]
    assert intervals and all(re.fullmatch(r"\d+% CI of \S.*", h) for h in intervals), intervals


def test_the_full_dim_shows_no_delta_from_itself_in_every_renderer(recommended_report):
    from mrl_eval.report.html import html_table
    from mrl_eval.report.render import markdown_table

    doc, report = recommended_report
    table = results_table(report, "ndcg@10")
    full = next(row for row in table.rows if row[0] == str(doc["full_dim"]))
    header = list(table.header)
    assert [full[header.index(h)] for h in ("Δ vs full", "95% CI of Δ", "p")] == ["—", "—", "—"]
    markdown = next(line for line in markdown_table(table) if line.startswith(f"| {doc['full_dim']} |"))
    assert "+0.0000" not in markdown and "—" in markdown
    page_row = html_table(table).split(f"<tr><td>{doc['full_dim']}</td>")[1].split("</tr>")[0]
    assert "+0.0000" not in page_row and "—" in page_row


@pytest.mark.parametrize("width", WIDTHS)
def test_grid_tables_print_whole_and_read_back_as_the_json(width):
    path = DATA / "reports" / "grid-recommend.json"
    doc, report = json.loads(path.read_text()), load_report(path)
    cells = {c["label"]: c for c in doc["grid"]["cells"]}
    shown = [table.glance() for table in grid_tables(report, "ndcg@10") if not table.detail]
    assert shown
    for table in shown:
        lines = _printed([rich_table(table)], width)
        _rows_whole(table, lines)
    pareto = shown[0]
    assert pareto.header[:3] == ("cell", "ndcg@10", "bytes/vec")
    for line in _printed([rich_table(pareto)], width):
        words = line.split()
        if words and words[0] in cells:
            _near(words[1 + (words[1] == "✓")], cells[words[0]]["metrics"]["ndcg@10"])


@pytest.mark.parametrize("width", WIDTHS)
def test_the_engine_table_prints_whole_and_reads_back_as_the_json(width):
    path = DATA / "reports" / "faiss-recommend.json"
    doc, report = json.loads(path.read_text()), load_report(path)
    table = engine_table(report)
    assert table is not None
    glance = table.glance()
    lines = _printed([rich_table(glance)], width)
    _rows_whole(glance, lines)
    metric = doc["recommendation"]["metric"]
    cells = {c["label"]: c for c in doc["engine"]["cells"]}
    read = 0
    for line in lines:
        words = line.split()
        if words and words[0] in cells:
            values = [w for w in words[1:] if w != "✓"]
            _near(values[0], cells[words[0]]["metrics"][metric])
            _near(values[2], cells[words[0]]["neighbour_recall"])
            read += 1
    assert read == len(cells)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_growth_table_prints_whole_and_reads_back_as_the_json(growth_run, width):
    doc = growth_run.to_dict()
    table = growth_table(growth_run.report)
    assert table is not None
    glance = table.glance()
    lines = _printed([rich_table(glance)], width)
    _rows_whole(glance, lines)
    by_dim = {d["dim"]: d for d in doc["growth"]["dims"]}
    targets = list(doc["growth"]["targets"])
    for line in lines:
        words = line.split()
        if words and words[0].isdigit() and int(words[0]) in by_dim:
            numbers = re.findall(NUMBER, line)
            projection = by_dim[int(words[0])]["projection"]
            for n, name in enumerate(targets):  # after the measured drop: each target's projection and interval
                drop, low, high = numbers[1 + 3 * n : 4 + 3 * n]
                _near(drop, projection[name]["drop"])
                _near(low, projection[name]["drop_ci"][0]), _near(high, projection[name]["drop_ci"][1])


@pytest.mark.parametrize("width", WIDTHS)
def test_several_models_print_the_decision_then_the_frontier_reference_and_chosen_cells(two_models, width):
    report = two_models[1].report
    doc = report.to_dict()
    lines = _printed(models_view(report), width)
    flat = _flat(lines)
    rec = doc["recommendation"]
    assert flat.startswith(f"Recommended: {rec['model']} at {rec['cell']}")
    glance = models_table(report).glance()
    _rows_whole(glance, lines)
    comparison = doc["comparison"]
    cells = {(c["model"], c["cell"].removeprefix("prefix:")): c for c in comparison["cells"]}
    wanted = {label for label in [*comparison["frontier"], comparison["reference"], rec["label"]]}
    printed = set()
    for line in lines:
        words = [w for w in line.split() if w != "✓"]
        if len(words) >= 4 and (words[0], words[1]) in cells:
            c = cells[(words[0], words[1])]
            printed.add(c["label"])
            assert int(words[2].replace(",", "")) == c["bytes_per_vector"]
            _near(words[3], c["metrics"]["ndcg@10"])
            low, high = re.findall(NUMBER, line)[1:3]
            _near(low, c["stats"]["ndcg@10"]["ci"][0]), _near(high, c["stats"]["ndcg@10"]["ci"][1])
    assert printed == wanted  # at a glance: only the frontier, the reference and the recommended cell


def _cli(args: list[str], tmp_path: Path, columns: int) -> subprocess.CompletedProcess:
    env = checkout_env(COLUMNS=str(columns), XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [sys.executable, "-m", "mrl_eval", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("command", ["sweep", "recommend"])
def test_columns_80_prints_every_table_whole(tmp_path, command):
    folder = data_path("scifact-subset")
    args = [command, str(folder), "--embeddings", str(folder / "embeddings" / "embeddinggemma-300m")]
    args += ["--dims", "64,128,256", "--out", "reports"]
    args += ["--min-ndcg", "0.85", "--no-plot"] if command == "recommend" else []
    done = _cli(args, tmp_path, 80)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines), [line for line in lines if len(line.rstrip()) > 80]
    assert "…" not in done.stdout
    doc = json.loads(next((tmp_path / "reports").glob("*.json")).read_text())
    results = {r["dim"]: r for r in doc["results"]}
    rows = [m for line in lines if (m := RESULT_ROW.match(line))]
    assert sorted(int(m["dim"]) for m in rows) == sorted(results)
    for m in rows:
        _near(m["value"], results[int(m["dim"])]["metrics"]["ndcg@10"])
    # --wide: every metric and interval (rich takes the width the table needs)
    wide = _cli(["recommend", "--from", "reports/" + next((tmp_path / "reports").glob("*.json")).name,
                 "--min-ndcg", "0.85", "--wide", "--out", "again"], tmp_path, 80)  # fmt: skip
    assert wide.returncode == 0, wide.stderr
    assert "95% CI of recall@100" in wide.stdout and "95% CI of recall@100" not in done.stdout
