"""The report document: the one dict of a run, built here from typed results and written with the other reports
(CSV, Markdown, HTML, charts) as one all-or-nothing set; read back (`load_report`) as a typed, checked
`SavedReport` (`mrl_eval.report.schema`). TREC run files too.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

from mrl_eval import __version__
from mrl_eval.data.collections import check_trec_ids
from mrl_eval.decide.recommend import Recommendation
from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.stats import MIN_QUERIES_FOR_INTERVALS, StatsSettings, interval_warning, summarize
from mrl_eval.evaluate.sweep import DimResult, SweepRun, dim_results
from mrl_eval.methods.grid import GridResult, cell_label
from mrl_eval.methods.precision import PRECISIONS
from mrl_eval.report.label_free import add_label_free
from mrl_eval.report.report_set import REPORT_SUFFIXES, ReportSet, recover
from mrl_eval.report.schema import SCHEMA, SavedReport, parse_document

PAIRED_TEST = "two-sided paired sign-flip randomization test of mean delta = 0"
TREC_SUFFIXES = re.compile(r"\.d[0-9]+\.trec")


def build_document(run: SweepRun, command: str, recommendation: Recommendation | None = None) -> dict:
    """The full machine-readable result: settings, model, data hashes, per-dim and per-query metrics."""
    sweep = run.sweep
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(run.config).items()}
    settings["metrics"] = list(run.config.metrics)
    doc = {
        "schema": SCHEMA,
        "mrl_eval_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "settings": settings,
        "data": {"name": run.data_name, **run.data},
        "model": run.model,
        "full_dim": sweep.full_dim,
        "n_docs": len(sweep.doc_ids),
        "queries_evaluated": sweep.queries_evaluated,
        "queries_skipped": sweep.queries_skipped,
        "embedded_now": run.embedded_now,
        "per_query": {str(d): sweep.per_query[d] for d in sorted(sweep.per_query)},
        "losses": {"metric": run.config.loss_metric, "k": 10, "by_dim": {str(d): v for d, v in run.losses.items()}},
    }
    add_label_free(doc, run)
    set_results(doc, sweep.results, run.config.stats)
    if sweep.grid is not None:
        add_grid(doc, sweep.grid, len(sweep.doc_ids))
    if sweep.engine is not None or run.config.engine.pg_dsn:
        from mrl_eval.engines.document import engine_section, redact_dsn

        settings["engine"]["pg_dsn"] = redact_dsn(settings["engine"]["pg_dsn"])
        if sweep.engine is not None:
            doc["engine"] = engine_section(sweep.engine, len(sweep.doc_ids))
    if recommendation is not None:
        doc["recommendation"] = recommendation.to_dict()
    return doc


LATENCY_NOTE = (
    "median time to score one query against the whole evaluated corpus by exact scan (plain numpy, one thread "
    "of work per query) plus top-k selection, measured on this machine; compare cells with each other, not with a "
    "production index"
)


def add_grid(doc: dict, grid: GridResult, n_docs: int) -> None:
    """The grid (every method x dim x precision cell), the PCA finding, the two-stage table, the cost at scale."""
    scales = {"corpus": n_docs, **grid.scales}
    full_dim = int(doc["full_dim"])
    cells = []
    for cell in grid.cells:
        entry = asdict(cell)
        entry["label"] = cell.label
        entry["fraction"] = round(cell.dim / full_dim, 6)
        entry["storage_bytes"] = {name: n * cell.bytes_per_vector for name, n in scales.items()}
        cells.append(entry)
    doc["grid"] = {
        "precisions": sorted({c.precision for c in grid.cells}, key=lambda p: PRECISIONS.index(p)),
        "methods": sorted({c.method for c in grid.cells}, key=lambda m: ("prefix", "pca").index(m)),
        "reference": grid.reference,
        "cells": cells,
        # per-query values of every cell except the float32 prefixes, which are the top-level per_query
        "per_query": {
            label: values
            for label, values in grid.per_query.items()
            if not (label.startswith("prefix:") and label.endswith(":float32"))
        },
        "scales": scales,
        "latency": {"unit": "ms per query", "what": LATENCY_NOTE, "machine": grid.machine},
    }
    if grid.pca is not None:
        doc["pca"] = grid.pca
    if grid.two_stage:
        doc["two_stage"] = {
            "rows": [{**asdict(row), "label": row.label} for row in grid.two_stage],
            "shortlist_recall": "share of the full dim's top 10 that the first stage's shortlist kept (mean over "
            "queries)",
            "rerank": "exact float64 cosine of the full float32 vectors, ties by doc id descending",
        }


def set_results(doc: dict, results: list[DimResult], settings: StatsSettings | None) -> None:
    """The results section (and the statistics' settings) of a document being built."""
    doc["results"] = [asdict(r) for r in results]
    if settings is not None:
        warning = interval_warning(int(doc.get("queries_evaluated") or 0))
        doc["statistics"] = {
            **asdict(settings),
            "interval": f"bootstrap over queries ({settings.method})",
            "test": PAIRED_TEST,
            "min_queries": MIN_QUERIES_FOR_INTERVALS,
            "intervals_reliable": warning is None,
            **({"warning": warning} if warning else {}),
        }
    else:
        doc.pop("statistics", None)


def load_report(path: Path) -> SavedReport:
    """A saved report (`--from`, `compare`, `--baseline`), checked against its schema, as a typed object."""
    if path.parent.is_dir():
        with contextlib.suppress(OSError):  # a read-only folder: read what is there
            recover(path.parent, path.name.removesuffix(".json"))  # finish a report swap a kill interrupted
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise MrlEvalError(f"{path}: file not found; pass a JSON report written by mrl-eval sweep") from err
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise MrlEvalError(f"{path}: not a readable JSON report ({err}); rerun mrl-eval sweep to make one") from err
    return parse_document(doc, path)


def read_document(path: Path) -> dict:
    """A saved report's JSON, checked against its schema (for readers of the dict: compare)."""
    return load_report(path).document


def restated(report: SavedReport, settings: StatsSettings) -> SavedReport:
    """The report with statistics recomputed from its per-query values under `settings` (a new object and a new
    document; none if it has no per-query values: point estimates only). The saved run's decisions (recommendation,
    held-out check, baseline comparison) are dropped: they were made under other settings."""
    doc = copy.deepcopy(report.document)
    for key in ("recommendation", "holdout", "baseline"):
        doc.pop(key, None)
    if isinstance(doc.get("two_stage"), dict):
        doc["two_stage"].pop("recommendation", None)
    if report.per_query is None:
        set_results(doc, [replace(r, stats={}) for r in report.results], None)
        for cell in (doc.get("grid") or {}).get("cells", []):
            cell.pop("stats", None)
        return replace(report, document=doc, results=tuple(replace(r, stats={}) for r in report.results))
    query_ids = list(report.query_ids)
    results = dim_results(report.per_query, report.full_dim, query_ids, settings)
    set_results(doc, results, settings)
    cells, rows = report.cells, report.two_stage
    if cells:
        values = {cell_label("prefix", d, "float32"): v for d, v in report.per_query.items()}
        values.update(doc["grid"].get("per_query") or {})
        stats = summarize(values, doc["grid"]["reference"], query_ids, settings)
        cells = tuple(replace(c, stats=stats.get(c.label, {})) for c in cells)
        rows = tuple(replace(t, stats=stats.get(t.label, {})) for t in rows)
        for entry in doc["grid"]["cells"]:
            entry["stats"] = {m: asdict(st) for m, st in stats.get(entry["label"], {}).items()}
    return replace(report, document=doc, results=tuple(results), cells=cells, two_stage=rows)


def report_stem(doc: dict) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{doc['data']['name']}__{Path(doc['model']['name']).name}")
    return slug.strip("-").lower()


def write_reports(doc: dict, out_dir: Path, plot_metric: str | None = None, plots: bool = True) -> list[Path]:
    """JSON, CSV, Markdown, HTML, and unless `plots` is False the PNG/SVG charts, into `out_dir`: the set of this
    run's files is replaced whole or not at all (`report_set`)."""
    try:
        with ReportSet(out_dir, report_stem(doc), REPORT_SUFFIXES) as files:
            _fill_reports(files, doc, plot_metric, plots)
    except OSError as err:
        raise MrlEvalError(f"cannot write reports to {out_dir} ({err}); pass --out DIR") from err
    return files.written


def _fill_reports(files: ReportSet, doc: dict, plot_metric: str | None, plots: bool) -> None:
    from mrl_eval.report.html import to_html
    from mrl_eval.report.markdown import to_markdown
    from mrl_eval.report.render import csv_text
    from mrl_eval.report.tables import losses_csv_table, results_csv_table

    stem = files.stem
    files.write_text(f"{stem}.json", json.dumps(doc, indent=1) + "\n")
    files.write_text(f"{stem}.csv", csv_text(results_csv_table(doc)))
    files.write_text(f"{stem}.md", to_markdown(doc, stem, plots))
    has_losses = bool((doc.get("losses") or {}).get("by_dim"))
    if has_losses:
        files.write_text(f"{stem}.losses.csv", csv_text(losses_csv_table(doc)))
    svg, pareto = None, None
    if plots:  # matplotlib is imported only here: most of a `recommend --from`'s time when it draws
        from mrl_eval.report.plots import plot_deltas, plot_pareto, plot_tradeoff

        svg_path = files.path(f"{stem}.svg")
        plot_tradeoff(doc, [files.path(f"{stem}.png"), svg_path], plot_metric)
        svg = svg_path.read_text(encoding="utf-8")  # the HTML report shows the same chart, inline
        if has_losses:
            plot_deltas(doc, [files.path(f"{stem}.deltas.png"), files.path(f"{stem}.deltas.svg")])
        if doc.get("growth"):
            from mrl_eval.report.growth_plot import plot_growth

            plot_growth(doc, [files.path(f"{stem}.growth.png"), files.path(f"{stem}.growth.svg")])
        if doc.get("grid"):
            pareto_path = files.path(f"{stem}.pareto.svg")
            plot_pareto(doc, [files.path(f"{stem}.pareto.png"), pareto_path], plot_metric)
            pareto = pareto_path.read_text(encoding="utf-8")
    files.write_text(f"{stem}.html", to_html(doc, stem, svg, plot_metric, pareto))


def write_trec_runs(run: SweepRun, folder: Path) -> list[Path]:
    """One TREC run file per dim (`qid Q0 docid rank score tag`), for trec_eval, ranx or ir_measures; the set of
    `run.d<dim>.trec` files is replaced whole or not at all."""
    sweep = run.sweep
    check_trec_ids(sweep.query_ids, sweep.doc_ids)  # checked before the sweep too; kept for API callers
    try:
        with ReportSet(folder, "run", TREC_SUFFIXES) as files:
            for dim, ranking in sweep.rankings.items():
                tag = f"mrl-eval-d{dim}"
                with files.path(f"run.d{dim}.trec").open("w", encoding="utf-8") as fh:
                    for row, qid in enumerate(sweep.query_ids):
                        rank = 0
                        for doc_index, score in zip(ranking.doc_index[row], ranking.score[row]):
                            if doc_index < 0:
                                continue
                            rank += 1
                            fh.write(f"{qid} Q0 {sweep.doc_ids[doc_index]} {rank} {float(score)!r} {tag}\n")
    except OSError as err:
        raise MrlEvalError(f"cannot write run files to {folder} ({err}); pass another --save-runs DIR") from err
    return files.written
