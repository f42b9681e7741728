"""`sweep()` and `load_run()`: a `SweepRun` from data and vectors, or from a saved report.

`sweep()` takes the same settings as `mrl-eval sweep`, by the same names (`dims`, `metrics`, `precisions`, ...).
Its named parameters are the common ones; any other plain field of `SweepConfig` (`ignore_identical_ids`,
`save_runs`, ...) is accepted as a keyword too, and so are the options of `OPTION_GROUPS`, from which a field that
holds a settings object (`data`, `model`, `grid`, ...) is built. `SWEEP_SETTINGS` is that set of names, derived from
`sweep()`'s signature, `SweepConfig`'s fields and `OPTION_GROUPS`, so the CLI passes exactly those and nothing else
(a new local variable in a command can never become a setting by accident).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mrl_eval import defaults
from mrl_eval.api.model_results import ModelsRun
from mrl_eval.api.progress_bars import Progress, reporting
from mrl_eval.api.results import SweepRun, from_report, save_trec_runs
from mrl_eval.engines import ENGINE_KEYS
from mrl_eval.engines import settings_from_options as engine_settings_from_options
from mrl_eval.errors import UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.growth import GrowthSettings
from mrl_eval.evaluate.ray_search import RaySettings
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.methods.grid import GridSettings
from mrl_eval.methods.precision import parse_precisions
from mrl_eval.pipeline.models import run_models
from mrl_eval.pipeline.run import SweepOutcome, run
from mrl_eval.pipeline.settings import OLD_DATA_NAMES, DataSettings, ModelSettings, SweepConfig
from mrl_eval.pipeline.to_report import build_report
from mrl_eval.progress import ProgressFactory
from mrl_eval.providers import split_provider
from mrl_eval.report.document import load_any, restated
from mrl_eval.report.models_report import ModelsReport
from mrl_eval.report.ownership import check_name

# SweepConfig fields sweep() builds itself from its own parameters, never taken as they are
_DERIVED = ("stats", "metrics", "loss_metric")


def stats_settings(
    confidence: float = defaults.CONFIDENCE,
    resamples: int = defaults.RESAMPLES,
    seed: int = defaults.SEED,
    ci_method: str = defaults.CI_METHOD,
) -> StatsSettings:
    """The bootstrap settings, checked (`UsageError` names the bad option)."""
    return StatsSettings(confidence, resamples, seed, ci_method).check()


GRID_OPTIONS = ("precisions", "compare", "pca_fit_sample", "safety_margin", "two_stage", "shortlist", "scale")


def grid_from_options(options: dict[str, Any]) -> GridSettings:
    """Take the grid options (`--precisions`, `--compare pca`, `--two-stage`, ...) out of `options`, checked."""
    values = {name: options.pop(name, None) for name in GRID_OPTIONS}
    method = (values["compare"] or "").strip().lower()
    if method not in ("", "pca"):
        raise UsageError(f"--compare {values['compare']!r}: the one comparison is pca")
    return GridSettings(
        precisions=tuple(parse_precisions(_joined(values["precisions"]) or defaults.PRECISIONS)),
        compare_pca=method == "pca",
        pca_fit_sample=values["pca_fit_sample"],
        safety_margin=defaults.SAFETY_MARGIN if values["safety_margin"] is None else values["safety_margin"],
        two_stage=values["two_stage"],
        shortlists=values["shortlist"],
        scale=values["scale"],
    ).check()


GROWTH_OPTIONS = ("growth", "growth_seeds")


def growth_from_options(options: dict[str, Any]) -> GrowthSettings | None:
    """Take `--growth` and `--growth-seeds` out of `options` (the projection targets are `--scale`'s sizes, read,
    not taken: the grid takes them)."""
    growth, seeds = options.pop("growth", False), options.pop("growth_seeds", None)
    if not growth:
        if seeds is not None:
            raise UsageError("--growth-seeds goes with --growth")
        return None
    return GrowthSettings(seeds=5 if seeds is None else seeds, scale=options.get("scale")).check()


RAY_OPTIONS = ("ray", "ray_address", "ray_cpus", "ray_shard_rows", "ray_workers", "ray_gpus_per_worker")


def ray_from_options(options: dict[str, Any]) -> RaySettings:
    """Take the Ray options (`--ray`, `--ray-address`, `--ray-cpus`, `--ray-workers`, ...) out of `options`, checked."""
    values = {name: options.pop(name, None) for name in RAY_OPTIONS}
    return RaySettings(
        enabled=bool(values["ray"]),
        address=values["ray_address"],
        num_cpus=values["ray_cpus"],
        shard_rows=values["ray_shard_rows"],
        workers=values["ray_workers"],
        gpus_per_worker=values["ray_gpus_per_worker"] or 0.0,
    ).check()


def _fields_of(cls: type, renamed: dict[str, str] | None = None) -> tuple[str, ...]:
    """A settings group's option names: its fields, `renamed` where the option has another name."""
    renamed = renamed or {}
    return tuple(renamed.get(f.name, f.name) for f in dataclasses.fields(cls))


DATA_OPTIONS = _fields_of(DataSettings, {"folder": "data"}) + tuple(OLD_DATA_NAMES)
MODEL_OPTIONS = _fields_of(ModelSettings)


def data_from_options(options: dict[str, Any]) -> DataSettings:
    """Take the data options (DATA, `--corpus`, `--queries`, `--qrels`, `--split`, `--mteb-task`, ...) out of
    `options`; paths become `Path`s."""
    values = {name: options.pop(name) for name in DATA_OPTIONS if name in options}
    values["folder"] = values.pop("data", None)
    for old, new in OLD_DATA_NAMES.items():  # the corpus's columns by their old names
        value = values.pop(old, None)
        if value is not None and values.get(new) not in (None, value):
            raise UsageError(f"{old}={value!r}: it is the old name of {new}, given too; give one")
        values[new] = value if value is not None else values.get(new)
    return DataSettings(**_paths(DataSettings, values))


def models_from_options(options: dict[str, Any]) -> tuple[ModelSettings, ...]:
    """Take the model options (`--embeddings`, `--model`, `--provider`, prompts, cache, API settings) out of
    `options`: one `ModelSettings` per model (`model` and `embeddings` may each name several; a model written
    `openai:NAME` uses that provider), the other options shared; paths become `Path`s. No model and no vectors:
    the bundled default model."""
    values = {name: options.pop(name) for name in MODEL_OPTIONS if name in options}
    names, folders = _several(values.pop("model", None)), _several(values.pop("embeddings", None))
    backend = values.pop("backend", None)
    backends = [b.strip() or None for b in str(backend).split(",")] if backend else [None]
    shared = _paths(ModelSettings, values)
    provider = shared.pop("provider", ModelSettings.provider)
    named = [split_provider(str(n), provider) for n in names] or ([] if folders else [(provider, None)])
    # each local model on each backend: --backend torch,onnx compares a model's backends on the same queries
    models = [
        ModelSettings(**shared, provider=p, model=m, backend=b if p == defaults.PROVIDER else None)
        for p, m in named
        for b in (backends if p == defaults.PROVIDER else [None])
    ]
    models += [ModelSettings(**shared, provider=provider, embeddings=Path(f)) for f in folders]
    return tuple(models)


def _several(value: Any) -> list[Any]:
    """None, one value, or a list/tuple of them, as a list."""
    if value is None:
        return []
    return [v for v in value if v is not None] if isinstance(value, (list, tuple)) else [value]


def _paths(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the fields annotated as paths turned into `Path`s (None stays None)."""
    is_path = {f.name: "Path" in str(f.type) for f in dataclasses.fields(cls)}
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    out = {}
    for name, value in values.items():
        if value is None:
            value = defaults[name]
        out[name] = Path(value) if is_path[name] and value is not None else value
    return out


# SweepConfig fields built from several options: field -> (the options, a builder that takes them out of the
# settings not used yet and returns the field's value). Builders run in this order; a later one may read (not take)
# an option an earlier one left. A feature whose settings object needs several options adds its entry here.
OPTION_GROUPS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Any]]] = {
    "data": (DATA_OPTIONS, data_from_options),
    "model": (MODEL_OPTIONS, models_from_options),
    "growth": (GROWTH_OPTIONS, growth_from_options),  # first: it reads --scale, which the grid takes
    "grid": (GRID_OPTIONS, grid_from_options),
    "ray": (RAY_OPTIONS, ray_from_options),
    "engine": (ENGINE_KEYS, engine_settings_from_options),
}


def _slug(name: str) -> str:
    """A model's name as a folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower() or "model"


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
    embeddings: str | Path | Sequence[str | Path] | None = None,
    model: str | Sequence[str] | None = None,
    reference: str | None = None,
    dims: str | Sequence[str | int] | None = None,
    metrics: str | Sequence[str] | None = None,
    precisions: str | Sequence[str] | None = defaults.PRECISIONS,
    compare: str | None = None,
    pca_fit_sample: str | None = None,
    safety_margin: float | None = defaults.SAFETY_MARGIN,
    two_stage: str | None = None,
    shortlist: str | None = defaults.SHORTLISTS,
    scale: str | None = None,
    confidence: float = defaults.CONFIDENCE,
    resamples: int = defaults.RESAMPLES,
    seed: int = defaults.SEED,
    ci_method: str = defaults.CI_METHOD,
    loss_metric: str | None = None,
    name: str | None = None,
    overwrite: bool = False,
    progress: Progress = None,
    **settings: Any,
) -> SweepRun | ModelsRun:
    """Embed once at full size (or read precomputed vectors), evaluate every prefix dim, and return the run.

    With no arguments: the bundled Cranfield sample with the bundled all-MiniLM-L6-v2 model.

    - `data`: a BEIR-style folder (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`), or None for the sample;
    - `embeddings`: a folder of precomputed full-size vectors (`corpus.npy`, `corpus_ids.txt`, `queries.npy`,
      `queries_ids.txt`): no model runs; `model`: the model to embed with otherwise (`openai:NAME` for an
      OpenAI-compatible one). Several models (a list in `model` and/or `embeddings`) are each embedded once and
      swept on the same queries, and the result is a `ModelsRun`: every model's run and the comparison across
      them, each cell against `reference` (a model's name; default: the best model at full size);
    - `dims`: `"64,128,25%"` or `[64, 128, "25%"]` (the full dim is always added); `metrics`: `"ndcg@10,recall@100"`
      or a list (the first is the primary metric);
    - `precisions`, `compare="pca"`, `two_stage`, `shortlist`, `scale`, ...: the grid beyond float32 prefixes;
    - `confidence`, `resamples`, `seed`, `ci_method`: the bootstrap over queries;
    - `loss_metric`: the metric of the per-query losses (added to `metrics` if missing; default: the primary);
    - `name`, `overwrite`: the name of the `save_runs` files (`<name>.d<dim>.trec`; default `<data>__<model>`), and
      whether they may replace files of that name another run wrote (`SweepRun.save` takes the same for reports);
    - `progress`: `True` draws progress bars on stderr, `False` none; the default draws them when stderr is a
      terminal; or a callable `progress(label, total)` returning `advance(n)`, to report progress yourself;
    - any other `mrl-eval sweep` setting by its option name (`corpus=`, `queries=`, `qrels=`, `split=`,
      `provider=`, `cache_dir=`, `ignore_identical_ids=`, `save_runs=` (a folder for one TREC run file per dim),
      ...).

    Raises `MrlEvalError` (or its `UsageError`) on a problem with the input, naming it and the fix.
    """
    unknown = sorted(set(settings) - _CONFIG_SETTINGS - _GROUPED)
    if unknown:
        raise UsageError(
            f"sweep(): unknown setting {', '.join(map(repr, unknown))}; the settings are {', '.join(sorted(SWEEP_SETTINGS))}"
        )
    stats = stats_settings(confidence, resamples, seed, ci_method)
    if name is not None:
        check_name(name)  # before any slow work
    options = dict(
        settings,
        data=data,
        embeddings=embeddings,
        model=model,
        precisions=precisions,
        compare=compare,
        pca_fit_sample=pca_fit_sample,
        safety_margin=safety_margin,
        two_stage=two_stage,
        shortlist=shortlist,
        scale=scale,
    )
    built = {name: build(options) for name, (_, build) in OPTION_GROUPS.items()}
    models = built.pop("model")
    # no metrics: the mode's defaults, chosen once the data shows whether it has qrels (label-free without)
    metric_names = M.parse_metrics(metrics) if metrics else []
    if loss_metric is not None:
        loss_metric = M.parse_metrics(loss_metric)[0]
        if metric_names and loss_metric not in metric_names:
            metric_names.append(loss_metric)
    paths = {k: Path(v) for k, v in options.items() if v is not None and _PATH_FIELDS.get(k)}
    config = SweepConfig(
        **{**options, **paths, **built},
        model=models[0],
        dims=_joined(dims),
        metrics=tuple(metric_names),
        stats=stats,
        loss_metric=loss_metric or (metric_names[0] if metric_names else ""),
    )
    with reporting(progress) as factory:
        return _run(config, models, factory, reference, name=name, overwrite=overwrite)


def _run(
    config: SweepConfig,
    models: Sequence[ModelSettings],
    progress: ProgressFactory,
    reference: str | None,
    *,
    name: str | None,
    overwrite: bool,
) -> SweepRun | ModelsRun:
    if len(models) > 1:
        outcome = run_models(config, models, progress)
        if config.save_runs is not None:
            for model_name, one in zip(outcome.names, outcome.outcomes):
                save_trec_runs(one, config.save_runs / _slug(model_name), name=name, overwrite=overwrite)
        return ModelsRun.of(outcome, reference)
    if reference is not None:
        raise UsageError("--reference names one of several models; this run has one")
    output = run(config, progress)
    if config.save_runs is not None:
        save_trec_runs(output, config.save_runs, name=name, overwrite=overwrite)
    return from_output(output)


def from_output(output: SweepOutcome) -> SweepRun:
    """The `SweepRun` of a finished pipeline run."""
    return from_report(build_report(output, "sweep"), output.config.stats, output=output)


def load_run(
    path: str | Path,
    *,
    confidence: float = defaults.CONFIDENCE,
    resamples: int = defaults.RESAMPLES,
    seed: int = defaults.SEED,
    ci_method: str = defaults.CI_METHOD,
) -> SweepRun | ModelsRun:
    """A saved report (`reports/<run>.json`, written by `mrl-eval sweep` or `SweepRun.save()`) as a `SweepRun`
    (a report of several models as a `ModelsRun`),
    with its statistics recomputed from its per-query values under these bootstrap settings (as `mrl-eval
    recommend --from` does). A report without per-query values loads with point estimates only.

    Raises `MrlEvalError` naming the file if it is missing, unreadable or not an mrl-eval report.
    """
    path = Path(path)
    stats = stats_settings(confidence, resamples, seed, ci_method)
    saved = load_any(path)
    if isinstance(saved, ModelsReport):
        return ModelsRun.saved(saved, stats, path)
    return from_report(restated(saved, stats), stats, path=path)


def sweep_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `values` (a command's parameters) that are sweep settings, and only those."""
    return {name: values[name] for name in sorted(SWEEP_SETTINGS) if name in values}


def _config_fields() -> dict[str, bool]:
    """SweepConfig's fields set as they are -> whether the field holds a path."""
    fields = dataclasses.fields(SweepConfig)
    return {f.name: "Path" in str(f.type) for f in fields if f.name not in _DERIVED and f.name not in OPTION_GROUPS}


_PATH_FIELDS = _config_fields()
_CONFIG_SETTINGS = frozenset(_PATH_FIELDS)
_GROUPED = frozenset(name for names, _ in OPTION_GROUPS.values() for name in names)
_PARAMETERS = [p.name for p in inspect.signature(sweep).parameters.values() if p.kind is not p.VAR_KEYWORD]
SWEEP_SETTINGS = frozenset(_CONFIG_SETTINGS | _GROUPED | set(_PARAMETERS) - {"progress"})
