"""The files of a run of several models, written as one all-or-nothing set: the JSON report (every model's report
and the comparison), the cross-model table as CSV, a Markdown and an HTML page, and the frontier chart."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from mrl_eval.errors import MrlEvalError
from mrl_eval.report.html import html_table, inline_svg, page
from mrl_eval.report.models_report import ModelsReport
from mrl_eval.report.models_view import explain_models, models_table, plot_models
from mrl_eval.report.render import csv_text, markdown_table, md_line
from mrl_eval.report.report_set import REPORT_SUFFIXES, ReportSet


def models_stem(report: ModelsReport) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{report.data.name}__{len(report.names)}-models")
    return slug.strip("-").lower()


def to_markdown(report: ModelsReport, stem: str, plots: bool = True) -> str:
    table = models_table(report)
    lines = [f"# {md_line(table.title)}", ""]
    if report.recommendation is not None:
        lines += ["## Recommendation", "", *(f"- {md_line(s)}" for s in explain_models(report.recommendation)), ""]
    if plots:
        lines += [f"![{md_line(report.comparison.metric)} against bytes per vector]({stem}.png)", ""]
    lines += [*markdown_table(table, heading="##"), ""]
    lines += ["Models: " + ", ".join(md_line(n) for n in report.names) + ".", ""]
    return "\n".join(lines)


def to_html(report: ModelsReport, stem: str, svg: str | None) -> str:
    """The page of a run of several models: the recommendation, the frontier chart and the table across models."""
    table = models_table(report)
    sections = [f"<h1>{html.escape(table.title)}</h1>"]
    if report.recommendation is not None:
        sentences = explain_models(report.recommendation)
        sections += ["<h2>Recommendation</h2>", *(f"<p>{html.escape(s)}</p>" for s in sentences)]
    if svg:
        metric = report.comparison.metric
        sections.append(f"<figure>{inline_svg(svg, f'{metric} against bytes per vector, every model')}</figure>")
    sections += ["<h2>Every cell of every model</h2>", html_table(table)]
    names = ", ".join(html.escape(n) for n in report.names)
    return page(table.title, sections, f"Models: {names}; the same run as {html.escape(stem)}.json.")


def write_models_reports(
    report: ModelsReport, out_dir: Path, metric: str | None = None, plots: bool = True
) -> list[Path]:
    """JSON, CSV, Markdown, HTML and (unless `plots` is False) the PNG/SVG chart, replaced whole or not at all."""
    try:
        with ReportSet(out_dir, models_stem(report), REPORT_SUFFIXES) as files:
            stem = files.stem
            files.write_text(f"{stem}.json", json.dumps(report.to_dict(), indent=1, allow_nan=False) + "\n")
            files.write_text(f"{stem}.csv", csv_text(models_table(report)))
            files.write_text(f"{stem}.md", to_markdown(report, stem, plots))
            svg = None
            if plots:
                svg_path = files.path(f"{stem}.svg")
                plot_models(report, [files.path(f"{stem}.png"), svg_path], metric)
                svg = svg_path.read_text(encoding="utf-8")
            files.write_text(f"{stem}.html", to_html(report, stem, svg))
    except OSError as err:
        raise MrlEvalError(f"cannot write reports to {out_dir} ({err}); pass --out DIR") from err
    return files.written
