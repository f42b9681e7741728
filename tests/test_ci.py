"""CI integrations: a GitHub Actions run reproduced locally (step summary, annotations) and the JUnit XML file."""

from __future__ import annotations

import copy
import json
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.report.github import workflow_command
from tests.conftest import data_path

runner = CliRunner()

GEMMA = "embeddinggemma-300m"
STEM = "scifact-subset__embeddinggemma-300m"


def _invoke(args: list[object]):
    return runner.invoke(app, [str(a) for a in args])


def _scifact() -> tuple[Path, Path]:
    folder = data_path("scifact-subset")
    return folder, folder / "embeddings" / GEMMA


@pytest.fixture(scope="module")
def saved_sweep(tmp_path_factory) -> Path:
    folder, embeddings = _scifact()
    work = tmp_path_factory.mktemp("ci-sweep")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(work / "xdg-cache"))
        mp.delenv("GITHUB_STEP_SUMMARY", raising=False)
        mp.delenv("GITHUB_ACTIONS", raising=False)
        mp.chdir(work)
        result = _invoke(["sweep", folder, "--embeddings", embeddings, "--dims", "64,128,256,512", "--json"])
    assert result.exit_code == 0, result.output
    return work / "reports" / f"{STEM}.json"


@pytest.fixture
def github(cli_env, monkeypatch) -> Path:
    """The two variables the Actions runner sets; the summary file starts empty, as on the runner."""
    summary = cli_env / "step_summary.md"
    summary.write_text("", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    return summary


def _better_baseline(saved: Path, folder: Path, dim: int, by: float) -> Path:
    """A baseline whose nDCG@10 at `dim` is higher than the saved run's by `by` per query (up to 1, where nDCG
    ends), its mean that of the new values."""
    doc = copy.deepcopy(json.loads(saved.read_text(encoding="utf-8")))
    values = doc["per_query"][str(dim)]["ndcg@10"]
    for q in values:
        values[q] = min(1.0, values[q] + by)
    for r in doc["results"]:
        if r["dim"] == dim:
            r["metrics"]["ndcg@10"] = float(np.mean(list(values.values())))
    path = folder / "baseline.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_a_failing_recommend_gate_in_github_actions(github, cli_env, saved_sweep):
    # the job's step, as the example workflow runs it: the bar is out of reach and dim 128 regressed from the baseline
    folder, embeddings = _scifact()
    baseline = _better_baseline(saved_sweep, cli_env, 128, 0.2)  # most queries are at 1 already: +0.035 in all
    result = _invoke(
        [
            "recommend",
            folder,
            "--embeddings",
            embeddings,
            "--dims",
            "64,128,256,512",
            "--min-ndcg",
            "0.99",
            "--baseline",
            baseline,
            "--junit-xml",
            "mrl-eval-junit.xml",
        ]
    )
    assert result.exit_code == 3, result.output

    summary = github.read_text(encoding="utf-8")
    assert summary.startswith("## mrl-eval recommend: scifact-subset with embeddinggemma-300m")
    assert "| dim | of full | bytes per vector | ndcg@10 | 95% CI of ndcg@10 | Δ vs full | 95% CI of Δ | p |" in summary
    assert summary.count("\n| 64 | 8% | 256 |") == 1  # one row per dim
    assert "### Recommendation" in summary and "No swept dim meets the rule" in summary
    assert "### Compared with the baseline" in summary and "| 128 |" in summary and "**FAIL**" in summary
    assert "**Quality gate: failed**" in summary

    errors = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert errors[0].startswith("::error title=mrl-eval gate::No swept dim meets the rule")
    assert any(line.startswith("::error title=mrl-eval gate::dim 128: ndcg@10") for line in errors)
    assert len(errors) == 2

    root = ET.parse(cli_env / "mrl-eval-junit.xml").getroot()
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 1 + 5  # the recommendation, then each of the 5 compared dims
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == [
        "a swept dim meets the bar (point: ndcg@10 >= 0.99)",
        "dim 128: ndcg@10 within 0.01 of the baseline",
    ]
    assert root.find("testsuite").get("failures") == "2" and root.find("testsuite").get("tests") == "6"


def test_a_passing_gate_writes_passed_and_no_error(github, cli_env, saved_sweep):
    result = _invoke(["recommend", "--from", saved_sweep, "--min-ndcg", "0.7", "--junit-xml", "j.xml"])
    assert result.exit_code == 0, result.output
    assert "**Quality gate: passed**" in github.read_text(encoding="utf-8")
    assert "::error" not in result.stdout
    case = ET.parse(cli_env / "j.xml").getroot().find("./testsuite/testcase")
    assert case is not None and case.find("failure") is None


def test_under_json_annotations_go_to_stderr_and_stdout_stays_json(github, cli_env, saved_sweep):
    result = _invoke(["recommend", "--from", saved_sweep, "--min-ndcg", "0.99", "--json"])
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["recommendation"]["dim"] is None  # all of stdout is the document
    assert "::error title=mrl-eval gate::No swept dim meets the rule" in result.stderr


def test_a_regression_within_the_limit_is_a_warning(github, cli_env, saved_sweep):
    baseline = _better_baseline(saved_sweep, cli_env, 256, 0.005)
    result = _invoke(["compare", baseline, saved_sweep, "--max-drop", "0.01"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stdout.splitlines() if line.startswith("::warning ")]
    assert len(warnings) == 1
    assert warnings[0].startswith("::warning title=mrl-eval compare::dim 256: ndcg@10")
    assert "within the allowed 0.0100" in warnings[0]
    assert "pass (regressed)" in github.read_text(encoding="utf-8")


def test_a_skipped_paired_test_is_a_warning(github, cli_env, saved_sweep):
    doc = json.loads(saved_sweep.read_text(encoding="utf-8"))
    del doc["per_query"]
    (cli_env / "no-per-query.json").write_text(json.dumps(doc), encoding="utf-8")
    result = _invoke(["compare", saved_sweep, "no-per-query.json", "--junit-xml", "c.xml"])
    assert result.exit_code == 0, result.output
    assert "::warning title=mrl-eval compare::No paired test: the current run has no per-query values." in result.stdout
    cases = ET.parse(cli_env / "c.xml").getroot().findall("./testsuite/testcase")
    assert [c.get("classname") for c in cases] == ["mrl-eval.compare"] * 5


def test_sweep_appends_to_the_step_summary_and_annotates_nothing(github, cli_env, saved_sweep):
    github.write_text("earlier step\n", encoding="utf-8")
    folder, embeddings = _scifact()
    result = _invoke(["sweep", folder, "--embeddings", embeddings, "--dims", "128", "--json"])
    assert result.exit_code == 0, result.output
    summary = github.read_text(encoding="utf-8")
    assert summary.startswith("earlier step\n## mrl-eval sweep: scifact")  # appended, not overwritten
    assert "| 128 | 17% | 512 |" in summary and "Quality gate" not in summary  # a sweep has no gate
    assert "::" not in result.stderr


def test_outside_github_actions_nothing_is_written_or_annotated(cli_env, monkeypatch, saved_sweep):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    result = _invoke(["recommend", "--from", saved_sweep, "--min-ndcg", "0.99"])
    assert result.exit_code == 3, result.output
    assert "::error" not in result.stdout + result.stderr
    assert sorted(p.name for p in cli_env.iterdir() if p.suffix == ".md") == []


def test_an_unwritable_step_summary_is_a_warning_not_a_failure(cli_env, monkeypatch, saved_sweep):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(cli_env))  # a folder: cannot be opened for appending
    result = _invoke(["recommend", "--from", saved_sweep, "--min-ndcg", "0.7"])
    assert result.exit_code == 0, result.output
    assert "cannot append to $GITHUB_STEP_SUMMARY" in " ".join(result.stderr.split())


def test_workflow_command_escapes_newlines_percent_and_property_separators():
    line = workflow_command("error", "50% worse\nsee report", title="a: b, c")
    assert line == "::error title=a%3A b%2C c::50%25 worse%0Asee report"


def test_junit_file_in_a_missing_folder_is_created(cli_env, saved_sweep):
    result = _invoke(["compare", saved_sweep, saved_sweep, "--junit-xml", "ci/out/junit.xml"])
    assert result.exit_code == 0, result.output
    assert len(ET.parse(cli_env / "ci" / "out" / "junit.xml").getroot().findall(".//testcase")) == 5


@pytest.mark.parametrize(
    ("name", "command"),
    [
        (
            "github-actions.yml",
            lambda doc: next(s["run"] for s in doc["jobs"]["mrl-eval"]["steps"] if s.get("name") == "Quality gate"),
        ),
        ("gitlab-ci.yml", lambda doc: doc["mrl-eval"]["script"][-1]),
    ],
)
def test_the_example_workflows_use_real_flags(cli_env, name, command):
    import yaml

    from tests.conftest import ROOT

    doc = yaml.safe_load((ROOT / "examples" / name).read_text(encoding="utf-8"))
    words = shlex.split(command(doc))
    assert words[:2] == ["mrl-eval", "recommend"]
    # parsed exactly as recommend would parse them, without running anything
    result = _invoke(["config", "show", "recommend", *words[2:], "--json"])
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)["settings"]
    assert settings["junit-xml"] == {"value": "reports/junit.xml", "source": "flag"}
    assert settings["baseline"]["source"] == "flag" and settings["min-ndcg"]["value"] == 0.8
