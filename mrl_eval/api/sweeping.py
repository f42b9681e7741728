"""`sweep()` and `load_run()`: a `SweepRun` from data and vectors, or from a saved report.

`sweep()` takes the same settings as `mrl-eval sweep`, by the same names (`dims`, `metrics`, `precisions`, ...).
Its named parameters are the common ones; any other field of `SweepConfig` (`corpus`, `provider`, `cache_dir`,
...) is accepted as a keyword too, and so are the options of `OPTION_GROUPS`, from which a field that holds a
settings object (`grid`) is built. `SWEEP_SETTINGS` is that set of names, derived from `sweep()`'s signature,
`SweepConfig`'s fields and `OPTION_GROUPS`, so the CLI passes exactly those and nothing else (a new local variable
in a command can never become a setting by accident).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrl_eval.api.results import SweepRun
from mrl_eval.engines import ENGINE_KEYS
from mrl_eval.engines import settings_from_options as engine_settings_from_options
from mrl_eval.errors import UsageError

if TYPE_CHECKING:
    from mrl_eval.evaluate.growth import GrowthSettings
    from mrl_eval.evaluate.ray_search import RaySettings
    from mrl_eval.evaluate.stats import StatsSettings
    from mrl_eval.methods.grid import GridSettings

# progress(label, total) -> advance(n): a caller's progress bar (the CLI draws rich bars on stderr)
ProgressFactory = Callable[[str, int], Callable[[int], None]]

# SweepConfig fields sweep() builds itself from its own parameters, never taken as they are
_DERIVED = ("stats", "metrics", "loss_metric")


def stats_settings(
    confidence: float = 0.95, resamples: int = 10_000, seed: int = 0, ci_method: str = "bca"
) -> StatsSettings:
    """The bootstrap settings, checked (`UsageError` names the bad option)."""
    from mrl_eval.evaluate.stats import StatsSettings

    return StatsSettings(confidence, resamples, seed, ci_method).check()


GRID_OPTIONS = ("precisions", "compare", "pca_fit_sample", "safety_margin", "two_stage", "shortlist", "scale")


def grid_from_options(options: dict[str, Any]) -> GridSettings:
    """Take the grid options (`--precisions`, `--compare pca`, `--two-stage`, ...) out of `options`, checked."""
    from mrl_eval.methods.grid import GridSettings
    from mrl_eval.methods.precision import parse_precisions

    values = {name: options.pop(name, None) for name in GRID_OPTIONS}
    method = (values["compare"] or "").strip().lower()
    if method not in ("", "pca"):
        raise UsageError(f"--compare {values['compare']!r}: the one comparison is pca")
    return GridSettings(
        precisions=tuple(parse_precisions(_joined(values["precisions"]) or "float32")),
        compare_pca=method == "pca",
        pca_fit_sample=values["pca_fit_sample"],
        safety_margin=0.01 if values["safety_margin"] is None else values["safety_margin"],
        two_stage=values["two_stage"],
        shortlists=values["shortlist"],
        scale=values["scale"],
    ).check()


GROWTH_OPTIONS = ("growth", "growth_seeds")


def growth_from_options(options: dict[str, Any]) -> GrowthSettings | None:
    """Take `--growth` and `--growth-seeds` out of `options` (the projection targets are `--scale`'s sizes, read,
    not taken: the grid takes them)."""
    from mrl_eval.evaluate.growth import GrowthSettings

    growth, seeds = options.pop("growth", False), options.pop("growth_seeds", None)
    if not growth:
        if seeds is not None:
            raise UsageError("--growth-seeds goes with --growth")
        return None
    return GrowthSettings(seeds=5 if seeds is None else seeds, scale=options.get("scale")).check()


RAY_OPTIONS = ("ray", "ray_address", "ray_cpus", "ray_shard_rows", "ray_workers", "ray_gpus_per_worker")


def ray_from_options(options: dict[str, Any]) -> RaySettings:
    """Take the Ray options (`--ray`, `--ray-address`, `--ray-cpus`, `--ray-workers`, ...) out of `options`, checked."""
    from mrl_eval.evaluate.ray_search import RaySettings

    values = {name: options.pop(name, None) for name in RAY_OPTIONS}
    return RaySettings(
        enabled=bool(values["ray"]),
        address=values["ray_address"],
        num_cpus=values["ray_cpus"],
        shard_rows=values["ray_shard_rows"],
        workers=values["ray_workers"],
        gpus_per_worker=values["ray_gpus_per_worker"] or 0.0,
    ).check()


# SweepConfig fields built from several options: field -> (the options, a builder that takes them out of the
# settings not used yet and returns the field's value). Builders run in this order; a later one may read (not take)
# an option an earlier one left. A feature whose settings object needs several options adds its entry here.
OPTION_GROUPS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Any]]] = {
    "growth": (GROWTH_OPTIONS, growth_from_options),  # first: it reads --scale, which the grid takes
    "grid": (GRID_OPTIONS, grid_from_options),
    "ray": (RAY_OPTIONS, ray_from_options),
    "engine": (ENGINE_KEYS, engine_settings_from_options),
}


def _joined(value: str | int | Sequence[str | int] | None) -> str | None:
    """`[64, 128, "25%"]` -> "64,128,25%", as the option reads it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return ",".join(str(v) for v in value)


def sweep(
    data: str | Path | None = None,
    *,
    embeddings: str | Path | None = None,
    model: str | None = None,
    dims: str | Sequence[str | int] | None = None,
    metrics: str | Sequence[str] | None = None,
    precisions: str | Sequence[str] | None = "float32",
    compare: str | None = None,
    pca_fit_sample: str | None = None,
    safety_margin: float | None = 0.01,
    two_stage: str | None = None,
    shortlist: str | None = "100,200,1000",
    scale: str | None = None,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
    ci_method: str = "bca",
    loss_metric: str | None = None,
    name: str | None = None,
    overwrite: bool = False,
    progress: ProgressFactory | None = None,
    **settings: Any,
) -> SweepRun:
    """Embed once at full size (or read precomputed vectors), evaluate every prefix dim, and return the run.

    With no arguments: the bundled Cranfield sample with the bundled all-MiniLM-L6-v2 model.

    - `data`: a BEIR-style folder (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`), or None for the sample;
    - `embeddings`: a folder of precomputed full-size vectors (`corpus.npy`, `corpus_ids.txt`, `queries.npy`,
      `queries_ids.txt`): no model runs; `model`: the model to embed with otherwise;
    - `dims`: `"64,128,25%"` or `[64, 128, "25%"]` (the full dim is always added); `metrics`: `"ndcg@10,recall@100"`
      or a list (the first is the primary metric);
    - `precisions`, `compare="pca"`, `two_stage`, `shortlist`, `scale`, ...: the grid beyond float32 prefixes;
    - `confidence`, `resamples`, `seed`, `ci_method`: the bootstrap over queries;
    - `loss_metric`: the metric of the per-query losses (added to `metrics` if missing; default: the primary);
    - `name`, `overwrite`: the name of the `save_runs` files (`<name>.d<dim>.trec`; default `<data>__<model>`), and
      whether they may replace files of that name another run wrote (`SweepRun.save` takes the same for reports);
    - `progress`: `progress(label, total)` returning `advance(n)`, for a progress bar;
    - any other `mrl-eval sweep` setting by its option name (`corpus=`, `queries=`, `qrels=`, `split=`,
      `provider=`, `cache_dir=`, `ignore_identical_ids=`, `save_runs=` (a folder for one TREC run file per dim),
      ...).

    Raises `MrlEvalError` (or its `UsageError`) on a problem with the input, naming it and the fix.
    """
    from mrl_eval.evaluate import metrics as M
    from mrl_eval.evaluate.sweep import SweepConfig, run

    unknown = sorted(set(settings) - _CONFIG_SETTINGS - _GROUPED)
    if unknown:
        raise UsageError(
            f"sweep(): unknown setting {', '.join(map(repr, unknown))}; the settings are {', '.join(sorted(SWEEP_SETTINGS))}"
        )
    stats = stats_settings(confidence, resamples, seed, ci_method)
    if name is not None:
        from mrl_eval.report.ownership import check_name

        check_name(name)  # before any slow work
    options = dict(
        settings,
        precisions=precisions,
        compare=compare,
        pca_fit_sample=pca_fit_sample,
        safety_margin=safety_margin,
        two_stage=two_stage,
        shortlist=shortlist,
        scale=scale,
    )
    built = {name: build(options) for name, (_, build) in OPTION_GROUPS.items()}
    # no metrics: the mode's defaults, chosen once the data shows whether it has qrels (label-free without)
    metric_names = M.parse_metrics(metrics) if metrics else []
    if loss_metric is not None:
        loss_metric = M.parse_metrics(loss_metric)[0]
        if metric_names and loss_metric not in metric_names:
            metric_names.append(loss_metric)
    paths = {k: Path(v) for k, v in options.items() if v is not None and _PATH_FIELDS.get(k)}
    config = SweepConfig(
        **{**options, **paths, **built},
        data=Path(data) if data is not None else None,
        embeddings=Path(embeddings) if embeddings is not None else None,
        model=model,
        dims=_joined(dims),
        metrics=tuple(metric_names),
        stats=stats,
        loss_metric=loss_metric or (metric_names[0] if metric_names else ""),
    )
    output = run(config, progress) if progress is not None else run(config)
    if config.save_runs is not None:
        from mrl_eval.report.document import write_trec_runs

        write_trec_runs(output, config.save_runs, name=name, overwrite=overwrite)
    return from_output(output)


def from_output(output: Any) -> SweepRun:
    """The `SweepRun` of a finished `evaluate.sweep.run()`."""
    from mrl_eval.report.document import build_report

    result = output.sweep
    grid = result.grid
    return SweepRun(
        results=list(result.results),
        cells=list(grid.cells) if grid is not None else [],
        two_stage=list(grid.two_stage) if grid is not None else [],
        per_query=result.per_query,
        query_ids=list(result.query_ids),
        stats=output.config.stats,
        report=build_report(output, "sweep"),
        output=output,
    )


def load_run(
    path: str | Path,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
    ci_method: str = "bca",
) -> SweepRun:
    """A saved report (`reports/<run>.json`, written by `mrl-eval sweep` or `SweepRun.save()`) as a `SweepRun`,
    with its statistics recomputed from its per-query values under these bootstrap settings (as `mrl-eval
    recommend --from` does). A report without per-query values loads with point estimates only.

    Raises `MrlEvalError` naming the file if it is missing, unreadable or not an mrl-eval report.
    """
    from mrl_eval.report.document import load_report, restated

    path = Path(path)
    stats = stats_settings(confidence, resamples, seed, ci_method)
    saved = restated(load_report(path), stats)
    return SweepRun(
        results=list(saved.results),
        cells=list(saved.cells),
        two_stage=list(saved.two_stage_rows),
        per_query=saved.per_query or {},
        query_ids=list(saved.query_ids),
        stats=stats,
        report=saved,
        path=path,
    )


def sweep_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `values` (a command's parameters) that are sweep settings, and only those."""
    return {name: values[name] for name in sorted(SWEEP_SETTINGS) if name in values}


def _config_fields() -> dict[str, bool]:
    """SweepConfig's fields set as they are -> whether the field holds a path."""
    from mrl_eval.evaluate.sweep import SweepConfig

    fields = dataclasses.fields(SweepConfig)
    return {f.name: "Path" in str(f.type) for f in fields if f.name not in _DERIVED and f.name not in OPTION_GROUPS}


_PATH_FIELDS = _config_fields()
_CONFIG_SETTINGS = frozenset(_PATH_FIELDS)
_GROUPED = frozenset(name for names, _ in OPTION_GROUPS.values() for name in names)
_PARAMETERS = [p.name for p in inspect.signature(sweep).parameters.values() if p.kind is not p.VAR_KEYWORD]
SWEEP_SETTINGS = frozenset(_CONFIG_SETTINGS | _GROUPED | set(_PARAMETERS) - {"progress"})
