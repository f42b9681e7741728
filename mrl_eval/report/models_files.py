"""The files of a run of several models, written as one all-or-nothing set: the JSON report (every model's report
and the comparison), the cross-model table as CSV, a Markdown and an HTML page, and the frontier chart."""

from __future__ import annotations

import functools
import html
from pathlib import Path

from mrl_eval.errors import MrlEvalError
from mrl_eval.files import json_text
from mrl_eval.report.document import reports_stem
from mrl_eval.report.html import html_table, inline_svg, page
from mrl_eval.report.models_costs import costs_table
from mrl_eval.report.models_report import ModelsReport
from mrl_eval.report.models_view import explain_models_report, models_table, plot_models
from mrl_eval.report.ownership import claim, default_stem, models_identity
from mrl_eval.report.render import csv_text, markdown_table, md_line
from mrl_eval.report.report_set import REPORT_SUFFIXES, ReportSet


def models_stem(report: ModelsReport) -> str:
    return default_stem(report.data.name, f"{len(report.names)}-models")


def to_markdown(report: ModelsReport, stem: str, plots: bool = True) -> str:
    table = models_table(report)
    lines = [f"# {md_line(table.title)}", ""]
    if report.recommendation is not None:
        lines += ["## Recommendation", "", *(f"- {md_line(s)}" for s in explain_models_report(report)), ""]
    if plots:
        lines += [f"![{md_line(report.comparison.metric)} against bytes per vector]({stem}.png)", ""]
    lines += [*markdown_table(table, heading="##"), ""]
    lines += [*markdown_table(costs_table(report), heading="##"), ""]
    return "\n".join(lines)


def to_html(report: ModelsReport, stem: str, svg: str | None) -> str:
    """The page of a run of several models: the recommendation, the frontier chart, the table across models and
    what each model costs beyond storage."""
    table = models_table(report)
    sections = [f"<h1>{html.escape(table.title)}</h1>"]
    if report.recommendation is not None:
        sentences = explain_models_report(report)
        sections += ["<h2>Recommendation</h2>", *(f"<p>{html.escape(s)}</p>" for s in sentences)]
    if svg:
        metric = report.comparison.metric
        sections.append(f"<figure>{inline_svg(svg, f'{metric} against bytes per vector, every model')}</figure>")
    sections += ["<h2>Every cell of every model</h2>", html_table(table)]
    costs = costs_table(report)
    sections += [f"<h2>{html.escape(costs.title)}</h2>", html_table(costs)]
    names = ", ".join(html.escape(n) for n in report.names)
    return page(table.title, sections, f"Models: {names}; the same run as {html.escape(stem)}.json.")


def write_models_reports(
    report: ModelsReport,
    out_dir: Path,
    metric: str | None = None,
    plots: bool = True,
    *,
    name: str | None = None,
    overwrite: bool = False,
    source: Path | None = None,
) -> list[Path]:
    """JSON, CSV, Markdown, HTML and (unless `plots` is False) the PNG/SVG chart, as `<name>.*` (default
    `<data>__<n>-models`), replaced whole or not at all, and only when the set there is this run's own (the same data
    and models; `overwrite` replaces another run's: `ownership.claim`). `source`: the saved report this one was read
    from (`recommend --from`), whose own set and charts are left alone."""
    stem = reports_stem(models_stem(report), out_dir, name, plots, source)
    mine = models_identity(report.data.files, [r.model.about for r in report.runs])
    check = functools.partial(
        claim, record=out_dir / f"{stem}.json", mine=mine, overwrite=overwrite, charts_drawn=plots or source is None
    )
    try:
        with ReportSet(out_dir, stem, REPORT_SUFFIXES, claim=check) as files:
            files.write_text(f"{stem}.json", json_text(report.to_dict(), what=f"{out_dir / stem}.json"))
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
