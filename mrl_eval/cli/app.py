"""mrl-eval command line: the commands. Each command parses its options, calls the Python API (`mrl_eval.api`:
sweep, load_run, recommend, compare) and renders the result; the shared flags are in `options.py`, the shared
plumbing (consoles, exit codes, the settings file, rendering, CI outputs) in `common.py`. Together the only modules
that print or exit.

Heavy libraries (torch, sentence-transformers, pandas, matplotlib) are imported by the core only when a command
needs them, so `mrl-eval --help` starts fast.
"""

from __future__ import annotations

import inspect
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mrl_eval import defaults as D
from mrl_eval.cli import options as O
from mrl_eval.cli.common import (
    configurable,
    emit_ci,
    exit_codes,
    finish,
    finish_models,
    given_as_flag,
    out,
    progress,
    render_comparison,
    show_settings,
)
from mrl_eval.errors import UsageError
from mrl_eval.files import json_text
from mrl_eval.version import __version__

if TYPE_CHECKING:
    from mrl_eval.api import SweepRun
    from mrl_eval.report.model import Report


def _without_flag_values(params: list) -> list:
    """A flag (--json, --help, --plot/--no-plot) takes no value: show none in the help (typer shows `<bool>`, which
    reads as `--json true`, and `true` is then taken for DATA)."""
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    return params


class _Command(typer.core.TyperCommand):
    def get_params(self, ctx: Any) -> list:
        return _without_flag_values(super().get_params(ctx))


class _Group(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list:
        return _without_flag_values(super().get_params(ctx))


app = typer.Typer(
    cls=_Group,
    name="mrl-eval",
    help="Embed once at full size, sweep Matryoshka prefix dims, and find the smallest dim that keeps your "
    "retrieval quality. Exit codes: 0 ok, 1 input error, 2 usage error, 3 a quality gate failed (no dim meets the "
    "bar, or a regression from the baseline), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 129 hung up "
    "(SIGHUP).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(
    cls=_Group,
    help="The settings file: mrl-eval.toml, or the \\[tool.mrl-eval] table of pyproject.toml.",
    no_args_is_help=True,
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


def _check_mteb_results(task: str | None, folder: Path | None) -> None:
    """--mteb-results needs an MTEB task whose main score mrl-eval computes: checked before any slow work."""
    if folder is not None:
        from mrl_eval.pipeline.mteb_results import check_results_target

        check_results_target(task, folder)


def _write_mteb_results(run: SweepRun, folder: Path | None, seconds: float) -> list[Path]:
    if folder is None:
        return []
    from mrl_eval.pipeline.mteb_results import write_results

    assert run.output is not None  # a fresh sweep
    data = run.output.config.data
    return write_results(
        folder,
        data.mteb_task,
        split=data.split,
        subset=data.mteb_subset,
        model=run.output.model,
        results=run.results,
        evaluation_time=seconds,
    )


def _say_mteb_results(paths: list[Path], as_json: bool) -> None:
    if paths and not as_json:
        out.print("MTEB results: " + ", ".join(str(p) for p in paths))


NEXT_MAX_DROP = "2%"  # the bar the line after a sweep suggests


def next_step(out_dir: Path, report: Report, metric: str) -> str:
    """The line that ends a sweep: the `recommend` command that picks a dim from this run's saved report."""
    from mrl_eval.report.document import report_stem

    saved = shlex.quote(str(out_dir / f"{report_stem(report)}.json"))
    metric_flag = "" if metric == D.METRIC else f" --metric {metric}"
    return (
        f"Next: the smallest dim within {NEXT_MAX_DROP} of the full size, from this run (no model calls): "
        f"mrl-eval recommend --from {saved}{metric_flag} --max-drop {NEXT_MAX_DROP}"
    )


def _renamed(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The values of old, hidden names (`--id-column`) moved onto their new names (`--doc-id-column`), over a
    config file's value; both given as flags, differently, is a usage error."""
    for old, new in O.ALIASES.items():
        value = values.pop(old, None)
        if value is None:
            continue
        if given_as_flag(ctx, O.flag(new)[2:]) and values[new] != value:
            raise UsageError(f"{O.flag(old)} {value}: it is the old name of {O.flag(new)}, given too; give one")
        values[new] = value
    return values


def command(name: str) -> Callable[[Callable[[typer.Context, dict[str, Any]], None]], Callable]:
    """Register `body(ctx, values)` as the command `name`, its parameters those that `options.COMMAND_PARAMS`
    declares for it (each option declared once, whichever commands take it); the settings file fills every
    parameter no flag gave."""

    def decorate(body: Callable[[typer.Context, dict[str, Any]], None]) -> Callable:
        params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
        params += [
            inspect.Parameter(
                p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default, annotation=p.annotation
            )
            for p in O.COMMAND_PARAMS[name]
        ]

        def run(**values: Any) -> None:
            ctx = values.pop("ctx")
            with exit_codes():
                values = _renamed(ctx, values)
            body(ctx, values)

        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        run.__name__ = run.__qualname__ = name
        run.__doc__ = body.__doc__
        app.command(name, cls=_Command)(configurable(name)(run))
        return body

    return decorate


@command("sweep")
def sweep(ctx: typer.Context, values: dict[str, Any]) -> None:
    """Embed once, evaluate every prefix dim, write the reports (JSON, CSV, Markdown, HTML) and the trade-off plot.

    With no arguments: the bundled Cranfield sample with the bundled all-MiniLM-L6-v2. Give --model or --embeddings more than once to compare models on the same queries. The last line printed is the recommend command that picks a dim from this run.
    """  # rich keeps a docstring's line breaks: one line per paragraph
    with exit_codes():
        from mrl_eval import api

        as_json = values["as_json"]
        api.stats_settings(*(values[k] for k in ("confidence", "resamples", "seed", "ci_method")))
        _check_mteb_results(values["mteb_task"], values["mteb_results"])
        started = time.monotonic()
        with progress(not as_json) as bars:
            run = api.sweep(**api.sweep_settings(values), progress=bars)
        naming = {"name": values["name"], "overwrite": values["overwrite"]}
        if isinstance(run, api.ModelsRun):
            finish_models(run.report, values["out_dir"], as_json, wide=values["wide"], **naming)
            return
        mteb_files = _write_mteb_results(run, values["mteb_results"], time.monotonic() - started)
        finish(run.report, values["out_dir"], as_json, run.metrics[0], wide=values["wide"], **naming)
        _say_mteb_results(mteb_files, as_json)
        emit_ci("sweep", as_json, report=run.report, primary=run.metrics[0])
        if not as_json:
            out.print(next_step(values["out_dir"], run.report, run.metrics[0]), markup=False)


# What --from replaces: refused when given as flags (a config file's data settings are simply not used).
_DATA_KEYS = ("data", "embeddings", "model", "corpus", "queries", "qrels", "save-runs")
_DATA_KEYS += ("mteb-task", "mteb-subset", "mteb-data", "mteb-results")


@command("recommend")
def recommend(ctx: typer.Context, values: dict[str, Any]) -> None:
    """Recommend the smallest swept dim that meets the rule. Exit 3 if none does (a CI quality gate).

    Examples:

    * --max-drop 10% --rule non-inferior (make demo's bar)
    * --min-ndcg 0.82
    * --metric recall@100 --min 0.9
    * --rule lower-bound --min-ndcg 0.75
    * --from reports/run.json --max-drop 2%
    * --baseline reports/main.json --junit-xml gate.xml
    * several --model, --optimize bytes: the cheapest (model, dim, precision) cell
    """
    with exit_codes():
        from mrl_eval import api

        v = values
        as_json, from_json = v["as_json"], v["from_json"]
        bar = api.Rule.from_options(
            min_ndcg=v["min_ndcg"], min_value=v["min_value"], max_drop=v["max_drop"], kind=v["rule"], metric=v["metric"]
        )
        stats = {k: v[k] for k in ("confidence", "resamples", "seed")} | {"ci_method": v["ci_method"]}
        api.stats_settings(**stats)  # usage errors in the order they were always reported
        plan = api.RecommendPlan.check(
            bar,
            optimize=v["optimize"],
            methods=v["methods"],
            holdout=v["holdout"],
            baseline=v["baseline"],
            baseline_max_drop=v["baseline_max_drop"],
        )
        mteb_files: list[Path] = []
        if from_json is not None:
            if any(given_as_flag(ctx, key) for key in _DATA_KEYS):
                raise UsageError(
                    "--from reads a saved run: drop DATA, --embeddings, --model, --corpus/--queries/--qrels, --mteb-*"
                )
            run = api.load_run(from_json, **stats)
        else:
            _check_mteb_results(v["mteb_task"], v["mteb_results"])
            started = time.monotonic()
            settings = api.sweep_settings(v) | ({"compare": "pca"} if plan.sweeps_pca else {})
            with progress(not as_json) as bars:
                run = api.sweep(**settings, loss_metric=plan.resolved.metric, progress=bars)
            if isinstance(run, api.SweepRun):
                mteb_files = _write_mteb_results(run, v["mteb_results"], time.monotonic() - started)
        plots = v["plot"] if v["plot"] is not None else from_json is None
        naming = {"name": v["name"], "overwrite": v["overwrite"]}
        if isinstance(run, api.ModelsRun):
            chosen_models = plan.apply_models(run, reference=v["reference"])
            finish_models(
                chosen_models.report, v["out_dir"], as_json, plots=plots, wide=v["wide"], **naming, source=from_json
            )
            chosen_models.raise_if_failed()
            return
        chosen = plan.apply(run)
        report = chosen.report
        finish(report, v["out_dir"], as_json, chosen.metric, plots=plots, wide=v["wide"], **naming, source=from_json)
        _say_mteb_results(mteb_files, as_json)
        emit_ci("recommend", as_json, v["junit_xml"], report=report, primary=chosen.metric)
        chosen.raise_if_failed()


@command("compare")
def compare(ctx: typer.Context, values: dict[str, Any]) -> None:
    """Compare two saved runs dim by dim; exit 3 if the gated metric fell more than --max-drop at any shared dim.

    Every metric's delta (current minus baseline), with a paired test where both runs evaluated the same queries.
    Examples: compare reports/main.json reports/run.json · --max-drop 2% --rule non-inferior · --junit-xml gate.xml
    """
    with exit_codes():
        from mrl_eval import api

        paths, baseline = list(values["runs"] or []), values["baseline"]
        if len(paths) == 2 and baseline is not None and given_as_flag(ctx, "baseline"):
            raise UsageError("compare takes BASELINE CURRENT or CURRENT --baseline BASELINE, not both")
        if len(paths) == 1 and baseline is not None:
            paths = [baseline, paths[0]]
        if len(paths) != 2:
            raise UsageError(f"compare needs two runs, BASELINE CURRENT (or CURRENT with --baseline); got {len(paths)}")
        stats = {k: values[k] for k in ("confidence", "resamples", "seed", "ci_method")}
        gate = api.Gate(values["max_drop"], values["rule"], values["metric"])
        comparison = api.compare(paths[0], paths[1], gate, **stats)
        if values["as_json"]:
            sys.stdout.write(json_text(comparison.to_dict(), what="compare --json"))
        else:
            render_comparison(comparison.body)
        emit_ci("compare", values["as_json"], values["junit_xml"], comparison=comparison.body)
        comparison.raise_if_failed()


@config_app.command("show", cls=_Command, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
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
