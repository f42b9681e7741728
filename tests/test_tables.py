"""The table model: each table built once (`report.tables`), the same rows in every renderer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mrl_eval.decide.compare import (
    CheckedGate,
    DimComparison,
    GateCheck,
    MetricDelta,
    Pairing,
    RunComparison,
    RunDescription,
)
from mrl_eval.decide.recommend import Choice
from mrl_eval.report.html import html_table
from mrl_eval.report.model import Report
from mrl_eval.report.render import markdown_table
from mrl_eval.report.schema import parse_document
from mrl_eval.report.table_model import Table, interval
from mrl_eval.report.tables import comparison_table, results_table
from tests.helpers import minimal_report


def _stats(ci: list[float], delta: float) -> dict:
    return {"ci": ci, "delta": delta, "delta_ci": [delta - 0.01, delta + 0.01], "p_value": 0.5}


def _choice(**fields: object) -> Choice:
    """A recommendation of dim 4 (the fields the tables read; the rest as a real one has them)."""
    base = {"dim": 4, "metric": "ndcg@10", "threshold": 0.5, "value": 0.55, "rule": "point", "rule_kind": "point"}
    base |= {"full_dim": 8, "full_value": 0.6, "smaller_dim": None, "smaller_value": None}
    return Choice(**{**base, "storage": {}, "evidence": {}, **fields})  # type: ignore[arg-type]


def _doc_with_stats() -> Report:
    doc = minimal_report()
    doc["results"] = [
        {"dim": 4, "fraction": 0.5, "bytes_per_vector": 16, "metrics": {"ndcg@10": 0.55, "mrr@10": 0.5},
         "stats": {"ndcg@10": _stats([0.5, 0.6], -0.05), "mrr@10": _stats([0.4, 0.6], -0.1)}},
        {"dim": 8, "fraction": 1.0, "bytes_per_vector": 32, "metrics": {"ndcg@10": 0.6, "mrr@10": 0.6},
         "stats": {"ndcg@10": _stats([0.55, 0.65], 0.0), "mrr@10": _stats([0.5, 0.7], 0.0)}},
    ]  # fmt: skip
    doc["statistics"] = {"confidence": 0.95}
    return replace(parse_document(doc, Path("run.json")), recommendation=_choice())


@pytest.mark.parametrize(
    ("pair", "signed", "text"),
    [([0.719, 0.79984], False, "[0.7190, 0.7998]"), ([-0.012, 0.0031], True, "[-0.0120, +0.0031]")],
)
def test_one_interval_format(pair, signed, text):
    assert interval(pair, signed) == text


def test_the_results_table_has_every_metric_and_marks_the_recommended_dim():
    table = results_table(_doc_with_stats(), "ndcg@10")
    assert table.header == (
        "dim", "of full", "bytes per vector", "ndcg@10", "95% CI of ndcg@10", "Δ vs full", "95% CI of Δ", "p",
        "mrr@10", "95% CI of mrr@10",
    )  # fmt: skip
    assert table.rows[0][:5] == ("4", "50%", "16", "0.5500", "[0.5000, 0.6000]") and table.highlighted == 0
    compact = table.compact()  # the terminal and the step summary: no interval of the other metrics
    assert compact.header[-1] == "mrr@10" and all(len(row) == len(compact.header) for row in compact.rows)


def test_a_grid_cell_recommendation_highlights_no_dim():
    report = _doc_with_stats()
    report = replace(report, recommendation=_choice(label="pca:4:int8", method="pca", precision="int8"))
    assert results_table(report, "ndcg@10").highlighted is None


def test_every_renderer_shows_the_same_rows():
    table = Table.of("t", ["a", "b"], [["1", "x"], ["2", "y"]], highlighted=1, failed=frozenset({0}))
    md = markdown_table(table)
    assert md[2] == "| **1** | **x** |" and md[3] == "| **2** ✓ | y |"
    page = html_table(table)
    assert '<tr class="failed"><td>1</td><td>x</td></tr>' in page and '<tr class="pick"><td>2</td>' in page


def test_the_comparison_table_marks_failed_and_regressed_dims():
    def row(dim: int, passed: bool, regressed: bool) -> DimComparison:
        v = MetricDelta(0.6, 0.55, -0.05, (-0.07, -0.03), 0.01)
        return DimComparison(dim, {"ndcg@10": v}, GateCheck(0.01, "mean delta", -0.05, passed, regressed))

    def run(path: str) -> RunDescription:
        return RunDescription(path, "tiny", None, "m", None, None, 3)

    rows = (row(4, False, True), row(8, True, True), row(16, True, False))
    comparison = RunComparison(
        baseline=run("a.json"),
        current=run("b.json"),
        gate=CheckedGate("ndcg@10"),
        dims=(4, 8, 16),
        only_in_baseline=(),
        only_in_current=(),
        metrics=("ndcg@10",),
        paired=Pairing(True, None, 3, "test", "bootstrap", 0.9, 1000, 0),
        by_dim=rows,
        failed_dims=(4,),
        passed=False,
        notes=(),
    )
    table = comparison_table(comparison)
    assert [r[7] for r in table.rows] == ["FAIL", "pass (regressed)", "pass"] and table.failed == {0}
    assert table.header[4] == "90% CI of Δ" and table.rows[0][4] == "[-0.0700, -0.0300]"
