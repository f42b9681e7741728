"""The HTML report: one self-contained page per run (inline CSS and SVG, no script, nothing fetched from anywhere).

Everything taken from the run (names, paths, query texts, ids) goes through `html.escape`; the only markup not built
here is the trade-off chart, matplotlib's own SVG, with its XML prologue and metadata removed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from mrl_eval.decide.compare import RunComparison, missing_dims, verdict
from mrl_eval.decide.recommend import Choice
from mrl_eval.report.engine_view import engine_recipe, engine_table
from mrl_eval.report.label_free import growth_note, growth_table
from mrl_eval.report.label_free import notes as label_free_notes
from mrl_eval.report.markdown import primary_metric
from mrl_eval.report.markdown import title as run_title
from mrl_eval.report.model import Report
from mrl_eval.report.sentences import explain, explain_grid, explain_holdout, gate_verdict
from mrl_eval.report.tables import (
    Table,
    comparison_table,
    grid_tables,
    human_bytes,
    loss_tables,
    results_table,
)

_CSS = """
:root { --ink: #1d2330; --muted: #5b6474; --line: #d9dee7; --accent: #1f5fbf; --good: #1e7b34; --bad: #b42318;
  --pick: #fff6d6; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem 1.25rem 3rem; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; padding-bottom: .25rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 1.25rem 0 .4rem; }
p, li { max-width: 60rem; }
.sub { color: var(--muted); margin: 0 0 1rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .9rem; margin: .25rem 0 .75rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid var(--line); text-align: right; vertical-align: top;
  white-space: nowrap; }
th { background: #f4f6fa; font-weight: 600; white-space: normal; vertical-align: bottom; }
.ci { color: var(--muted); font-size: .8em; font-weight: normal; }
td.text, th.text { text-align: left; white-space: normal; min-width: 16rem; }
tr.pick td { background: var(--pick); font-weight: 600; }
tr.failed td { color: var(--bad); font-weight: 600; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .25rem 0; font-size: .9rem; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85em; }
.verdict { display: inline-block; padding: .35rem .75rem; border-radius: .35rem; font-weight: 600; }
.pass { color: var(--good); background: #e7f5ea; }
.fail { color: var(--bad); background: #fdecea; }
figure { margin: .5rem 0; }
figure svg { width: 100%; height: auto; max-width: 64rem; display: block; }
figcaption, .note { color: var(--muted); font-size: .85rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .8rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; }
  table, figure, tr { break-inside: avoid; }
  .scroll { overflow: visible; }
  th { background: none; }
  tr.pick td, .pass, .fail { background: none; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def html_table(table: Table) -> str:
    """A `Table` as HTML: every cell escaped here; the highlighted row has class "pick", text columns "text". An
    interval is shown under its value, in the same cell (and its header under the value's header), so that a table
    of many metrics fits the page without hiding a number."""
    under = {value: ci for ci, value in table.intervals}
    shown = [i for i in range(len(table.header)) if i not in {ci for ci, _ in table.intervals}]

    def cell(tag: str, i: int, values: tuple[str, ...]) -> str:
        cls = ' class="text"' if i in table.text_columns else ""
        ci = values[under[i]] if i in under else ""
        below = f'<br><span class="ci">{_e(ci)}</span>' if ci else ""
        return f"<{tag}{cls}>{_e(values[i])}{below}</{tag}>"

    def tr(n: int) -> str:
        cls = ' class="pick"' if n == table.highlighted else ' class="failed"' if n in table.failed else ""
        return f"<tr{cls}>" + "".join(cell("td", i, table.rows[n]) for i in shown) + "</tr>"

    head = "".join(cell("th", i, table.header) for i in shown)
    body = "\n".join(tr(n) for n in range(len(table.rows)))
    return f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>'


def _kv(pairs: list[tuple[str, object]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs) + "</dl>"


def inline_svg(svg: str, label: str) -> str:
    """matplotlib's SVG file as an element of the page: no XML prologue, DOCTYPE (which names a remote DTD) or
    metadata, no fixed size (CSS scales it), and a label for screen readers."""
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg, flags=re.S)
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    start = svg.find("<svg")
    if start < 0:
        return ""
    end = svg.index(">", start)
    tag = re.sub(r'\s(width|height)="[^"]*"', "", svg[start:end])
    return f'{tag} role="img" aria-label="{_e(label)}">{svg[end + 1 :].strip()}'


def _settings(report: Report) -> str:
    model = report.model
    pairs: list[tuple[str, object]] = [
        ("command", f"mrl-eval {report.command}"),
        ("data", report.data.name),
        ("model", model.label),
        ("full dim", report.full_dim),
        ("documents", f"{report.n_docs:,}"),
        ("queries", f"{report.queries_evaluated} evaluated, {report.queries_skipped} skipped (no judgments)"),
    ]
    settings = report.settings or {}
    for key in ("dims", "metrics", "split", "ignore_identical_ids", "cache_dtype"):
        if settings.get(key) not in (None, "", []):
            value = settings[key]
            pairs.append((key.replace("_", " "), ", ".join(value) if isinstance(value, list) else value))
    for role, prompt in model.prompts.items():
        if prompt:
            pairs.append((f"{role} prompt", prompt))
    stats = report.statistics
    if stats:
        pairs.append(
            (
                "statistics",
                f"{stats.confidence:.0%} {stats.interval}, {stats.settings.resamples:,} resamples, "
                f"seed {stats.settings.seed}; p-values: {stats.test}",
            )
        )
    pairs.append(("created", f"{report.created or ''} by mrl-eval {report.mrl_eval_version or ''}"))
    return _kv(pairs)


def _recommendation(report: Report, rec: Choice) -> str:
    lines = explain(rec, report.confidence)
    passed = rec.dim is not None
    parts = [
        f'<p><span class="verdict {"pass" if passed else "fail"}">{_e(gate_verdict(rec))}</span></p>',
        f"<p><strong>{_e(lines[0])}</strong></p>",
    ]
    if len(lines) > 1:
        parts.append("<ul>" + "".join(f"<li>{_e(line.strip())}</li>" for line in lines[1:]) + "</ul>")
    if report.holdout is not None:
        parts.append(f"<p>{_e(explain_holdout(report.holdout))}</p>")
    return "\n".join(parts)


def _comparison(comparison: RunComparison) -> str:
    g = comparison.gate
    base, cur = comparison.baseline, comparison.current
    notes = [n for n in (missing_dims(comparison), *comparison.notes) if n]
    return "\n".join(
        [
            _kv(
                [
                    ("baseline", f"{base.path} ({base.model}, {base.created})"),
                    ("current", f"{cur.path} ({cur.model})"),
                    ("gate", f"{g.metric} drop at most {g.max_drop}, rule {g.rule}"),
                ]
            ),
            html_table(comparison_table(comparison)),
            "".join(f'<p class="note">{_e(n)}</p>' for n in notes),
            f'<p><span class="verdict {"pass" if comparison.passed else "fail"}">{_e(verdict(comparison))}</span></p>',
        ]
    )


def _losses(report: Report, metric: str) -> str:
    parts = [f'<p class="note">Per dim, the 10 queries whose {_e(metric)} falls most from the full dim.</p>']
    for table in loss_tables(report):
        parts.append(f"<h3>{_e(table.title)}</h3>")
        if table.rows:
            parts.append(html_table(table))
    return "\n".join(parts)


def _fingerprints(report: Report) -> str:
    model = report.model
    pairs: list[tuple[str, object]] = [("model", model.name), ("model fingerprint", model.fingerprint or "")]
    if model.path:
        pairs.append(("vectors", model.path))
    for role, info in report.data.files.items():
        if isinstance(info, Mapping):
            pairs.append((f"{role}", f"{info.get('path', '')} · {info.get('count', '')} · {info.get('sha256', '')}"))
    return _kv(pairs)


def _grid(report: Report, primary: str, pareto_svg: str | None) -> list[str]:
    """The grid, cost, two-stage tables, the PCA and two-stage findings, and the Pareto chart."""
    parts = []
    for table in grid_tables(report, primary):
        parts += [f"<h3>{_e(table.title)}</h3>", html_table(table)]
    parts += [f"<p>{_e(line)}</p>" for line in explain_grid(report)]
    if pareto_svg:
        parts.append(
            f"<figure>{inline_svg(pareto_svg, f'{primary} against bytes per vector')}"
            f"<figcaption>Every cell's {_e(primary)} against its bytes per vector, with the Pareto frontier; the same "
            "chart as the .pareto.svg file.</figcaption></figure>"
        )
    return parts


def to_html(
    report: Report, stem: str, svg: str | None = None, primary: str | None = None, pareto_svg: str | None = None
) -> str:
    """The whole page. `svg` is the trade-off chart's SVG text, or None when charts were not drawn; `pareto_svg`
    the grid's quality-against-bytes chart."""
    primary = primary or primary_metric(report)
    title = run_title(report)
    sections = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{report.queries_evaluated} {report.queries_label} · {report.n_docs:,} documents · full dim '
        f"{report.full_dim} ({_e(human_bytes(report.full_dim * 4))}/vector at float32)</p>",
        *(f'<p class="note">{_e(note)}</p>' for note in label_free_notes(report)),
    ]
    if report.recommendation is not None:
        sections += ["<h2>Recommendation</h2>", _recommendation(report, report.recommendation)]
    if report.baseline is not None:
        sections += ["<h2>Compared with the baseline</h2>", _comparison(report.baseline)]
    sections += ["<h2>Results</h2>", html_table(results_table(report, primary))]
    if svg:
        sections += [
            "<h2>Trade-off</h2>",
            f"<figure>{inline_svg(svg, f'{primary} against dims kept')}"
            f"<figcaption>{_e(primary)} (line and band: mean and confidence interval) and the other metrics against "
            f"the dims kept; the same chart as {_e(stem)}.svg.</figcaption></figure>",
        ]
    else:
        sections.append('<p class="note">Charts were not drawn for this run (pass --plot to draw them).</p>')
    if report.grid is not None:
        sections += ["<h2>Precision, PCA and two-stage</h2>", *_grid(report, primary, pareto_svg)]
    engine = engine_table(report)
    if engine is not None and report.engine is not None:
        sections += [f"<h2>Inside {_e(report.engine.engine)}</h2>", html_table(engine)]
        recipe = engine_recipe(report)
        if recipe is not None:
            sections.append(f"<p>{_e(recipe.sentence)}</p>")
            if recipe.code:
                sections.append(f'<pre><code class="language-{_e(recipe.language)}">{_e(recipe.code)}</code></pre>')
    table = growth_table(report)
    if table is not None:
        sections += [
            "<h2>As the corpus grows</h2>",
            html_table(table),
            f'<p class="note"><strong>{_e(growth_note(report))}</strong></p>',
            f'<figure><img src="{_e(stem)}.growth.png" alt="drop against corpus size, per dim" style="max-width:100%">'
            f"<figcaption>Measured drops, the fit in log(size) and its extrapolation ({_e(stem)}.growth.svg)."
            "</figcaption></figure>",
        ]
    if report.losses is not None and report.losses.by_dim:
        sections += ["<h2>Queries that lose the most</h2>", _losses(report, report.losses.metric or "")]
    sections += ["<h2>Run settings</h2>", _settings(report), "<h2>Fingerprints</h2>", _fingerprints(report)]
    version = report.mrl_eval_version or ""
    return page(title, sections, f"Written by mrl-eval {_e(version)}; the same run as {_e(stem)}.json.")


def page(title: str, sections: list[str], footer: str) -> str:
    """A whole self-contained page: the title (escaped here), the sections and the footer (HTML, escaped by the
    caller)."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # an empty icon: without it a browser asks the server for /favicon.ico
            '<link rel="icon" href="data:,">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            *sections,
            "</main>",
            f"<footer>{footer}</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )
