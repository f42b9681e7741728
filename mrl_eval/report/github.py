"""CI integrations: the GitHub Actions step summary and annotations, and a JUnit XML file of the gated checks.

- `GITHUB_STEP_SUMMARY` (a file path, set by the Actions runner): a Markdown summary is appended to it.
- `GITHUB_ACTIONS=true`: workflow commands (`::error title=mrl-eval gate::...`) for failed gates, `::warning` for a
  dim that regressed within the limit or a paired test that could not be run. The CLI prints them.
- `--junit-xml FILE`: one `<testcase>` per gated check (the recommendation; each dim compared with a baseline), with
  a `<failure>` for the failed ones; GitLab, Jenkins and most CI front ends show it as a test report.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mrl_eval.decide.compare import missing_dims, verdict
from mrl_eval.errors import MrlEvalError
from mrl_eval.report.tables import explain, explain_holdout, human_bytes

TITLE = "mrl-eval gate"


@dataclass(frozen=True)
class Check:
    """One gated check: a JUnit test case."""

    classname: str
    name: str
    passed: bool
    message: str
    details: str = ""


# Step summary (Markdown)


def _ci(pair: list[float]) -> str:
    return f"[{pair[0]:.4f}, {pair[1]:.4f}]"


def results_markdown(doc: dict, primary: str) -> list[str]:
    metric_names = list(doc["results"][0]["metrics"])
    stats = doc.get("statistics")
    level = f"{stats['confidence']:.0%} " if stats else ""
    rec_dim = (doc.get("recommendation") or {}).get("dim")
    header = ["dim", "of full", "bytes/vector", primary]
    if stats:
        header += [f"{level}CI", "Δ vs full", "p"]
    header += [m for m in metric_names if m != primary]
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for r in doc["results"]:
        dim = f"**{r['dim']}** ✓" if r["dim"] == rec_dim else str(r["dim"])
        cells = [dim, f"{r['fraction']:.0%}", str(r["bytes_per_vector"]), f"{r['metrics'][primary]:.4f}"]
        if stats and r.get("stats"):
            st = r["stats"][primary]
            cells += [_ci(st["ci"]), f"{st['delta']:+.4f}", f"{st['p_value']:.4f}"]
        elif stats:
            cells += ["", "", ""]
        cells += [f"{r['metrics'][m]:.4f}" for m in metric_names if m != primary]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def comparison_markdown(comparison: dict) -> list[str]:
    g = comparison["gate"]
    paired = comparison["paired"]
    level = f"{paired['confidence']:.0%}"
    lines = [
        f"Baseline `{comparison['baseline']['path']}` ({comparison['baseline']['model']}) against "
        f"`{comparison['current']['path']}` ({comparison['current']['model']}); delta = current - baseline; "
        f"gate: {g['metric']} drop at most {g['max_drop']} (rule {g['rule']}).",
        "",
        f"| dim | baseline {g['metric']} | current | Δ | {level} CI of Δ | p | allowed drop | result |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in comparison["by_dim"]:
        v, gate = row["metrics"][g["metric"]], row["gate"]
        ci = f"[{v['delta_ci'][0]:+.4f}, {v['delta_ci'][1]:+.4f}]" if "delta_ci" in v else "—"
        p = f"{v['p_value']:.4f}" if "p_value" in v else "—"
        result = "pass" if gate["passed"] else "**FAIL**"
        if gate["passed"] and gate["regressed"]:
            result = "pass (regressed)"
        lines.append(
            f"| {row['dim']} | {v['baseline']:.4f} | {v['current']:.4f} | {v['delta']:+.4f} | {ci} | {p} | "
            f"{gate['allowed_drop']:.4f} | {result} |"
        )
    lines.append("")
    extra = [missing_dims(comparison), *comparison["notes"]]
    lines += [f"- {note}" for note in extra if note]
    lines += ["", verdict(comparison)]
    return lines


def summary_markdown(doc: dict, primary: str) -> str:
    """The step summary of a sweep or recommend run: the results table, the recommendation, the gates' verdict."""
    stats = doc.get("statistics")
    lines = [
        f"## mrl-eval {doc['command']}: {doc['data']['name']} with {doc['model']['name']}",
        "",
        f"{doc['queries_evaluated']} queries evaluated, {doc['n_docs']:,} documents, full dim {doc['full_dim']}.",
        "",
        *results_markdown(doc, primary),
    ]
    rec = doc.get("recommendation")
    if rec:
        first, *rest = explain(rec, stats and stats["confidence"])
        lines += ["", "### Recommendation", "", first, "", *(f"- {line.strip()}" for line in rest)]
        if "holdout" in doc:
            lines += ["", explain_holdout(doc["holdout"])]
    if "baseline" in doc:
        lines += ["", "### Compared with the baseline", "", *comparison_markdown(doc["baseline"])]
    if rec:
        passed = gate_passed(doc)
        lines += ["", f"**Quality gate: {'passed' if passed else 'failed'}** {'✅' if passed else '❌'}"]
        if rec["dim"] is not None:
            what = (
                f"Cheapest cell meeting the bar: {rec['label']}"
                if rec.get("label") and rec.get("optimize") == "bytes"
                else f"Smallest dim meeting the bar: {rec['dim']}" + (f" ({rec['method']})" if rec.get("label") else "")
            )
            lines.append(
                f"{what} "
                f"({human_bytes(rec['storage']['bytes_per_vector'])}/vector instead of "
                f"{human_bytes(rec['storage']['full_bytes_per_vector'])})."
            )
    return "\n".join(lines) + "\n\n"


def compare_summary_markdown(comparison: dict) -> str:
    lines = ["## mrl-eval compare", "", *comparison_markdown(comparison)]
    passed = comparison["passed"]
    lines += ["", f"**Quality gate: {'passed' if passed else 'failed'}** {'✅' if passed else '❌'}"]
    return "\n".join(lines) + "\n\n"


def gate_passed(doc: dict) -> bool:
    rec_ok = (doc.get("recommendation") or {}).get("dim", 0) is not None
    return rec_ok and doc.get("baseline", {}).get("passed", True)


def append_step_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Append to $GITHUB_STEP_SUMMARY when it is set; OSError is left to the caller (a warning, not a failure)."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(markdown)
    return Path(target)


# Annotations (GitHub workflow commands)


def in_github_actions(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    # https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts (escapeData)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(level: str, message: str, title: str = TITLE) -> str:
    return f"::{level} title={_escape_property(title)}::{_escape_data(message)}"


def comparison_annotations(comparison: dict) -> list[str]:
    g = comparison["gate"]
    lines = []
    if not comparison["paired"]["available"]:
        lines.append(
            workflow_command("warning", f"No paired test: {comparison['paired']['reason']}.", "mrl-eval compare")
        )
    for row in comparison["by_dim"]:
        v, gate = row["metrics"][g["metric"]], row["gate"]
        numbers = f"{g['metric']} {v['current']:.4f} vs baseline {v['baseline']:.4f} (delta {v['delta']:+.4f}"
        if not gate["passed"]:
            lines.append(
                workflow_command(
                    "error",
                    f"dim {row['dim']}: {numbers}; {gate['checked']} {gate['value']:+.4f} is below the allowed "
                    f"-{gate['allowed_drop']:.4f}, rule {g['rule']})",
                )
            )
        elif gate["regressed"]:
            lines.append(
                workflow_command(
                    "warning",
                    f"dim {row['dim']}: {numbers}); a regression within the allowed {gate['allowed_drop']:.4f}",
                    "mrl-eval compare",
                )
            )
    return lines


def annotations(doc: dict) -> list[str]:
    """Workflow commands for a recommend run: its gate, and its baseline comparison if any."""
    lines = []
    rec = doc.get("recommendation")
    if rec and rec["dim"] is None:
        stats = doc.get("statistics")
        lines.append(workflow_command("error", explain(rec, stats and stats["confidence"])[0]))
    if "baseline" in doc:
        lines += comparison_annotations(doc["baseline"])
    return lines


# JUnit XML


def comparison_checks(comparison: dict, classname: str) -> list[Check]:
    g = comparison["gate"]
    checks = []
    for row in comparison["by_dim"]:
        v, gate = row["metrics"][g["metric"]], row["gate"]
        message = (
            f"{g['metric']} {v['current']:.4f} vs baseline {v['baseline']:.4f}: delta {v['delta']:+.4f}; "
            f"{gate['checked']} {gate['value']:+.4f}, allowed drop {gate['allowed_drop']:.4f} (rule {g['rule']})"
        )
        checks.append(
            Check(
                classname,
                f"dim {row['dim']}: {g['metric']} within {g['max_drop']} of the baseline",
                gate["passed"],
                message,
            )
        )
    return checks


def recommend_checks(doc: dict) -> list[Check]:
    rec = doc["recommendation"]
    stats = doc.get("statistics")
    lines = explain(rec, stats and stats["confidence"])
    checks = [
        Check(
            "mrl-eval.recommend",
            f"a swept dim meets the bar ({rec['rule']})",
            rec["dim"] is not None,
            lines[0],
            "\n".join(lines),
        )
    ]
    if "baseline" in doc:
        checks += comparison_checks(doc["baseline"], "mrl-eval.baseline")
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
    """Write the JUnit file atomically (temporary file, then rename), readable like any other file."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".xml")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(junit_xml(suite, checks))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise MrlEvalError(f"cannot write the JUnit file {path} ({err}); pass another --junit-xml FILE") from err
    return path
