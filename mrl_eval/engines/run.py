"""Open the engine a sweep asked for, measure every cell in it, and close it (stopping a throwaway server)."""

from __future__ import annotations

from mrl_eval.engines import EngineInputs, EngineResult, EngineSettings, engine_class


def measure(settings: EngineSettings, inputs: EngineInputs) -> EngineResult:
    """Every cell of `settings.engine` on `inputs` (a missing extra is named by the engine's own lazy import)."""
    from mrl_eval.engines.evaluate import evaluate_engine

    engine = engine_class(settings.engine).open(settings, inputs.docs, inputs.queries)
    try:
        return evaluate_engine(engine, settings, inputs)
    finally:
        engine.close()
