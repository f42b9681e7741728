"""mrl-eval command line: parse, call the core, render with rich, map errors to exit codes.

The only module that prints or exits. Heavy libraries (torch, sentence-transformers, pandas, matplotlib) are
imported by the core only when a command needs them, so `mrl-eval --help` starts fast.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from mrl_eval import __version__
from mrl_eval import cli_options as O
from mrl_eval.errors import MrlEvalError, UsageError

if TYPE_CHECKING:
    from mrl_eval.stats import StatsSettings
    from mrl_eval.sweep import SweepRun

EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE, EXIT_GATE_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    name="mrl-eval",
    help="Embed once at full size, sweep Matryoshka prefix dims, and find the smallest dim that keeps your "
    "retrieval quality. Exit codes: 0 ok, 1 input error, 2 usage error, 3 no dim meets the bar, 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Messages are never wrapped (paths stay whole in CI logs); tables get room when stdout is not a terminal.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"mrl-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    pass


@contextlib.contextmanager
def _exit_codes() -> Iterator[None]:
    """The one place errors become exit codes; anything else is a bug and keeps its traceback."""
    try:
        yield
    except UsageError as e:
        err.print("[red]Usage error:[/red] ", end="", markup=True)
        err.print(str(e), markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    except MrlEvalError as e:
        err.print("[red]Error:[/red] ", end="", markup=True)
        err.print(str(e), markup=False)
        raise typer.Exit(EXIT_USER_ERROR) from None
    except KeyboardInterrupt:
        err.print("\nInterrupted. Embedded batches are cached; run the same command again to resume.")
        raise typer.Exit(EXIT_INTERRUPTED) from None


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """A progress-bar factory on stderr for the core's long loops."""
    if not enabled:
        yield lambda label, total: lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as progress:

        def factory(label: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(label, total=total)
            return lambda n: progress.advance(task, n)

        yield factory


def _stats_settings(confidence: float, resamples: int, seed: int, ci_method: str) -> StatsSettings:
    from mrl_eval.stats import StatsSettings

    return StatsSettings(confidence, resamples, seed, ci_method).check()


def _sweep(options: dict, settings: StatsSettings, show_progress: bool, extra_metric: str | None = None) -> SweepRun:
    from mrl_eval import metrics as M
    from mrl_eval.sweep import SweepConfig, run

    metric_names = M.parse_metrics(options.pop("metrics") or list(M.DEFAULT_METRICS))
    if extra_metric and extra_metric not in metric_names:
        metric_names.append(extra_metric)
    config = SweepConfig(
        metrics=tuple(metric_names), stats=settings, loss_metric=extra_metric or metric_names[0], **options
    )
    with _progress(show_progress) as progress:
        return run(config, progress)


def _render_table(doc: dict, primary: str, highlight_dim: int | None = None) -> None:
    from rich.table import Table

    metric_names = list(doc["results"][0]["metrics"])
    stats = doc.get("statistics")
    table = Table(
        title=f"{doc['data']['name']} · {doc['model']['name']} · {doc['queries_evaluated']} queries evaluated"
        + (f", {doc['queries_skipped']} skipped (no judgments)" if doc["queries_skipped"] else ""),
        title_justify="left",
    )
    columns = ["dim", "of full", "bytes/vec", primary]
    if stats:
        level = f"{stats['confidence']:.0%}"
        columns += [f"{level} CI", "Δ vs full", f"Δ {level} CI", "p"]
    columns += [m for m in metric_names if m != primary]
    for col in columns:
        table.add_column(col, justify="right")
    for r in doc["results"]:
        cells = [str(r["dim"]), f"{r['fraction']:.0%}", str(r["bytes_per_vector"]), f"{r['metrics'][primary]:.4f}"]
        if stats:
            st = r["stats"][primary]
            cells += [
                f"{st['ci'][0]:.3f}–{st['ci'][1]:.3f}",
                f"{st['delta']:+.4f}",
                f"{st['delta_ci'][0]:+.3f}–{st['delta_ci'][1]:+.3f}",
                f"{st['p_value']:.4f}",
            ]
        cells += [f"{r['metrics'][m]:.4f}" for m in metric_names if m != primary]
        table.add_row(*cells, style="bold green" if r["dim"] == highlight_dim else None)
    out.print(table)


def _finish(doc: dict, out_dir: Path, as_json: bool, primary: str, plots: bool = True) -> None:
    """Show the result, then write the reports (the plots take most of the time, so the answer comes first)."""
    from mrl_eval.report import write_reports

    if as_json:
        write_reports(doc, out_dir, primary, plots)
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return
    rec = doc.get("recommendation")
    _render_table(doc, primary, rec["dim"] if rec else None)
    if rec:
        from mrl_eval.summary import explain, explain_holdout

        stats = doc.get("statistics")
        for line in explain(rec, stats["confidence"] if stats else None):
            out.print(line)
        if "holdout" in doc:
            out.print(explain_holdout(doc["holdout"]))
    paths = write_reports(doc, out_dir, primary, plots)
    out.print("Reports: " + ", ".join(str(p) for p in paths))


_NOT_SWEEP = ("out_dir", "save_runs", "as_json", "confidence", "resamples", "seed", "ci_method")
_BAR = ("min_ndcg", "metric", "min_value", "max_drop", "rule", "holdout", "from_json", "plot")


@app.command()
def sweep(
    data: O.DataArg = None,
    corpus: O.CorpusOpt = None,
    queries: O.QueriesOpt = None,
    qrels: O.QrelsOpt = None,
    split: O.SplitOpt = "test",
    id_column: O.IdColOpt = "_id",
    text_column: O.TextColOpt = "text",
    title_column: O.TitleColOpt = "title",
    embeddings: O.EmbeddingsOpt = None,
    model: O.ModelOpt = None,
    provider: O.ProviderOpt = "sentence-transformers",
    query_prompt: O.QueryPromptOpt = None,
    doc_prompt: O.DocPromptOpt = None,
    query_prompt_name: O.QueryPromptNameOpt = None,
    doc_prompt_name: O.DocPromptNameOpt = None,
    batch_size: O.BatchOpt = None,
    device: O.DeviceOpt = None,
    cache_dir: O.CacheOpt = None,
    cache_dtype: O.CacheDtypeOpt = "float32",
    dims: O.DimsOpt = None,
    metrics: O.MetricsOpt = None,
    ignore_identical_ids: O.IgnoreIdsOpt = False,
    confidence: O.ConfidenceOpt = 0.95,
    resamples: O.ResamplesOpt = 10_000,
    seed: O.SeedOpt = 0,
    ci_method: O.CiMethodOpt = "bca",
    out_dir: O.OutOpt = Path("reports"),
    save_runs: O.SaveRunsOpt = None,
    as_json: O.JsonOpt = False,
) -> None:
    """Embed once, evaluate every prefix dim, write the reports and the trade-off plot.

    With no arguments: the bundled Cranfield sample with the bundled all-MiniLM-L6-v2.
    """
    options = {k: v for k, v in locals().items() if k not in _NOT_SWEEP}
    with _exit_codes():
        settings = _stats_settings(confidence, resamples, seed, ci_method)
        result = _sweep(options, settings, show_progress=not as_json)
        from mrl_eval.report import build_document, write_trec_runs

        doc = build_document(result, "sweep")
        if save_runs:
            write_trec_runs(result, save_runs)
        _finish(doc, out_dir, as_json, result.config.metrics[0])


@app.command()
def recommend(
    data: O.DataArg = None,
    min_ndcg: Annotated[
        float | None, typer.Option(help="Bar: nDCG@10 at or above this.", rich_help_panel=O.BAR)
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(help="Metric the bar applies to. (default: ndcg@10)", rich_help_panel=O.BAR, show_default=False),
    ] = None,
    min_value: Annotated[
        float | None, typer.Option("--min", help="Bar: the metric at or above this.", rich_help_panel=O.BAR)
    ] = None,
    max_drop: Annotated[
        str | None,
        typer.Option(
            help="Bar: at most this drop from the full-dim score, absolute (0.02) or relative (2%).",
            rich_help_panel=O.BAR,
        ),
    ] = None,
    rule: O.RuleOpt = "point",
    holdout: O.HoldoutOpt = None,
    plot: Annotated[
        bool | None,
        typer.Option(
            "--plot/--no-plot",
            help="Draw the PNG/SVG charts. (default: yes when sweeping; no with --from, which then stays fast and "
            "never imports matplotlib)",
            rich_help_panel=O.OUTPUT,
            show_default=False,
        ),
    ] = None,
    from_json: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Use a saved sweep report (reports/<run>.json) instead of sweeping: no model calls.",
            rich_help_panel=O.BAR,
        ),
    ] = None,
    corpus: O.CorpusOpt = None,
    queries: O.QueriesOpt = None,
    qrels: O.QrelsOpt = None,
    split: O.SplitOpt = "test",
    id_column: O.IdColOpt = "_id",
    text_column: O.TextColOpt = "text",
    title_column: O.TitleColOpt = "title",
    embeddings: O.EmbeddingsOpt = None,
    model: O.ModelOpt = None,
    provider: O.ProviderOpt = "sentence-transformers",
    query_prompt: O.QueryPromptOpt = None,
    doc_prompt: O.DocPromptOpt = None,
    query_prompt_name: O.QueryPromptNameOpt = None,
    doc_prompt_name: O.DocPromptNameOpt = None,
    batch_size: O.BatchOpt = None,
    device: O.DeviceOpt = None,
    cache_dir: O.CacheOpt = None,
    cache_dtype: O.CacheDtypeOpt = "float32",
    dims: O.DimsOpt = None,
    metrics: O.MetricsOpt = None,
    ignore_identical_ids: O.IgnoreIdsOpt = False,
    confidence: O.ConfidenceOpt = 0.95,
    resamples: O.ResamplesOpt = 10_000,
    seed: O.SeedOpt = 0,
    ci_method: O.CiMethodOpt = "bca",
    out_dir: O.OutOpt = Path("reports"),
    save_runs: O.SaveRunsOpt = None,
    as_json: O.JsonOpt = False,
) -> None:
    """Recommend the smallest swept dim that meets the rule. Exit 3 if none does (a CI quality gate).

    Examples: --min-ndcg 0.82 · --metric recall@100 --min 0.9 · --max-drop 2% --rule non-inferior ·
    --rule lower-bound --min-ndcg 0.75 · --from reports/run.json
    """
    sweep_options = {k: v for k, v in locals().items() if k not in _NOT_SWEEP + _BAR}
    with _exit_codes():
        from mrl_eval import metrics as M
        from mrl_eval.recommend import holdout_check, make_rule
        from mrl_eval.recommend import recommend as choose

        if min_ndcg is not None and (min_value is not None or (metric and M.parse_metric(metric) != ("ndcg", 10))):
            raise UsageError("--min-ndcg means --metric ndcg@10 --min X; give one form, not both")
        rule_metric = M.parse_metrics(metric or "ndcg@10")[0]
        the_rule = make_rule(rule_metric, min_ndcg if min_ndcg is not None else min_value, max_drop, rule)
        settings = _stats_settings(confidence, resamples, seed, ci_method)
        if from_json is not None:
            from mrl_eval.report import per_query_of, read_document, restat_document

            if data or embeddings or model or corpus or queries or qrels or save_runs:
                raise UsageError(
                    "--from reads a saved run: drop DATA, --embeddings, --model, --corpus/--queries/--qrels"
                )
            doc = read_document(from_json)
            results = restat_document(doc, from_json, settings)
            if rule_metric not in results[0].metrics:
                have = ", ".join(results[0].metrics)
                raise MrlEvalError(
                    f"{from_json}: has no {rule_metric} (it has: {have}); rerun the sweep with --metrics"
                )
            if "statistics" not in doc and (rule != "point" or holdout is not None):
                raise MrlEvalError(
                    f"{from_json}: has no per-query values, which --rule {rule} and --holdout need; rerun the sweep"
                )
            doc["command"] = "recommend"
            per_query, query_ids = per_query_of(doc) if "statistics" in doc else ({}, [])
        else:
            from mrl_eval.report import build_document, write_trec_runs

            result = _sweep(sweep_options, settings, show_progress=not as_json, extra_metric=rule_metric)
            if save_runs:
                write_trec_runs(result, save_runs)
            doc = build_document(result, "recommend")
            results = result.sweep.results
            per_query, query_ids = result.sweep.per_query, result.sweep.query_ids
        full_dim, n_docs = int(doc["full_dim"]), int(doc["n_docs"])
        rec = choose(results, full_dim, the_rule, n_docs)
        doc["recommendation"] = rec.to_dict()
        if holdout is not None:
            doc["holdout"] = holdout_check(per_query, full_dim, query_ids, the_rule, settings, holdout, n_docs)
        _finish(doc, out_dir, as_json, rule_metric, plots=plot if plot is not None else from_json is None)
    if rec.dim is None:
        raise typer.Exit(EXIT_GATE_FAILED)


def main() -> None:
    app()
