"""A run of several models on one collection: the collection is loaded once, each model is embedded once (through
the shared cache) and swept on the same queries, each with its own dims (25/50/100% of its own size unless `--dims`
says otherwise; an absolute dim above a model's size is left out for that model, with a warning)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mrl_eval.data.pre_truncate import check_pre_truncate
from mrl_eval.errors import UsageError
from mrl_eval.pipeline.run import SweepOutcome, prepare, run_model
from mrl_eval.pipeline.settings import ModelSettings, SweepConfig
from mrl_eval.progress import ProgressFactory, no_progress

MAX_MODELS = 16


@dataclass(frozen=True)
class ModelsOutcome:
    """Every model's sweep on the same collection and queries, in the order the models were given; `names` are
    the models' names in this run (unique: a name two models share gets what tells them apart)."""

    config: SweepConfig
    outcomes: tuple[SweepOutcome, ...]
    names: tuple[str, ...]


def check_models(models: Sequence[ModelSettings]) -> None:
    if not models:
        raise UsageError("give at least one model: --model NAME or --embeddings DIR")
    if len(models) > MAX_MODELS:
        raise UsageError(f"{len(models)} models in one run: at most {MAX_MODELS}; split the comparison into runs")
    seen = set()
    for m in models:
        key = (m.provider, m.model, str(m.embeddings) if m.embeddings else None, m.pre_truncate, _variant(m))
        if key in seen:
            what = m.model or m.embeddings
            raise UsageError(f"{what} is given twice; give each model once")
        seen.add(key)


def _variant(model: ModelSettings) -> str:
    """What sets apart two entries of the same model (a backend, a pre-truncation), "" when nothing does."""
    parts = [str(getattr(model, "backend", "") or "")]
    if model.pre_truncate != "none":
        parts.append(model.pre_truncate)
    return "+".join(p for p in parts if p and p != "torch")


def unique_names(outcomes: Sequence[SweepOutcome]) -> tuple[str, ...]:
    """Each model's display name; where two share one, what sets them apart (backend, pre-truncation, folder)."""
    names = [str(o.model.get("name") or "model") for o in outcomes]
    out = []
    for name, outcome in zip(names, outcomes):
        if names.count(name) == 1:
            out.append(name)
            continue
        model = outcome.config.model
        detail = _variant(model) or (str(model.embeddings) if model.embeddings else model.provider)
        out.append(f"{name} ({detail})")
    if len(set(out)) < len(out):  # still alike: number them in the order given
        out = [f"{name} #{i + 1}" for i, name in enumerate(out)]
    return tuple(out)


def run_models(
    config: SweepConfig, models: Sequence[ModelSettings], progress: ProgressFactory = no_progress
) -> ModelsOutcome:
    """Sweep every model of `models` on the collection of `config`, loading it once."""
    check_models(models)
    for model in models:  # every model's settings before the first one runs
        check_pre_truncate(model.pre_truncate)
    prepared = prepare(replace(config, model=models[0]), embeds=any(m.embeddings is None for m in models))
    outcomes = tuple(run_model(prepared, model, progress, skip_larger_dims=True) for model in models)
    return ModelsOutcome(prepared.config, with_agreement(outcomes), unique_names(outcomes))


def with_agreement(outcomes: Sequence[SweepOutcome]) -> tuple[SweepOutcome, ...]:
    """Where one model ran on several backends, each non-torch run's agreement with the torch run (or the first):
    the mean cosine of the two backends' full-size vectors of the same texts, documents and queries apart. Its
    quality at every dim is in the comparison, paired per query."""
    by_model: dict[tuple[str, str], list[int]] = {}
    for i, o in enumerate(outcomes):
        by_model.setdefault((str(o.model.get("provider")), str(o.model.get("name"))), []).append(i)
    out = list(outcomes)
    for group in by_model.values():
        if len(group) < 2:
            continue
        first = next((i for i in group if (outcomes[i].config.model.backend or "torch") == "torch"), group[0])
        for i in group:
            if i == first:
                continue
            a, b = outcomes[first].vectors, outcomes[i].vectors
            if a is None or b is None:
                continue
            agreement = {
                "with": outcomes[first].config.model.backend or "torch",
                "documents_mean_cosine": mean_cosine(a.docs, b.docs),
                "queries_mean_cosine": mean_cosine(a.queries, b.queries),
            }
            out[i] = replace(outcomes[i], model={**outcomes[i].model, "agreement": agreement})
    return tuple(out)


def mean_cosine(a: np.ndarray, b: np.ndarray, block: int = 8192) -> float:
    """The mean over rows of the cosine between row i of `a` and row i of `b`, in float64, block by block."""
    total, n = 0.0, a.shape[0]
    for s in range(0, n, block):
        x, y = np.asarray(a[s : s + block], np.float64), np.asarray(b[s : s + block], np.float64)
        norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
        total += float(np.sum(np.divide(np.einsum("ij,ij->i", x, y), norms, out=np.zeros(len(x)), where=norms > 0)))
    return total / n if n else 1.0
