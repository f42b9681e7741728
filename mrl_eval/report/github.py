"""GitHub Actions: the step summary (Markdown) and annotations (workflow commands). The JUnit file is `junit.py`.

- `GITHUB_STEP_SUMMARY` (a file path, set by the Actions runner): a Markdown summary is appended to it.
- `GITHUB_ACTIONS=true`: workflow commands (`::error title=mrl-eval gate::...`) for failed gates, `::warning` for a
  dim that regressed within the limit or a paired test that could not be run. The CLI prints them.

Every field from the run in the summary goes through `render.md` (no table break, heading or raw HTML from an id,
a query text or a model name).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mrl_eval.decide.compare import RunComparison, missing_dims, verdict
from mrl_eval.report.label_free import notes as label_free_notes
from mrl_eval.report.markdown import title
from mrl_eval.report.model import Report
from mrl_eval.report.render import markdown_table, md, md_line
from mrl_eval.report.sentences import advice, explain, explain_holdout, keeps_full_size
from mrl_eval.report.table_model import human_bytes
from mrl_eval.report.tables import comparison_table, results_table

TITLE = "mrl-eval gate"


# Step summary (Markdown)


def comparison_markdown(comparison: RunComparison) -> list[str]:
    g = comparison.gate
    base, cur = comparison.baseline, comparison.current
    lines = [
        f"Baseline {md(base.path)} ({md(base.model)}) against {md(cur.path)} ({md(cur.model)}); "
        f"delta = current - baseline; gate: {md(g.metric)} drop at most {md(g.max_drop)} (rule {md(g.rule)}).",
        "",
        *markdown_table(comparison_table(comparison)),
        "",
    ]
    extra = [missing_dims(comparison), *comparison.notes]
    lines += [f"- {md(note)}" for note in extra if note]
    lines += ["", md_line(verdict(comparison))]
    return lines


def summary_markdown(report: Report, primary: str) -> str:
    """The step summary of a sweep or recommend run: the results table, the recommendation, the gates' verdict."""
    lines = [
        f"## {md(title(report))}",
        "",
        f"{report.queries_evaluated} {report.queries_label} evaluated, {report.n_docs:,} documents, full dim "
        f"{report.full_dim}.",
        "",
        *(line for note in label_free_notes(report) for line in (md_line(note), "")),
        *markdown_table(results_table(report, primary).compact()),
    ]
    rec = report.recommendation
    if rec:
        first, *rest = explain(rec, report.confidence)
        lines += ["", "### Recommendation", "", md_line(first), "", *(f"- {md(line)}" for line in rest)]
        if report.holdout is not None:
            lines += ["", md_line(explain_holdout(report.holdout))]
    if report.baseline is not None:
        lines += ["", "### Compared with the baseline", "", *comparison_markdown(report.baseline)]
    if rec:
        passed = report.gate_passed
        lines += ["", f"**Quality gate: {'passed' if passed else 'failed'}** {'✅' if passed else '❌'}"]
        if rec.dim is not None and keeps_full_size(rec):
            lines.append(md_line(advice(rec)[0]) + "".join(f" {md_line(line)}" for line in advice(rec)[1:]))
        elif rec.dim is not None:
            what = (
                f"Cheapest cell meeting the bar: {rec.label}"
                if rec.label and rec.optimize == "bytes"
                else f"Smallest dim meeting the bar: {rec.dim}" + (f" ({rec.method})" if rec.label else "")
            )
            lines.append(
                f"{md_line(what)} "
                f"({human_bytes(rec.storage['bytes_per_vector'])}/vector instead of "
                f"{human_bytes(rec.storage['full_bytes_per_vector'])})."
            )
    return "\n".join(lines) + "\n\n"


def compare_summary_markdown(comparison: RunComparison) -> str:
    lines = ["## mrl-eval compare", "", *comparison_markdown(comparison)]
    passed = comparison.passed
    lines += ["", f"**Quality gate: {'passed' if passed else 'failed'}** {'✅' if passed else '❌'}"]
    return "\n".join(lines) + "\n\n"


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


def comparison_annotations(comparison: RunComparison) -> list[str]:
    g = comparison.gate
    lines = []
    if not comparison.paired.available:
        lines.append(workflow_command("warning", f"No paired test: {comparison.paired.reason}.", "mrl-eval compare"))
    for row in comparison.by_dim:
        v, gate = row.metrics[g.metric], row.gate
        numbers = f"{g.metric} {v.current:.4f} vs baseline {v.baseline:.4f} (delta {v.delta:+.4f}"
        if not gate.passed:
            lines.append(
                workflow_command(
                    "error",
                    f"dim {row.dim}: {numbers}; {gate.checked} {gate.value:+.4f} is below the allowed "
                    f"-{gate.allowed_drop:.4f}, rule {g.rule})",
                )
            )
        elif gate.regressed:
            lines.append(
                workflow_command(
                    "warning",
                    f"dim {row.dim}: {numbers}); a regression within the allowed {gate.allowed_drop:.4f}",
                    "mrl-eval compare",
                )
            )
    return lines


def annotations(report: Report) -> list[str]:
    """Workflow commands for a recommend run: its gate, and its baseline comparison if any."""
    lines = []
    rec = report.recommendation
    if rec and rec.dim is None:
        lines.append(workflow_command("error", explain(rec, report.confidence)[0]))
    if report.baseline is not None:
        lines += comparison_annotations(report.baseline)
    return lines
