"""The recommendation in words (report/sentences.py), as every output shows it: the terminal, the Markdown report,
the HTML page and the GitHub step summary. Which dim a rule picks is tested against per-query values elsewhere
(tests/test_recommend.py); here the precondition of each case is read from the report's JSON."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from mrl_eval.cli.app import app

STEM = "scifact-subset__embeddinggemma-300m"


def _recommend(recommended, cli_env, monkeypatch, *bar: str) -> tuple[dict, dict[str, str]]:
    """`recommend --from` the shared run with this bar: the JSON and each output's text."""
    work, _, _ = recommended
    summary = cli_env / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    args = ["recommend", "--from", str(work / "reports" / f"{STEM}.json"), *bar, "--out", "out"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    folder = cli_env / "out"
    outputs = {
        "terminal": result.stdout,
        "markdown": (folder / f"{STEM}.md").read_text(encoding="utf-8"),
        "html": (folder / f"{STEM}.html").read_text(encoding="utf-8"),
        "step summary": summary.read_text(encoding="utf-8"),
    }
    doc = json.loads((folder / f"{STEM}.json").read_text(encoding="utf-8"))
    return doc, {name: " ".join(text.split()) for name, text in outputs.items()}


def test_a_max_drop_gate_that_keeps_the_full_size_says_so_not_gate_passed(recommended, cli_env, monkeypatch):
    """`--max-drop 2% --rule non-inferior` printed "Gate passed" and "Recommended dim: 384 … 0% saved": a bar
    relative to the full dim can never fail it, so the answer is to keep the full size, and the gate only guards
    against regressions."""
    doc, outputs = _recommend(recommended, cli_env, monkeypatch, "--max-drop", "0.5%", "--rule", "non-inferior")
    full = doc["full_dim"]
    assert doc["recommendation"]["dim"] == full  # the case: no smaller swept dim is non-inferior within 0.5%
    for name, text in outputs.items():
        assert "Keep the full size" in text, name
        assert "Gate passed" not in text and "0% saved" not in text and f"Recommended dim: {full}" not in text, name
        assert "Smallest dim meeting the bar" not in text, name
    for name in ("terminal", "markdown", "html"):
        assert "only guards against regressions" in outputs[name], name


def test_an_absolute_bar_met_only_at_full_size_keeps_the_full_size_without_the_regression_note(
    recommended, cli_env, monkeypatch
):
    _, run, _ = recommended
    means = {int(d): np.mean(list(v["ndcg@10"].values())) for d, v in run["per_query"].items()}
    full = run["full_dim"]
    bar = (means[full] + max(v for d, v in means.items() if d != full)) / 2  # only the full dim reaches it
    assert means[full] > max(v for d, v in means.items() if d != full)
    doc, outputs = _recommend(recommended, cli_env, monkeypatch, "--min-ndcg", f"{bar:.6f}")
    assert doc["recommendation"]["dim"] == full
    for name, text in outputs.items():
        assert "Keep the full size" in text and "guards against regressions" not in text, name


def test_the_smallest_swept_dim_meeting_the_rule_suggests_sweeping_smaller_dims(recommended, cli_env, monkeypatch):
    doc, outputs = _recommend(recommended, cli_env, monkeypatch, "--min-ndcg", "0.1")
    smallest = min(r["dim"] for r in doc["results"])
    assert doc["recommendation"]["dim"] == smallest
    dims = f"--dims {smallest // 8},{smallest // 4},{smallest // 2},{smallest}"
    for name in ("terminal", "markdown", "html"):
        assert (
            f"Dim {smallest} is the smallest dim swept and it meets the rule: sweep smaller dims ({dims})"
            in (outputs[name])
        ), name
