"""Open the engine a sweep asked for (through the registry), measure every cell in it, and close it (stopping a
throwaway server)."""

from __future__ import annotations

from collections.abc import Sequence

from mrl_eval.engines import EngineResult, EngineSettings, engine_class
from mrl_eval.engines.evaluate import evaluate_engine
from mrl_eval.evaluate.inputs import ScoringInputs
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.progress import ProgressFactory, no_progress


def measure(
    settings: EngineSettings,
    inputs: ScoringInputs,
    *,
    dims: Sequence[int],
    precisions: Sequence[str],
    reference_per_query: dict[str, dict[str, float]],
    stats: StatsSettings | None,
    progress: ProgressFactory = no_progress,
) -> EngineResult:
    """Every cell of `inputs` inside the engine `settings` name; `reference_per_query` is exact full-dim search. A
    missing extra is named by the engine's own lazy import."""
    engine = engine_class(settings.engine).open(settings, inputs.docs, inputs.queries)
    try:
        return evaluate_engine(
            engine,
            settings,
            inputs,
            dims=dims,
            precisions=precisions,
            reference_per_query=reference_per_query,
            stats=stats,
            progress=progress,
        )
    finally:
        engine.close()
