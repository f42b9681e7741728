"""Saved reports read back (`recommend --from`, `compare`, `--baseline`): checked against the schema, typed, never
patched in place; every hostile document ends in a clear error naming the file and the field (exit 1)."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.report.document import load_report, restated
from mrl_eval.report.schema import SavedReport, parse_document
from tests.helpers import minimal_report as _minimal_report

runner = CliRunner()


def _with_per_query(**overrides: object) -> dict:
    doc = _minimal_report(**overrides)
    doc.setdefault(
        "per_query",
        {
            "4": {"ndcg@10": {"q1": 0.5, "q2": 0.6, "q3": 0.55}},
            "8": {"ndcg@10": {"q1": 0.6, "q2": 0.6, "q3": 0.6}},
        },
    )
    return doc


def _set(doc: dict, dotted: str, value: object) -> dict:
    out = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


HOSTILE = [
    ("model", "x", "field model should be an object"),
    ("model", None, "field model should be an object, not null"),
    ("model.name", 7, "field model.name should be a string"),
    ("data", None, "field data should be an object, not null"),
    ("data.name", ["a"], "field data.name should be a string"),
    ("per_query", {}, "field per_query is empty"),
    ("per_query.4.ndcg@10.q1", float("nan"), "field per_query.4.ndcg@10.q1 is nan"),
    ("per_query.4.ndcg@10.q1", float("inf"), "field per_query.4.ndcg@10.q1 is inf"),
    ("per_query.4.ndcg@10.q1", "0.5", "field per_query.4.ndcg@10.q1 should be a number"),
    ("per_query.4.ndcg@10", {"q1": 0.5}, "holds other query ids than the rest"),
    ("per_query.4", None, "field per_query.4 should be an object"),
    ("results", {}, "field results should be a non-empty list"),
    ("results.0", "r", "field results[0] should be an object"),
    ("results.0.dim", "4", "field results[0].dim should be a whole number"),
    ("results.0.dim", True, "field results[0].dim should be a whole number"),
    ("results.0.metrics.ndcg@10", float("nan"), "field results[0].metrics.ndcg@10 is nan"),
    ("results.0.metrics.ndcg@10", None, "field results[0].metrics.ndcg@10 should be a number, not null"),
    ("results.0.stats", {"ndcg@10": {"ci": [0.1]}}, "field results[0].stats.ndcg@10.ci should be a [low, high]"),
    ("full_dim", 8.5, "field full_dim should be a whole number"),
    ("n_docs", -1, "field n_docs should be a whole number >= 0"),
    ("queries_evaluated", None, "field queries_evaluated should be a whole number"),
    ("schema", 99, "schema version 99 is not one this mrl-eval reads (1)"),
    ("schema", "1", 'schema version "1" is not one this mrl-eval reads'),
    ("command", ["sweep"], "field command should be a string"),
    # the numbers checked against each other: the per-query values are the source of every mean
    (
        "results.0.metrics.ndcg@10",
        0.99,
        "field results[0].metrics.ndcg@10 is 0.99, but the mean of its 3 per-query values (per_query.4.ndcg@10) is 0.55",
    ),
    ("results.1.metrics.ndcg@10", 0.6001, "field results[1].metrics.ndcg@10 is 0.6001, but the mean"),
    ("per_query.4.ndcg@10.q1", 1.5, "field per_query.4.ndcg@10.q1 is 1.5, outside [0, 1] where ndcg@10 lies"),
    ("per_query.8.ndcg@10.q3", -0.2, "field per_query.8.ndcg@10.q3 is -0.2, outside [0, 1]"),
    ("results.0.metrics.ndcg@10", 1.25, "field results[0].metrics.ndcg@10 is 1.25, outside [0, 1]"),
    ("full_dim", 4, "field full_dim is 4, but the results go up to dim 8"),
    ("results.0.dim", 8, "field results has dim 8 more than once"),
    ("queries_evaluated", 5, "field queries_evaluated is 5, but per_query holds values of 3 queries"),
    ("n_docs", 10**400, "field n_docs is 10000000000000000000... (401 digits), more than 2^63-1"),
    ("results.0.fraction", 10**400, "field results[0].fraction is a 401-digit number (not a finite number)"),
    ("results.0.bytes_per_vector", 2**63, "field results[0].bytes_per_vector is 9223372036854775808, more than 2^63-1"),
]


@pytest.mark.parametrize(("field", "value", "message"), HOSTILE, ids=[f"{f}={v!r}" for f, v, _ in HOSTILE])
def test_a_hostile_report_is_refused_naming_the_file_and_the_field(cli_env, field, value, message):
    path = cli_env / "run.json"
    path.write_text(json.dumps(_set(_with_per_query(), field, value)), encoding="utf-8")  # NaN is written as NaN
    good = cli_env / "good.json"
    good.write_text(json.dumps(_with_per_query()), encoding="utf-8")
    for args in (
        ["recommend", "--from", path, "--min-ndcg", "0.5"],
        ["compare", path, good],
        ["recommend", "--from", good, "--min-ndcg", "0.5", "--baseline", path],
    ):
        result = runner.invoke(app, [str(a) for a in args])
        assert isinstance(result.exception, SystemExit), repr(result.exception)  # no traceback
        assert result.exit_code == 1, result.output
        text = " ".join(result.stderr.split())
        assert str(path) in text and message in text, text
    assert not (cli_env / "reports").exists()


def test_the_control_report_is_read(cli_env):
    path = cli_env / "run.json"
    path.write_text(json.dumps(_with_per_query()), encoding="utf-8")
    report = load_report(path)
    assert isinstance(report, SavedReport)
    assert [r.dim for r in report.results] == [4, 8] and report.full_dim == 8 and report.query_ids == ("q1", "q2", "q3")


def test_a_report_without_a_schema_field_is_read_as_version_1(cli_env):
    doc = _minimal_report()
    del doc["schema"]
    assert parse_document(doc, Path("old.json")).full_dim == 8


def test_restated_returns_a_new_report_and_leaves_the_read_one_alone(cli_env):
    path = cli_env / "run.json"
    path.write_text(json.dumps(_with_per_query()), encoding="utf-8")
    report = load_report(path)
    before = report.to_dict()
    again = restated(report, StatsSettings(resamples=200))
    assert report.to_dict() == before and report.statistics is None  # not patched in place
    assert again.statistics is not None and again.to_dict()["statistics"]["resamples"] == 200
    assert again.results[0].stats["ndcg@10"].delta == pytest.approx((0.5 + 0.6 + 0.55) / 3 - 0.6)
    assert again.to_dict()["results"][0]["stats"]["ndcg@10"]["delta"] == again.results[0].stats["ndcg@10"].delta


def test_restated_without_per_query_values_drops_the_statistics(cli_env):
    doc = _minimal_report()
    doc["results"][0]["stats"] = {"ndcg@10": {"ci": [0.1, 0.2], "delta": 0.0, "delta_ci": [0.0, 0.0], "p_value": 1}}
    doc["statistics"] = {"confidence": 0.95}
    again = restated(parse_document(doc, Path("x.json")), StatsSettings())
    assert "statistics" not in again.to_dict() and not again.results[0].stats


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def _paths(node: object, prefix: str = "") -> list[str]:
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        here = f"{prefix}.{key}" if prefix else str(key)
        out += [here, *_paths(value, here)]
    return out


_FIELDS = _paths(_with_per_query())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(_FIELDS), value=_JSON)
def test_fuzz_any_field_replaced_by_any_json_is_read_or_refused_by_name(field, value):
    doc = _set(_with_per_query(), field, value)
    try:
        report = parse_document(json.loads(json.dumps(doc)), Path("fuzz.json"))
    except MrlEvalError as err:
        assert str(err).startswith("fuzz.json: ")
        return
    # accepted: what the readers use is typed and finite
    assert all(isinstance(r.dim, int) and all(math.isfinite(v) for v in r.metrics.values()) for r in report.results)
    for values in (report.per_query or {}).values():
        assert all(math.isfinite(v) for by_query in values.values() for v in by_query.values())


@pytest.fixture(scope="module")
def grid_report(tmp_path_factory) -> dict:
    """A real recommend run with every section a report can have: grid, PCA, two-stage, losses, holdout."""
    from tests.conftest import data_path

    folder = data_path("scifact-subset")
    work = tmp_path_factory.mktemp("grid-report")
    args = ["recommend", folder, "--embeddings", folder / "embeddings" / "embeddinggemma-300m", "--dims", "64,128"]
    args += ["--precisions", "float32,binary", "--compare", "pca", "--two-stage", "64:binary", "--shortlist", "50"]
    args += ["--min-ndcg", "0.8", "--holdout", "0.5", "--no-plot", "--out", work, "--json", "--resamples", "200"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(work / "xdg-cache"))
        result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_bug_recommend_from_a_recommend_report_drops_its_old_decisions(grid_report):
    again = restated(parse_document(grid_report, Path("r.json")), StatsSettings(resamples=200))
    assert {"recommendation", "holdout"} & set(grid_report) == {"recommendation", "holdout"}
    assert not {"recommendation", "holdout", "baseline"} & set(again.to_dict())
    assert "recommendation" not in again.to_dict()["two_stage"]
    assert len(again.cells) == len(grid_report["grid"]["cells"]) and again.two_stage_rows


def _sections(doc: dict) -> list[str]:
    """Field paths outside the per-query values (thousands of numbers, checked above)."""
    return [p for p in _paths(doc) if ".per_query." not in f".{p}" and not p.startswith("per_query")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=_JSON)
def test_fuzz_a_report_with_every_section_is_read_and_rendered_or_refused_by_name(grid_report, data, value):
    from mrl_eval.report.github import summary_markdown
    from mrl_eval.report.html import to_html
    from mrl_eval.report.markdown import to_markdown

    field = data.draw(st.sampled_from(_sections(grid_report)))
    doc = _set(grid_report, field, value)
    try:
        report = restated(parse_document(json.loads(json.dumps(doc)), Path("fuzz.json")), StatsSettings(resamples=50))
    except MrlEvalError as err:
        assert str(err).startswith("fuzz.json: ")
        return
    rendered = replace(report, command="recommend")
    to_markdown(rendered, "fuzz", plots=False)
    to_html(rendered, "fuzz")
    summary_markdown(rendered, "ndcg@10")


def test_bug_terminal_control_characters_in_a_saved_report_reached_the_terminal(cli_env, monkeypatch):
    doc = _with_per_query()
    doc["model"]["name"] = "vec\x1b[8mhidden\x1b]0;retitled\x07"
    doc["data"]["name"] = "tiny\x1b[2J\x9b"
    path = cli_env / "run\x1b[31m.json"  # a file name is text from outside too
    path.write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # annotations are written to stdout as well
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    for args in (
        ["recommend", "--from", path, "--min-ndcg", "0.99", "--resamples", "200"],  # fails: an error annotation
        ["recommend", "--from", path, "--min-ndcg", "0.5", "--baseline", path, "--resamples", "200"],
        ["compare", path, path, "--resamples", "200"],
        ["compare", path, cli_env / "missing\x1b[8m.json"],
    ):
        result = runner.invoke(app, [str(a) for a in args])
        assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
        shown = result.stdout + result.stderr
        assert not any(c in shown for c in "\x1b\x07\x9b"), repr(shown[:400])
        assert "\\x1b[" in shown  # shown as an escape, not dropped
    assert "vec\\x1b[8mhidden\\x1b]0;retitled\\x07" in runner.invoke(app, ["compare", str(path), str(path)]).stdout
