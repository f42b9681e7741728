"""The Markdown report (`<stem>.md`): the run's tables and sentences, every field from the data escaped (`md`)."""

from __future__ import annotations

from dataclasses import replace

from mrl_eval.report.label_free import markdown as label_free_markdown
from mrl_eval.report.label_free import queries_label
from mrl_eval.report.render import markdown_table, md, md_line
from mrl_eval.report.sentences import explain, explain_grid, explain_holdout
from mrl_eval.report.tables import grid_tables, loss_tables, paired_table, results_table


def title(doc: dict) -> str:
    """The run in one line, shared by the Markdown report, the step summary and the HTML page (which escape it)."""
    return f"mrl-eval {doc['command']}: {doc['data']['name']} with {doc['model']['name']}"


def to_markdown(doc: dict, stem: str, plots: bool = True) -> str:
    stats = doc.get("statistics")
    model = doc["model"]
    metric_names = list(doc["results"][0]["metrics"])
    primary = (doc.get("recommendation") or {}).get("metric") or metric_names[0]
    lines = [
        f"# {md(title(doc))}",
        "",
        f"- full dim: {doc['full_dim']}; documents: {doc['n_docs']:,}; {queries_label(doc)} evaluated: "
        f"{doc['queries_evaluated']} "
        f"(skipped, no judgments: {doc.get('queries_skipped', 0)})",
        f"- model: {md(model.get('provider', ''))} {md(model['name'])} ({md(str(model.get('fingerprint', ''))[:23])})",
    ]
    if stats:
        lines.append(
            f"- intervals: {stats['confidence']:.0%} {md(stats['interval'])}, {stats['resamples']:,} resamples, "
            f"seed {stats['seed']}; p-values: {md(stats['test'])}"
        )
    lines += [f"- mrl-eval {md(doc.get('mrl_eval_version', ''))}, {md(doc.get('created', ''))}", ""]
    lines += markdown_table(results_table(doc, primary))
    paired = paired_table(doc, primary)
    if paired is not None:
        lines += ["", *markdown_table(paired, heading="##")]
    if "recommendation" in doc:
        sentences = explain(doc["recommendation"], stats and stats["confidence"])
        lines += ["", "## Recommendation", "", *(md_line(s) for s in sentences)]
        if "holdout" in doc:
            lines += ["", md_line(explain_holdout(doc["holdout"]))]
    lines += ["", f"![trade-off]({stem}.png)" if plots else "", ""]
    for table in grid_tables(doc, primary):
        lines += [*markdown_table(table, heading="##"), ""]
    if doc.get("grid"):
        lines += [*(md_line(s) for s in explain_grid(doc)), ""]
        lines += [f"![quality against bytes per vector]({stem}.pareto.png)" if plots else "", ""]
    lines += label_free_markdown(doc, stem, plots)
    losses = doc.get("losses") or {}
    if losses.get("by_dim"):
        lines += [
            f"## Queries that lose the most ({md(losses['metric'])}; all of them in {stem}.losses.csv)",
            "",
            f"![per-query deltas]({stem}.deltas.png)" if plots else "",
            "",
        ]
        for table in loss_tables(doc):
            short = [(*row[:1], _clip(row[1]), *row[2:]) for row in table.rows]
            lines += [*markdown_table(replace(table, rows=tuple(short)), heading="###"), ""]
    return "\n".join(lines)


def _clip(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
