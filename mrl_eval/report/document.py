"""The report of a run (a `Report`, `mrl_eval.report.model`, built by `pipeline/to_report.py`): written with the
other reports (JSON through `Report.to_dict()`, CSV, Markdown, HTML, charts) as one all-or-nothing set, read back
(`load_report`) through the schema (`mrl_eval.report.schema`), and restated under new bootstrap settings.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path

from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.results import dim_results
from mrl_eval.evaluate.stats import MIN_QUERIES_FOR_INTERVALS, StatsSettings, interval_warning, summarize
from mrl_eval.files import json_text, read_limited
from mrl_eval.limits import MAX_REPORT_BYTES
from mrl_eval.methods.grid import cell_label
from mrl_eval.report.growth_plot import plot_growth
from mrl_eval.report.html import to_html
from mrl_eval.report.markdown import to_markdown
from mrl_eval.report.model import PAIRED_TEST, Report, Statistics
from mrl_eval.report.models_report import KIND as MODELS_KIND
from mrl_eval.report.models_report import ModelsReport
from mrl_eval.report.models_schema import parse_models_document
from mrl_eval.report.ownership import CHART_SUFFIXES, check_name, claim, default_stem, run_identity
from mrl_eval.report.plots import plot_deltas, plot_pareto, plot_tradeoff
from mrl_eval.report.render import csv_text
from mrl_eval.report.report_set import REPORT_SUFFIXES, ReportSet, members
from mrl_eval.report.schema import parse_document
from mrl_eval.report.tables import losses_csv_table, results_csv_table


def statistics_section(settings: StatsSettings | None, queries_evaluated: int) -> Statistics | None:
    """How the statistics were computed (None without statistics)."""
    if settings is None:
        return None
    warning = interval_warning(queries_evaluated)
    interval = f"bootstrap over queries ({settings.method})"
    return Statistics(settings, interval, PAIRED_TEST, MIN_QUERIES_FOR_INTERVALS, warning is None, warning)


def load_report(path: Path) -> Report:
    """A saved report of one model (`--from`, `compare`, `--baseline`), checked against its schema, as a typed
    object. Reading never changes the folder: a swap a kill interrupted is finished by the next write of that set
    (`report_set`)."""
    doc = load_document(path)
    if isinstance(doc, dict) and doc.get("kind") == MODELS_KIND:
        models = doc.get("models") if isinstance(doc.get("models"), list) else []
        names = ", ".join(str(m.get("name"))[:80] for m in models if isinstance(m, dict))
        raise MrlEvalError(
            f"{path}: a report of several models ({names}); this command reads one model's report: use "
            "recommend --from for the comparison across models, or sweep one model (--model X)"
        )
    return parse_document(doc, path)


def load_any(path: Path) -> Report | ModelsReport:
    """A saved report of one model or of several (its `kind`), checked against its schema."""
    doc = load_document(path)
    if isinstance(doc, dict) and doc.get("kind") == MODELS_KIND:
        return parse_models_document(doc, path)
    return parse_document(doc, path)


def load_document(path: Path) -> object:
    """A saved report's JSON, read with a size bound."""
    try:
        data = read_limited(path, MAX_REPORT_BYTES, what="a saved report", fix="pass a JSON report written by mrl-eval")
        doc = json.loads(data.decode("utf-8"))
    except FileNotFoundError as err:
        raise MrlEvalError(f"{path}: file not found; pass a JSON report written by mrl-eval sweep") from err
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise MrlEvalError(f"{path}: not a readable JSON report ({err}); rerun mrl-eval sweep to make one") from err
    return doc


def restated(report: Report, settings: StatsSettings) -> Report:
    """The report with statistics recomputed from its per-query values under `settings` (a new object; none if it
    has no per-query values: point estimates only). The saved run's decisions (recommendation, held-out check,
    baseline comparison, the two-stage and engine choices) are dropped: they were made under other settings."""
    undecided = {"recommendation": None, "holdout": None, "baseline": None}
    if report.two_stage is not None:
        undecided["two_stage"] = replace(report.two_stage, recommendation=None)
    if report.engine is not None:
        undecided["engine"] = replace(report.engine, recommendation=None)
    if report.per_query is None:
        grid = report.grid
        if grid is not None:
            grid = replace(grid, cells=tuple(replace(c, stats={}) for c in grid.cells))
        results = tuple(replace(r, stats={}) for r in report.results)
        return replace(report, **undecided, results=results, statistics=None, grid=grid)
    query_ids = list(report.query_ids)
    results = dim_results(report.per_query, report.full_dim, query_ids, settings)
    out = replace(
        report,
        **undecided,
        results=tuple(results),
        statistics=statistics_section(settings, report.queries_evaluated),
    )
    if report.grid is not None:
        values = {cell_label("prefix", d, "float32"): v for d, v in report.per_query.items()}
        values.update(report.grid.per_query)
        stats = summarize(values, report.grid.reference, query_ids, settings)
        cells = tuple(replace(c, stats=stats.get(c.label, {})) for c in report.grid.cells)
        out = replace(out, grid=replace(report.grid, cells=cells))
        if out.two_stage is not None:
            rows = tuple(replace(t, stats=stats.get(t.label, {})) for t in out.two_stage.rows)
            out = replace(out, two_stage=replace(out.two_stage, rows=rows))
    return out


def report_stem(report: Report) -> str:
    """The default name of a run's files: `<data>__<model>` from the base names (`ownership.default_stem`)."""
    return default_stem(report.data.name, report.model.name)


def reports_stem(stem: str, out_dir: Path, name: str | None, plots: bool, source: Path | None) -> str:
    """`name` (--name), else the default `stem`; but a report read from `source` (`recommend --from X`) never lands
    on X's own set by default, nor on a set whose charts it would delete by drawing none: it is `<stem>.recommend`."""
    if name is not None:
        return check_name(name)
    if source is None:
        return stem
    own = source.name == f"{stem}.json" and out_dir.resolve() == source.parent.resolve()
    existing = members(out_dir, stem, REPORT_SUFFIXES) if out_dir.is_dir() else []
    loses_charts = not plots and any(p.name.endswith(CHART_SUFFIXES) for p in existing)
    return f"{stem}.recommend" if own or loses_charts else stem


def write_reports(
    report: Report,
    out_dir: Path,
    plot_metric: str | None = None,
    plots: bool = True,
    *,
    name: str | None = None,
    overwrite: bool = False,
    source: Path | None = None,
) -> list[Path]:
    """JSON, CSV, Markdown, HTML, and unless `plots` is False the PNG/SVG charts, into `out_dir` as `<name>.*`
    (default: `<data>__<model>`): the set of this run's files is replaced whole or not at all (`report_set`), and
    only when it is this run's own (`ownership.claim`; `overwrite` replaces another run's). `source`: the saved
    report this one was read from (`recommend --from`), whose own set and charts are left alone."""
    stem = reports_stem(report_stem(report), out_dir, name, plots, source)
    check = functools.partial(
        claim,
        record=out_dir / f"{stem}.json",
        mine=run_identity(report.data.files, report.model.about),
        overwrite=overwrite,
        charts_drawn=plots or source is None,
    )
    try:
        with ReportSet(out_dir, stem, REPORT_SUFFIXES, claim=check) as files:
            _fill_reports(files, report, plot_metric, plots)
    except OSError as err:
        raise MrlEvalError(f"cannot write reports to {out_dir} ({err}); pass --out DIR") from err
    return files.written


def _fill_reports(files: ReportSet, report: Report, plot_metric: str | None, plots: bool) -> None:

    stem = files.stem
    files.write_text(f"{stem}.json", json_text(report.to_dict(), what=f"{files.folder / stem}.json"))
    files.write_text(f"{stem}.csv", csv_text(results_csv_table(report)))
    files.write_text(f"{stem}.md", to_markdown(report, stem, plots))
    has_losses = report.losses is not None and bool(report.losses.by_dim)
    if has_losses:
        files.write_text(f"{stem}.losses.csv", csv_text(losses_csv_table(report)))
    svg, pareto = None, None
    if plots:  # matplotlib is imported only here: most of a `recommend --from`'s time when it draws
        svg_path = files.path(f"{stem}.svg")
        plot_tradeoff(report, [files.path(f"{stem}.png"), svg_path], plot_metric)
        svg = svg_path.read_text(encoding="utf-8")  # the HTML report shows the same chart, inline
        if has_losses:
            plot_deltas(report, [files.path(f"{stem}.deltas.png"), files.path(f"{stem}.deltas.svg")])
        if report.growth is not None:
            plot_growth(report, [files.path(f"{stem}.growth.png"), files.path(f"{stem}.growth.svg")])
        if report.grid is not None:
            pareto_path = files.path(f"{stem}.pareto.svg")
            plot_pareto(report, [files.path(f"{stem}.pareto.png"), pareto_path], plot_metric)
            pareto = pareto_path.read_text(encoding="utf-8")
    files.write_text(f"{stem}.html", to_html(report, stem, svg, plot_metric, pareto))
