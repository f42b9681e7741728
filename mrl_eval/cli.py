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
from mrl_eval.errors import MrlEvalError, UsageError

if TYPE_CHECKING:
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

DATA, MODEL, SWEEP, OUTPUT, BAR = "Data", "Model", "Sweep", "Output", "Quality bar"
DataArg = Annotated[
    Path | None,
    typer.Argument(
        help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv). Default: the bundled Cranfield sample.",
        show_default=False,
    ),
]
CorpusOpt = Annotated[
    Path | None,
    typer.Option(help="Corpus file (.jsonl, .csv, .tsv, .parquet); overrides DATA's.", rich_help_panel=DATA),
]
QueriesOpt = Annotated[
    Path | None, typer.Option(help="Queries file (.jsonl, .csv, .tsv, .parquet).", rich_help_panel=DATA)
]
QrelsOpt = Annotated[
    Path | None,
    typer.Option(help="Qrels: BEIR TSV, TREC (qid 0 docid rel), CSV or Parquet.", rich_help_panel=DATA),
]
SplitOpt = Annotated[str, typer.Option(help="Qrels split inside DATA: qrels/<split>.tsv.", rich_help_panel=DATA)]
IdColOpt = Annotated[str, typer.Option(help="Id column/field of corpus and queries.", rich_help_panel=DATA)]
TextColOpt = Annotated[str, typer.Option(help="Text column/field.", rich_help_panel=DATA)]
TitleColOpt = Annotated[
    str, typer.Option(help="Title column/field (joined before the text; may be empty).", rich_help_panel=DATA)
]
EmbeddingsOpt = Annotated[
    Path | None,
    typer.Option(
        help="Evaluate precomputed vectors instead of running a model: a folder with corpus.npy, corpus_ids.txt, "
        "queries.npy, queries_ids.txt.",
        rich_help_panel=DATA,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="sentence-transformers hub id or local folder. Default: the bundled all-MiniLM-L6-v2 (offline).",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
ProviderOpt = Annotated[str, typer.Option(help="Embedding back-end.", rich_help_panel=MODEL)]
QueryPromptOpt = Annotated[
    str | None,
    typer.Option(
        help="Literal prefix for every query. Default: the model's 'query' prompt, if any.",
        rich_help_panel=MODEL,
    ),
]
DocPromptOpt = Annotated[
    str | None,
    typer.Option(
        help="Literal prefix for every document. Default: the model's 'document'/'passage' prompt, if any.",
        rich_help_panel=MODEL,
    ),
]
QueryPromptNameOpt = Annotated[
    str | None, typer.Option(help="Use this named prompt of the model for queries.", rich_help_panel=MODEL)
]
DocPromptNameOpt = Annotated[
    str | None, typer.Option(help="Use this named prompt of the model for documents.", rich_help_panel=MODEL)
]
BatchOpt = Annotated[
    int | None,
    typer.Option(min=1, help="Texts per model batch. (default: 32)", rich_help_panel=MODEL, show_default=False),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(help="torch device: cpu, cuda, cuda:1, mps. Default: auto.", rich_help_panel=MODEL),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        help="Embedding cache. Default: $XDG_CACHE_HOME/mrl-eval or ~/.cache/mrl-eval.",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
DimsOpt = Annotated[
    str | None,
    typer.Option(
        help="Dims to sweep: sizes and percentages, e.g. 64,128,25%,50%. The full dim is always added. (default: 25%,50%,100%)",
        rich_help_panel=SWEEP,
        show_default=False,
    ),
]
MetricsOpt = Annotated[
    str | None,
    typer.Option(
        help="Metrics: ndcg@k, recall@k, mrr@k, map@k, precision@k. (default: ndcg@10,recall@10,recall@100,mrr@10,map@100)",
        rich_help_panel=SWEEP,
        show_default=False,
    ),
]
IgnoreIdsOpt = Annotated[
    bool,
    typer.Option(
        "--ignore-identical-ids", help="Never retrieve a doc whose id equals the query id.", rich_help_panel=SWEEP
    ),
]
OutOpt = Annotated[
    Path,
    typer.Option("--out", "-o", help="Report folder (JSON, CSV, Markdown, PNG, SVG).", rich_help_panel=OUTPUT),
]
SaveRunsOpt = Annotated[
    Path | None,
    typer.Option(help="Also write one TREC run file per dim into this folder.", rich_help_panel=OUTPUT),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print the JSON result on stdout and nothing else there.", rich_help_panel=OUTPUT),
]


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


def _sweep(options: dict, show_progress: bool) -> SweepRun:
    from mrl_eval import metrics as M
    from mrl_eval.sweep import SweepConfig, run

    metric_names = M.parse_metrics(options.pop("metrics") or list(M.DEFAULT_METRICS))
    extra = options.pop("extra_metric", None)
    if extra and extra not in metric_names:
        metric_names.append(extra)
    config = SweepConfig(metrics=tuple(metric_names), **options)
    with _progress(show_progress) as progress:
        return run(config, progress)


def _render_table(doc: dict, highlight_dim: int | None = None) -> None:
    from rich.table import Table

    metric_names = list(doc["results"][0]["metrics"])
    table = Table(
        title=f"{doc['data']['name']} · {doc['model']['name']} · {doc['queries_evaluated']} queries evaluated"
        + (f", {doc['queries_skipped']} skipped (no judgments)" if doc["queries_skipped"] else ""),
        title_justify="left",
    )
    for col in ("dim", "of full", "bytes/vec", *metric_names):
        table.add_column(col, justify="right")
    for r in doc["results"]:
        style = "bold green" if r["dim"] == highlight_dim else None
        table.add_row(
            str(r["dim"]),
            f"{r['fraction']:.0%}",
            str(r["bytes_per_vector"]),
            *(f"{r['metrics'][m]:.4f}" for m in metric_names),
            style=style,
        )
    out.print(table)


def _finish(doc: dict, out_dir: Path, as_json: bool, plot_metric: str | None = None) -> None:
    from mrl_eval.report import write_reports

    paths = write_reports(doc, out_dir, plot_metric)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return
    rec = doc.get("recommendation")
    _render_table(doc, rec["dim"] if rec else None)
    if rec:
        from mrl_eval.report import explain

        for line in explain(rec):
            out.print(line)
    out.print("Reports: " + ", ".join(str(p) for p in paths))


def _options(**kw: object) -> dict:
    return kw


@app.command()
def sweep(
    data: DataArg = None,
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    split: SplitOpt = "test",
    id_column: IdColOpt = "_id",
    text_column: TextColOpt = "text",
    title_column: TitleColOpt = "title",
    embeddings: EmbeddingsOpt = None,
    model: ModelOpt = None,
    provider: ProviderOpt = "sentence-transformers",
    query_prompt: QueryPromptOpt = None,
    doc_prompt: DocPromptOpt = None,
    query_prompt_name: QueryPromptNameOpt = None,
    doc_prompt_name: DocPromptNameOpt = None,
    batch_size: BatchOpt = None,
    device: DeviceOpt = None,
    cache_dir: CacheOpt = None,
    dims: DimsOpt = None,
    metrics: MetricsOpt = None,
    ignore_identical_ids: IgnoreIdsOpt = False,
    out_dir: OutOpt = Path("reports"),
    save_runs: SaveRunsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Embed once, evaluate every prefix dim, write the reports and the trade-off plot.

    With no arguments: the bundled Cranfield sample with the bundled all-MiniLM-L6-v2.
    """
    options = {k: v for k, v in locals().items() if k not in ("out_dir", "save_runs", "as_json")}
    with _exit_codes():
        result = _sweep(options, show_progress=not as_json)
        from mrl_eval.report import build_document, write_trec_runs

        doc = build_document(result, "sweep")
        if save_runs:
            write_trec_runs(result, save_runs)
        _finish(doc, out_dir, as_json)


@app.command()
def recommend(
    data: DataArg = None,
    min_ndcg: Annotated[float | None, typer.Option(help="Bar: nDCG@10 at or above this.", rich_help_panel=BAR)] = None,
    metric: Annotated[
        str | None,
        typer.Option(help="Metric the bar applies to. (default: ndcg@10)", rich_help_panel=BAR, show_default=False),
    ] = None,
    min_value: Annotated[
        float | None, typer.Option("--min", help="Bar: the metric at or above this.", rich_help_panel=BAR)
    ] = None,
    max_drop: Annotated[
        str | None,
        typer.Option(
            help="Bar: at most this drop from the full-dim score, absolute (0.02) or relative (2%).",
            rich_help_panel=BAR,
        ),
    ] = None,
    from_json: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Use a saved sweep report (reports/<run>.json) instead of sweeping: no model calls.",
            rich_help_panel=BAR,
        ),
    ] = None,
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    split: SplitOpt = "test",
    id_column: IdColOpt = "_id",
    text_column: TextColOpt = "text",
    title_column: TitleColOpt = "title",
    embeddings: EmbeddingsOpt = None,
    model: ModelOpt = None,
    provider: ProviderOpt = "sentence-transformers",
    query_prompt: QueryPromptOpt = None,
    doc_prompt: DocPromptOpt = None,
    query_prompt_name: QueryPromptNameOpt = None,
    doc_prompt_name: DocPromptNameOpt = None,
    batch_size: BatchOpt = None,
    device: DeviceOpt = None,
    cache_dir: CacheOpt = None,
    dims: DimsOpt = None,
    metrics: MetricsOpt = None,
    ignore_identical_ids: IgnoreIdsOpt = False,
    out_dir: OutOpt = Path("reports"),
    save_runs: SaveRunsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recommend the smallest swept dim that meets the bar. Exit 3 if none does (a CI quality gate).

    Examples: --min-ndcg 0.82 · --metric recall@100 --min 0.9 · --max-drop 2% · --from reports/run.json
    """
    sweep_options = {
        k: v
        for k, v in locals().items()
        if k not in ("min_ndcg", "metric", "min_value", "max_drop", "from_json", "out_dir", "save_runs", "as_json")
    }
    with _exit_codes():
        from mrl_eval import metrics as M
        from mrl_eval.recommend import make_rule
        from mrl_eval.recommend import recommend as choose

        if min_ndcg is not None and (min_value is not None or (metric and M.parse_metric(metric) != ("ndcg", 10))):
            raise UsageError("--min-ndcg means --metric ndcg@10 --min X; give one form, not both")
        rule_metric = M.parse_metrics(metric or "ndcg@10")[0]
        rule = make_rule(rule_metric, min_ndcg if min_ndcg is not None else min_value, max_drop)
        if from_json is not None:
            from mrl_eval.report import read_document, results_from_document

            if data or embeddings or model or corpus or queries or qrels or save_runs:
                raise UsageError(
                    "--from reads a saved run: drop DATA, --embeddings, --model, --corpus/--queries/--qrels"
                )
            doc = read_document(from_json)
            results = results_from_document(doc, from_json)
            if rule_metric not in results[0].metrics:
                have = ", ".join(results[0].metrics)
                raise MrlEvalError(
                    f"{from_json}: has no {rule_metric} (it has: {have}); rerun the sweep with --metrics"
                )
            doc["command"] = "recommend"
        else:
            from mrl_eval.report import build_document, write_trec_runs

            sweep_options["extra_metric"] = rule_metric
            result = _sweep(sweep_options, show_progress=not as_json)
            if save_runs:
                write_trec_runs(result, save_runs)
            doc = build_document(result, "recommend")
            results = result.sweep.results
        rec = choose(results, int(doc["full_dim"]), rule, int(doc["n_docs"]))
        doc["recommendation"] = rec.to_dict()
        _finish(doc, out_dir, as_json, rule_metric)
    if rec.dim is None:
        raise typer.Exit(EXIT_GATE_FAILED)


def main() -> None:
    app()
