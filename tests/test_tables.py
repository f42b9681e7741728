"""The table model: each table built once (`report.tables`), the same rows in every renderer."""

from __future__ import annotations

import pytest

from mrl_eval.report.html import html_table
from mrl_eval.report.render import markdown_table
from mrl_eval.report.tables import Table, comparison_table, interval, results_table
from tests.test_cli import _minimal_report


def _stats(ci: list[float], delta: float) -> dict:
    return {"ci": ci, "delta": delta, "delta_ci": [delta - 0.01, delta + 0.01], "p_value": 0.5}


def _doc_with_stats() -> dict:
    doc = _minimal_report()
    doc["results"] = [
        {"dim": 4, "fraction": 0.5, "bytes_per_vector": 16, "metrics": {"ndcg@10": 0.55, "mrr@10": 0.5},
         "stats": {"ndcg@10": _stats([0.5, 0.6], -0.05), "mrr@10": _stats([0.4, 0.6], -0.1)}},
        {"dim": 8, "fraction": 1.0, "bytes_per_vector": 32, "metrics": {"ndcg@10": 0.6, "mrr@10": 0.6},
         "stats": {"ndcg@10": _stats([0.55, 0.65], 0.0), "mrr@10": _stats([0.5, 0.7], 0.0)}},
    ]  # fmt: skip
    doc["statistics"] = {"confidence": 0.95}
    doc["recommendation"] = {"dim": 4, "metric": "ndcg@10"}
    return doc


@pytest.mark.parametrize(
    ("pair", "signed", "text"),
    [([0.719, 0.79984], False, "[0.7190, 0.7998]"), ([-0.012, 0.0031], True, "[-0.0120, +0.0031]")],
)
def test_one_interval_format(pair, signed, text):
    assert interval(pair, signed) == text


def test_the_results_table_has_every_metric_and_marks_the_recommended_dim():
    table = results_table(_doc_with_stats(), "ndcg@10")
    assert table.header == (
        "dim", "of full", "bytes/vector", "ndcg@10", "95% CI", "Δ vs full", "95% CI of Δ", "p", "mrr@10", "95% CI",
    )  # fmt: skip
    assert table.rows[0][:5] == ("4", "50%", "16", "0.5500", "[0.5000, 0.6000]") and table.highlighted == 0
    compact = table.compact()  # the terminal and the step summary: no interval of the other metrics
    assert compact.header[-1] == "mrr@10" and all(len(row) == len(compact.header) for row in compact.rows)


def test_a_grid_cell_recommendation_highlights_no_dim():
    doc = _doc_with_stats()
    doc["recommendation"].update(label="pca:4:int8", method="pca", precision="int8")
    assert results_table(doc, "ndcg@10").highlighted is None


def test_every_renderer_shows_the_same_rows():
    table = Table.of("t", ["a", "b"], [["1", "x"], ["2", "y"]], highlighted=1, failed=frozenset({0}))
    md = markdown_table(table)
    assert md[2] == "| **1** | **x** |" and md[3] == "| **2** ✓ | y |"
    page = html_table(table)
    assert '<tr class="failed"><td>1</td><td>x</td></tr>' in page and '<tr class="pick"><td>2</td>' in page


def test_the_comparison_table_marks_failed_and_regressed_dims():
    def row(dim: int, passed: bool, regressed: bool) -> dict:
        v = {"baseline": 0.6, "current": 0.55, "delta": -0.05, "delta_ci": [-0.07, -0.03], "p_value": 0.01}
        gate = {"passed": passed, "regressed": regressed, "allowed_drop": 0.01}
        return {"dim": dim, "metrics": {"ndcg@10": v}, "gate": gate}

    comparison = {
        "gate": {"metric": "ndcg@10"},
        "paired": {"confidence": 0.9},
        "metrics": ["ndcg@10"],
        "by_dim": [row(4, False, True), row(8, True, True), row(16, True, False)],
        "baseline": {"path": "a.json", "model": "m"},
        "current": {"path": "b.json", "model": "m"},
    }
    table = comparison_table(comparison)
    assert [r[7] for r in table.rows] == ["FAIL", "pass (regressed)", "pass"] and table.failed == {0}
    assert table.header[4] == "90% CI of Δ" and table.rows[0][4] == "[-0.0700, -0.0300]"
