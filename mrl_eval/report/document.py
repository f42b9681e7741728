"""Results to JSON / CSV / Markdown (plus the plot), TREC run files, and back from a saved JSON."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from mrl_eval import __version__
from mrl_eval.decide.recommend import Recommendation
from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.stats import MIN_QUERIES_FOR_INTERVALS, StatsSettings, interval_warning, summarize
from mrl_eval.evaluate.sweep import DimResult, SweepRun, dim_results
from mrl_eval.methods.grid import Cell, GridResult, TwoStageRow, cell_label
from mrl_eval.methods.precision import PRECISIONS

PAIRED_TEST = "two-sided paired sign-flip randomization test of mean delta = 0"

SCHEMA = 1
_UMASK = os.umask(0)
os.umask(_UMASK)


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
    set_results(doc, sweep.results, run.config.stats)
    if sweep.grid is not None:
        add_grid(doc, sweep.grid, len(sweep.doc_ids))
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


def read_document(path: Path) -> dict:
    """A saved run (`--from`), checked enough that recommend can trust it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise MrlEvalError(f"{path}: file not found; pass a JSON report written by mrl-eval sweep") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MrlEvalError(f"{path}: not a readable JSON report ({err}); rerun mrl-eval sweep to make one") from err
    missing = (
        [key for key in ("results", "full_dim", "n_docs", "data", "model", "queries_evaluated") if key not in doc]
        if isinstance(doc, dict)
        else ["results"]
    )
    if missing or not isinstance(doc["results"], list) or not doc["results"]:
        what = f"missing {', '.join(missing)}" if missing else "no results"
        raise MrlEvalError(f"{path}: not an mrl-eval report ({what}); rerun mrl-eval sweep to make one")
    return doc


def results_from_document(doc: dict, path: Path) -> list[DimResult]:
    try:
        results = [
            DimResult(int(r["dim"]), float(r["fraction"]), int(r["bytes_per_vector"]), dict(r["metrics"]))
            for r in doc["results"]
        ]
        full_dim = int(doc["full_dim"])
    except (KeyError, TypeError, ValueError) as err:
        raise MrlEvalError(f"{path}: a results entry is incomplete ({err}); rerun mrl-eval sweep") from err
    if full_dim not in {r.dim for r in results}:
        raise MrlEvalError(f"{path}: no result at the full dim {full_dim}; rerun mrl-eval sweep")
    return results


def restat_document(doc: dict, path: Path, settings: StatsSettings) -> list[DimResult]:
    """Results of a saved run, with statistics recomputed from its per-query values (none if it has none)."""
    results = results_from_document(doc, path)
    full_dim = int(doc["full_dim"])
    try:
        per_query = {int(d): values for d, values in (doc.get("per_query") or {}).items()}
        query_ids = list(next(iter(per_query[full_dim].values())))
        per_query = {d: {m: {q: float(v[q]) for q in query_ids} for m, v in per_query[d].items()} for d in per_query}
        if sorted(per_query) != sorted(r.dim for r in results):
            raise KeyError("dims")
    except (KeyError, TypeError, ValueError, StopIteration, AttributeError):
        doc.pop("statistics", None)
        return results  # no usable per-query values: point estimates only
    results = dim_results(per_query, full_dim, query_ids, settings)
    set_results(doc, results, settings)
    return results


def per_query_of(doc: dict) -> tuple[dict[int, dict[str, dict[str, float]]], list[str]]:
    per_query = {int(d): values for d, values in doc["per_query"].items()}
    return per_query, list(next(iter(per_query[int(doc["full_dim"])].values())))


def report_stem(doc: dict) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{doc['data']['name']}__{Path(doc['model']['name']).name}")
    return slug.strip("-").lower()


class _AtomicFiles:
    """Write several files to temporary names, then rename them all into place; on error remove them all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pending: list[tuple[str, Path]] = []

    def path_for(self, name: str) -> Path:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=Path(name).suffix)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; reports should read like any other file
        self.pending.append((tmp, self.folder / name))
        return Path(tmp)

    def write_text(self, name: str, text: str) -> None:
        self.path_for(name).write_text(text, encoding="utf-8")

    def commit(self) -> list[Path]:
        for tmp, final in self.pending:
            os.replace(tmp, final)
        return [final for _, final in self.pending]

    def discard(self) -> None:
        for tmp, _ in self.pending:
            Path(tmp).unlink(missing_ok=True)


def write_reports(doc: dict, out_dir: Path, plot_metric: str | None = None, plots: bool = True) -> list[Path]:
    """JSON, CSV, Markdown, HTML, and unless `plots` is False the PNG/SVG charts, into `out_dir`, all or nothing."""
    from mrl_eval.report.html import to_html
    from mrl_eval.report.tables import losses_csv, to_csv, to_markdown

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MrlEvalError(f"cannot create the report folder {out_dir} ({err}); pass --out DIR") from err
    stem = report_stem(doc)
    files = _AtomicFiles(out_dir)
    try:
        files.write_text(f"{stem}.json", json.dumps(doc, indent=1) + "\n")
        files.write_text(f"{stem}.csv", to_csv(doc))
        files.write_text(f"{stem}.md", to_markdown(doc, stem, plots))
        has_losses = bool(doc.get("losses", {}).get("by_dim"))
        if has_losses:
            files.write_text(f"{stem}.losses.csv", losses_csv(doc))
        svg = None
        extra_svgs: dict[str, str] = {}
        if plots:  # matplotlib is imported only here: most of a `recommend --from`'s time when it draws
            from mrl_eval.report.plots import plot_deltas, plot_pareto, plot_tradeoff

            svg_path = files.path_for(f"{stem}.svg")
            plot_tradeoff(doc, [files.path_for(f"{stem}.png"), svg_path], plot_metric)
            svg = svg_path.read_text(encoding="utf-8")  # the HTML report shows the same chart, inline
            if has_losses:
                plot_deltas(doc, [files.path_for(f"{stem}.deltas.png"), files.path_for(f"{stem}.deltas.svg")])
            if doc.get("grid"):
                pareto_svg = files.path_for(f"{stem}.pareto.svg")
                plot_pareto(doc, [files.path_for(f"{stem}.pareto.png"), pareto_svg], plot_metric)
                extra_svgs["pareto"] = pareto_svg.read_text(encoding="utf-8")
        files.write_text(f"{stem}.html", to_html(doc, stem, svg, plot_metric, extra_svgs.get("pareto")))
        return files.commit()
    except OSError as err:
        files.discard()
        raise MrlEvalError(f"cannot write reports to {out_dir} ({err}); pass --out DIR") from err
    except BaseException:
        files.discard()
        raise


def write_trec_runs(run: SweepRun, folder: Path) -> list[Path]:
    """One TREC run file per dim (`qid Q0 docid rank score tag`), for trec_eval, ranx or ir_measures."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MrlEvalError(f"cannot create {folder} ({err}); pass another --save-runs DIR") from err
    sweep = run.sweep
    files = _AtomicFiles(folder)
    try:
        for dim, ranking in sweep.rankings.items():
            tag = f"mrl-eval-d{dim}"
            with files.path_for(f"run.d{dim}.trec").open("w", encoding="utf-8") as fh:
                for row, qid in enumerate(sweep.query_ids):
                    rank = 0
                    for doc_index, score in zip(ranking.doc_index[row], ranking.score[row]):
                        if doc_index < 0:
                            continue
                        rank += 1
                        fh.write(f"{qid} Q0 {sweep.doc_ids[doc_index]} {rank} {float(score)!r} {tag}\n")
        return files.commit()
    except BaseException:
        files.discard()
        raise


def grid_of(doc: dict, path: Path, settings: StatsSettings | None) -> tuple[list[Cell], list[TwoStageRow]]:
    """The cells and two-stage rows of a saved run, with statistics recomputed from its per-query values."""
    grid = doc.get("grid")
    if not grid:
        return [], []
    try:
        query_ids = list(next(iter(doc["per_query"][str(doc["full_dim"])].values())))
        values = {cell_label("prefix", int(d), "float32"): v for d, v in doc["per_query"].items()}
        values.update(grid["per_query"])
        stats = summarize(values, grid["reference"], query_ids, settings) if settings else {}
        cells = [
            Cell(
                c["method"],
                int(c["dim"]),
                c["precision"],
                int(c["bytes_per_vector"]),
                dict(c["metrics"]),
                stats.get(c["label"], {}),
                c.get("latency_ms"),
            )
            for c in grid["cells"]
        ]
        rows = [
            TwoStageRow(
                r["first_stage"],
                int(r["dim"]),
                r["precision"],
                int(r["shortlist"]),
                dict(r["metrics"]),
                float(r["shortlist_recall"]),
                dict(r["cost"]),
                stats.get(r["label"], {}),
            )
            for r in (doc.get("two_stage") or {}).get("rows", [])
        ]
    except (KeyError, TypeError, ValueError, StopIteration) as err:
        raise MrlEvalError(f"{path}: the grid section is incomplete ({err}); rerun mrl-eval sweep") from err
    if isinstance(next(iter(stats.values()), None), dict):
        for cell in grid["cells"]:
            cell["stats"] = {m: asdict(s) for m, s in stats.get(cell["label"], {}).items()}
    return cells, rows
