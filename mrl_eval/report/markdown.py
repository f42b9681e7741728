"""The Markdown report (`<stem>.md`): the run's tables and sentences, every field from the data escaped (`md`)."""

from __future__ import annotations

import re
from dataclasses import replace

from mrl_eval.report.engine_view import engine_recipe, engine_table
from mrl_eval.report.label_free import markdown as label_free_markdown
from mrl_eval.report.model import Report
from mrl_eval.report.render import markdown_table, md, md_line
from mrl_eval.report.sentences import explain, explain_grid, explain_holdout
from mrl_eval.report.tables import grid_tables, loss_tables, paired_table, results_table


def title(report: Report) -> str:
    """The run in one line, shared by the Markdown report, the step summary and the HTML page (which escape it)."""
    return f"mrl-eval {report.command}: {report.data.name} with {report.model.name}"


def primary_metric(report: Report) -> str:
    """The metric the reports lead with: the recommendation's, else the first computed."""
    return report.recommendation.metric if report.recommendation is not None else report.metrics[0]


def to_markdown(report: Report, stem: str, plots: bool = True) -> str:
    stats = report.statistics
    model = report.model
    primary = primary_metric(report)
    lines = [
        f"# {md(title(report))}",
        "",
        f"- full dim: {report.full_dim}; documents: {report.n_docs:,}; {report.queries_label} evaluated: "
        f"{report.queries_evaluated} "
        f"(skipped, no judgments: {report.queries_skipped})",
        f"- model: {md(model.label)} ({md(str(model.fingerprint or '')[:23])})",
    ]
    if stats:
        lines.append(
            f"- intervals: {stats.confidence:.0%} {md(stats.interval)}, {stats.settings.resamples:,} resamples, "
            f"seed {stats.settings.seed}; p-values: {md(stats.test)}"
        )
    lines += [f"- mrl-eval {md(report.mrl_eval_version or '')}, {md(report.created or '')}", ""]
    lines += markdown_table(results_table(report, primary))
    paired = paired_table(report, primary)
    if paired is not None:
        lines += ["", *markdown_table(paired, heading="##")]
    if report.recommendation is not None:
        sentences = explain(report.recommendation, report.confidence)
        lines += ["", "## Recommendation", "", *(md_line(s) for s in sentences)]
        if report.holdout is not None:
            lines += ["", md_line(explain_holdout(report.holdout))]
    lines += ["", f"![trade-off]({stem}.png)" if plots else "", ""]
    for table in grid_tables(report, primary):
        lines += [*markdown_table(table, heading="##"), ""]
    if report.grid is not None:
        lines += [*(md_line(s) for s in explain_grid(report)), ""]
        lines += [f"![quality against bytes per vector]({stem}.pareto.png)" if plots else "", ""]
    lines += _engine(report)
    lines += label_free_markdown(report, stem, plots)
    losses = report.losses
    if losses is not None and losses.by_dim:
        lines += [
            f"## Queries that lose the most ({md(losses.metric or '')}; all of them in {stem}.losses.csv)",
            "",
            f"![per-query deltas]({stem}.deltas.png)" if plots else "",
            "",
        ]
        for table in loss_tables(report):
            short = [(*row[:1], _clip(row[1]), *row[2:]) for row in table.rows]
            lines += [*markdown_table(replace(table, rows=tuple(short)), heading="###"), ""]
    return "\n".join(lines)


def _engine(report: Report) -> list[str]:
    table = engine_table(report)
    if table is None:
        return []
    lines = [*markdown_table(table, heading="##"), ""]
    recipe = engine_recipe(report)
    if recipe is not None:
        lines += [md_line(recipe.sentence), ""]
        if recipe.code:
            fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", recipe.code)), default=0))
            lines += [f"{fence}{recipe.language}", recipe.code, fence, ""]
    return lines


def _clip(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
