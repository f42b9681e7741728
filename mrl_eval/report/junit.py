"""A JUnit XML file of the gated checks (`--junit-xml FILE`): one `<testcase>` per check (the recommendation; each
dim compared with a baseline), with a `<failure>` for the failed ones; GitLab, Jenkins and most CI front ends show
it as a test report. ElementTree escapes every attribute and text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from mrl_eval.decide.compare import RunComparison
from mrl_eval.errors import MrlEvalError
from mrl_eval.files import write_atomic
from mrl_eval.report.model import Report
from mrl_eval.report.sentences import explain


@dataclass(frozen=True)
class Check:
    """One gated check: a JUnit test case."""

    classname: str
    name: str
    passed: bool
    message: str
    details: str = ""


def comparison_checks(comparison: RunComparison, classname: str) -> list[Check]:
    g = comparison.gate
    checks = []
    for row in comparison.by_dim:
        v, gate = row.metrics[g.metric], row.gate
        message = (
            f"{g.metric} {v.current:.4f} vs baseline {v.baseline:.4f}: delta {v.delta:+.4f}; "
            f"{gate.checked} {gate.value:+.4f}, allowed drop {gate.allowed_drop:.4f} (rule {g.rule})"
        )
        name = f"dim {row.dim}: {g.metric} within {g.max_drop} of the baseline"
        checks.append(Check(classname, name, gate.passed, message))
    return checks


def recommend_checks(report: Report) -> list[Check]:
    rec = report.recommendation
    if rec is None:
        return []
    lines = explain(rec, report.confidence)
    checks = [
        Check(
            "mrl-eval.recommend",
            f"a swept dim meets the bar ({rec.rule})",
            rec.dim is not None,
            lines[0],
            "\n".join(lines),
        )
    ]
    engine = report.engine.recommendation if report.engine is not None else None
    if engine is not None:
        what = f"an engine cell meets the bar ({rec.rule})"
        chosen = f"{engine.label} meets the bar" if engine.label is not None else "no engine cell meets the bar"
        checks.append(Check("mrl-eval.engine", what, engine.label is not None, chosen, chosen))
    if report.baseline is not None:
        checks += comparison_checks(report.baseline, "mrl-eval.baseline")
    return checks


def junit_xml(suite: str, checks: list[Check]) -> str:
    failures = sum(not c.passed for c in checks)
    root = ET.Element("testsuites", name="mrl-eval", tests=str(len(checks)), failures=str(failures), errors="0")
    node = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(checks)), failures=str(failures), errors="0", skipped="0"
    )
    for check in checks:
        case = ET.SubElement(node, "testcase", classname=check.classname, name=check.name, time="0")
        if check.passed:
            out = ET.SubElement(case, "system-out")
            out.text = check.details or check.message
        else:
            failure = ET.SubElement(case, "failure", message=check.message, type="GateFailed")
            failure.text = check.details or check.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, suite: str, checks: list[Check]) -> Path:
    """Write the JUnit file atomically, readable like any other file."""
    try:
        write_atomic(path, junit_xml(suite, checks))
    except OSError as err:
        raise MrlEvalError(f"cannot write the JUnit file {path} ({err}); pass another --junit-xml FILE") from err
    return path
