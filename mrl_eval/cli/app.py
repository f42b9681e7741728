"""mrl-eval command line: the commands. Each command parses its options, calls the Python API (`mrl_eval.api`:
sweep, load_run, recommend, compare) and renders the result; the shared flags are in `options.py`, the shared
plumbing (consoles, exit codes, the settings file, rendering, CI outputs) in `common.py`. Together the only modules
that print or exit.

Heavy libraries (torch, sentence-transformers, pandas, matplotlib) are imported by the core only when a command
needs them, so `mrl-eval --help` starts fast.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mrl_eval import __version__
from mrl_eval.cli import options as O
from mrl_eval.cli.common import (
    configurable,
    emit_ci,
    exit_codes,
    finish,
    given_as_flag,
    out,
    progress,
    render_comparison,
    show_settings,
)
from mrl_eval.cli.engine_output import render_engine
from mrl_eval.errors import UsageError

if TYPE_CHECKING:
    from mrl_eval.api import SweepRun

app = typer.Typer(
    name="mrl-eval",
    help="Embed once at full size, sweep Matryoshka prefix dims, and find the smallest dim that keeps your "
    "retrieval quality. Exit codes: 0 ok, 1 input error, 2 usage error, 3 a quality gate failed (no dim meets the "
    "bar, or a regression from the baseline), 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(
    help="The settings file: mrl-eval.toml, or the \\[tool.mrl-eval] table of pyproject.toml.", no_args_is_help=True
)
app.add_typer(config_app, name="config")


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


# What --from replaces: refused when given as flags (a config file's data settings are simply not used).
_DATA_KEYS = ("data", "embeddings", "model", "corpus", "queries", "qrels", "save-runs")
_DATA_KEYS += ("mteb-task", "mteb-subset", "mteb-data", "mteb-results")


def _check_mteb_results(task: str | None, folder: Path | None) -> None:
    """--mteb-results needs an MTEB task whose main score mrl-eval computes: checked before any slow work."""
    if folder is not None:
        from mrl_eval.data.mteb_tasks import check_results_target

        check_results_target(task, folder)


def _write_mteb_results(run: SweepRun, folder: Path | None, seconds: float) -> list[Path]:
    if folder is None:
        return []
    from mrl_eval.data.mteb_tasks import write_results

    return write_results(run.output, folder, seconds)


def _say_mteb_results(paths: list[Path], as_json: bool) -> None:
    if paths and not as_json:
        out.print("MTEB results: " + ", ".join(str(p) for p in paths))


@app.command()
@configurable("sweep")
def sweep(
    ctx: typer.Context,
    data: O.DataArg = None,
    corpus: O.CorpusOpt = None,
    queries: O.QueriesOpt = None,
    qrels: O.QrelsOpt = None,
    split: O.SplitOpt = "test",
    id_column: O.IdColOpt = "_id",
    text_column: O.TextColOpt = "text",
    title_column: O.TitleColOpt = "title",
    mteb_task: O.MtebTaskOpt = None,
    mteb_subset: O.MtebSubsetOpt = None,
    mteb_data: O.MtebDataOpt = None,
    embeddings: O.EmbeddingsOpt = None,
    model: O.ModelOpt = None,
    provider: O.ProviderOpt = "sentence-transformers",
    query_prompt: O.QueryPromptOpt = None,
    doc_prompt: O.DocPromptOpt = None,
    query_prompt_name: O.QueryPromptNameOpt = None,
    doc_prompt_name: O.DocPromptNameOpt = None,
    batch_size: O.BatchOpt = None,
    device: O.DeviceOpt = None,
    trust_remote_code: O.TrustRemoteCodeOpt = False,
    backend: O.BackendOpt = None,
    base_url: O.BaseUrlOpt = None,
    api_key_env: O.ApiKeyEnvOpt = None,
    concurrency: O.ConcurrencyOpt = None,
    max_retries: O.MaxRetriesOpt = None,
    timeout: O.TimeoutOpt = None,
    on_long_input: O.OnLongInputOpt = None,
    max_cost: O.MaxCostOpt = None,
    price_per_1m_tokens: O.PricePer1mTokensOpt = None,
    pre_truncate: O.PreTruncateOpt = "none",
    cache_dir: O.CacheOpt = None,
    cache_dtype: O.CacheDtypeOpt = "float32",
    dims: O.DimsOpt = None,
    metrics: O.MetricsOpt = None,
    ignore_identical_ids: O.IgnoreIdsOpt = False,
    precisions: O.PrecisionsOpt = "float32",
    compare: O.ComparePcaOpt = None,
    pca_fit_sample: O.PcaFitSampleOpt = None,
    safety_margin: O.SafetyMarginOpt = 0.01,
    two_stage: O.TwoStageOpt = None,
    shortlist: O.ShortlistOpt = "100,200,1000",
    scale: O.ScaleOpt = None,
    ray: O.RayOpt = False,
    ray_address: O.RayAddressOpt = None,
    ray_cpus: O.RayCpusOpt = None,
    ray_shard_rows: O.RayShardRowsOpt = None,
    ray_workers: O.RayWorkersOpt = None,
    ray_gpus_per_worker: O.RayGpusOpt = 0.0,
    engine: O.EngineOpt = "exact",
    index_kind: O.IndexKindOpt = "hnsw",
    hnsw_m: O.HnswMOpt = 16,
    ef_construction: O.EfConstructionOpt = 64,
    ef_search: O.EfSearchOpt = "16,64,256",
    pg_dsn: O.PgDsnOpt = None,
    rerank: O.RerankOpt = 0,
    queries_from_corpus: O.QueriesFromCorpusOpt = None,
    growth: O.GrowthOpt = False,
    growth_seeds: O.GrowthSeedsOpt = None,
    confidence: O.ConfidenceOpt = 0.95,
    resamples: O.ResamplesOpt = 10_000,
    seed: O.SeedOpt = 0,
    ci_method: O.CiMethodOpt = "bca",
    out_dir: O.OutOpt = Path("reports"),
    save_runs: O.SaveRunsOpt = None,
    mteb_results: O.MtebResultsOpt = None,
    as_json: O.JsonOpt = False,
    config: O.ConfigOpt = None,
) -> None:
    """Embed once, evaluate every prefix dim, write the reports (JSON, CSV, Markdown, HTML) and the trade-off plot.

    With no arguments: the bundled Cranfield sample with the bundled all-MiniLM-L6-v2.
    """
    values = locals()  # the parameters: only those named in SWEEP_SETTINGS reach the sweep
    with exit_codes():
        from mrl_eval import api

        api.stats_settings(confidence, resamples, seed, ci_method)  # before the MTEB check, as always
        _check_mteb_results(mteb_task, mteb_results)
        started = time.monotonic()
        with progress(not as_json) as bars:
            run = api.sweep(**api.sweep_settings(values), progress=bars)
        mteb_files = _write_mteb_results(run, mteb_results, time.monotonic() - started)
        finish(run.report, out_dir, as_json, run.metrics[0])
        render_engine(run.report, as_json)
        _say_mteb_results(mteb_files, as_json)
        emit_ci("sweep", as_json, report=run.report, primary=run.metrics[0])


@app.command()
@configurable("recommend")
def recommend(
    ctx: typer.Context,
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
    optimize: Annotated[
        str,
        typer.Option(
            help="What to minimise among the cells that meet the bar: dim (float32, the smallest dim) or bytes "
            "(bytes per vector over every --precisions cell); with --engine faiss|pgvector also memory (index plus "
            "table, measured) or latency (median, measured), over the engine's cells.",
            rich_help_panel=O.BAR,
        ),
    ] = "dim",
    methods: Annotated[
        str,
        typer.Option(
            help="Which methods may be chosen: prefix (truncation), pca, or prefix,pca (PCA is then scored too).",
            rich_help_panel=O.BAR,
        ),
    ] = "prefix",
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
    mteb_task: O.MtebTaskOpt = None,
    mteb_subset: O.MtebSubsetOpt = None,
    mteb_data: O.MtebDataOpt = None,
    embeddings: O.EmbeddingsOpt = None,
    model: O.ModelOpt = None,
    provider: O.ProviderOpt = "sentence-transformers",
    query_prompt: O.QueryPromptOpt = None,
    doc_prompt: O.DocPromptOpt = None,
    query_prompt_name: O.QueryPromptNameOpt = None,
    doc_prompt_name: O.DocPromptNameOpt = None,
    batch_size: O.BatchOpt = None,
    device: O.DeviceOpt = None,
    trust_remote_code: O.TrustRemoteCodeOpt = False,
    backend: O.BackendOpt = None,
    base_url: O.BaseUrlOpt = None,
    api_key_env: O.ApiKeyEnvOpt = None,
    concurrency: O.ConcurrencyOpt = None,
    max_retries: O.MaxRetriesOpt = None,
    timeout: O.TimeoutOpt = None,
    on_long_input: O.OnLongInputOpt = None,
    max_cost: O.MaxCostOpt = None,
    price_per_1m_tokens: O.PricePer1mTokensOpt = None,
    pre_truncate: O.PreTruncateOpt = "none",
    cache_dir: O.CacheOpt = None,
    cache_dtype: O.CacheDtypeOpt = "float32",
    dims: O.DimsOpt = None,
    metrics: O.MetricsOpt = None,
    ignore_identical_ids: O.IgnoreIdsOpt = False,
    precisions: O.PrecisionsOpt = "float32",
    compare: O.ComparePcaOpt = None,
    pca_fit_sample: O.PcaFitSampleOpt = None,
    safety_margin: O.SafetyMarginOpt = 0.01,
    two_stage: O.TwoStageOpt = None,
    shortlist: O.ShortlistOpt = "100,200,1000",
    scale: O.ScaleOpt = None,
    ray: O.RayOpt = False,
    ray_address: O.RayAddressOpt = None,
    ray_cpus: O.RayCpusOpt = None,
    ray_shard_rows: O.RayShardRowsOpt = None,
    ray_workers: O.RayWorkersOpt = None,
    ray_gpus_per_worker: O.RayGpusOpt = 0.0,
    engine: O.EngineOpt = "exact",
    index_kind: O.IndexKindOpt = "hnsw",
    hnsw_m: O.HnswMOpt = 16,
    ef_construction: O.EfConstructionOpt = 64,
    ef_search: O.EfSearchOpt = "16,64,256",
    pg_dsn: O.PgDsnOpt = None,
    rerank: O.RerankOpt = 0,
    queries_from_corpus: O.QueriesFromCorpusOpt = None,
    growth: O.GrowthOpt = False,
    growth_seeds: O.GrowthSeedsOpt = None,
    confidence: O.ConfidenceOpt = 0.95,
    resamples: O.ResamplesOpt = 10_000,
    seed: O.SeedOpt = 0,
    ci_method: O.CiMethodOpt = "bca",
    out_dir: O.OutOpt = Path("reports"),
    save_runs: O.SaveRunsOpt = None,
    mteb_results: O.MtebResultsOpt = None,
    as_json: O.JsonOpt = False,
    baseline: O.BaselineOpt = None,
    baseline_max_drop: O.BaselineMaxDropOpt = "0.01",
    junit_xml: O.JunitOpt = None,
    config: O.ConfigOpt = None,
) -> None:
    """Recommend the smallest swept dim that meets the rule. Exit 3 if none does (a CI quality gate).

    Examples: --min-ndcg 0.82 · --metric recall@100 --min 0.9 · --max-drop 2% --rule non-inferior ·
    --rule lower-bound --min-ndcg 0.75 · --from reports/run.json · --baseline reports/main.json --junit-xml gate.xml
    """
    values = locals()  # the parameters: only those named in SWEEP_SETTINGS reach the sweep
    with exit_codes():
        from mrl_eval import api
        from mrl_eval.evaluate import metrics as M

        if min_ndcg is not None and (min_value is not None or (metric and M.parse_metric(metric) != ("ndcg", 10))):
            raise UsageError("--min-ndcg means --metric ndcg@10 --min X; give one form, not both")
        bar = api.Rule(min_ndcg if min_ndcg is not None else min_value, max_drop, rule, metric or "ndcg@10")
        stats = {"confidence": confidence, "resamples": resamples, "seed": seed, "ci_method": ci_method}
        api.stats_settings(**stats)  # usage errors in the order they were always reported
        plan = api.RecommendPlan.check(
            bar,
            optimize=optimize,
            methods=methods,
            holdout=holdout,
            baseline=baseline,
            baseline_max_drop=baseline_max_drop,
        )
        if from_json is not None:
            if any(given_as_flag(ctx, key) for key in _DATA_KEYS):
                raise UsageError(
                    "--from reads a saved run: drop DATA, --embeddings, --model, --corpus/--queries/--qrels, --mteb-*"
                )
            run = api.load_run(from_json, **stats)
        else:
            _check_mteb_results(mteb_task, mteb_results)
            started = time.monotonic()
            settings = api.sweep_settings(values) | ({"compare": "pca"} if plan.sweeps_pca else {})
            with progress(not as_json) as bars:
                run = api.sweep(**settings, loss_metric=plan.resolved.metric, progress=bars)
            mteb_files = _write_mteb_results(run, mteb_results, time.monotonic() - started)
        chosen = plan.apply(run)
        report = chosen.report
        finish(report, out_dir, as_json, chosen.metric, plots=plot if plot is not None else from_json is None)
        render_engine(report, as_json)
        if from_json is None:
            _say_mteb_results(mteb_files, as_json)
        emit_ci("recommend", as_json, junit_xml, report=report, primary=chosen.metric)
        chosen.raise_if_failed()


@app.command()
@configurable("compare")
def compare(
    ctx: typer.Context,
    runs: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="BASELINE CURRENT",
            help="Two saved runs (JSON reports of sweep or recommend), the baseline first. With one, it is the "
            "current run and the baseline is --baseline (or the config file's).",
            show_default=False,
        ),
    ] = None,
    baseline: O.BaselineOpt = None,
    metric: Annotated[str, typer.Option(help="The gated metric.", rich_help_panel=O.BAR)] = "ndcg@10",
    max_drop: Annotated[
        str,
        typer.Option(
            help="Largest allowed fall below the baseline at any dim: absolute (0.01) or relative to the "
            "baseline's score (1%).",
            rich_help_panel=O.BAR,
        ),
    ] = "0.01",
    rule: Annotated[
        str,
        typer.Option(
            help="What must stay within --max-drop: point (the mean delta) or non-inferior / lower-bound (the lower "
            "end of the delta's CI; the mean when no paired test is possible).",
            rich_help_panel=O.BAR,
        ),
    ] = "point",
    confidence: O.ConfidenceOpt = 0.95,
    resamples: O.ResamplesOpt = 10_000,
    seed: O.SeedOpt = 0,
    ci_method: O.CiMethodOpt = "bca",
    junit_xml: O.JunitOpt = None,
    as_json: O.JsonOpt = False,
    config: O.ConfigOpt = None,
) -> None:
    """Compare two saved runs dim by dim; exit 3 if the gated metric fell more than --max-drop at any shared dim.

    Every metric's delta (current minus baseline), with a paired test where both runs evaluated the same queries.
    Examples: compare reports/main.json reports/run.json · --max-drop 2% --rule non-inferior · --junit-xml gate.xml
    """
    with exit_codes():
        from mrl_eval import api

        paths = list(runs or [])
        if len(paths) == 2 and baseline is not None and given_as_flag(ctx, "baseline"):
            raise UsageError("compare takes BASELINE CURRENT or CURRENT --baseline BASELINE, not both")
        if len(paths) == 1 and baseline is not None:
            paths = [baseline, paths[0]]
        if len(paths) != 2:
            raise UsageError(f"compare needs two runs, BASELINE CURRENT (or CURRENT with --baseline); got {len(paths)}")
        stats = {"confidence": confidence, "resamples": resamples, "seed": seed, "ci_method": ci_method}
        comparison = api.compare(paths[0], paths[1], api.Gate(max_drop, rule, metric), **stats)
        if as_json:
            sys.stdout.write(json.dumps(comparison.to_dict(), indent=1) + "\n")
        else:
            render_comparison(comparison.body)
        emit_ci("compare", as_json, junit_xml, comparison=comparison.body)
        comparison.raise_if_failed()


@config_app.command("show", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def config_show(
    ctx: typer.Context,
    command: Annotated[
        str, typer.Argument(help="The command whose settings to show: sweep, recommend or compare.")
    ] = "recommend",
    as_json: O.JsonOpt = False,
    config: O.ConfigOpt = None,
) -> None:
    """Print the settings COMMAND would run with and where each came from: flag, the config file, or default.

    Flags after COMMAND are read as COMMAND reads them: mrl-eval config show recommend --min-ndcg 0.8
    """
    with exit_codes():
        show_settings(ctx, command, ctx.args, config, as_json)


def main() -> None:
    app()
