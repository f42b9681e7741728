"""mrl-eval: embed once at full size, sweep Matryoshka prefix dimensions, measure retrieval quality.

The public API (documented in docs/api.md):

- `sweep(data, embeddings=..., model=..., dims=..., metrics=..., precisions=..., ...) -> SweepRun`
- `load_run(path) -> SweepRun`: a saved report
- `recommend(run, Rule(...)) -> Recommendation`
- `compare(baseline, current, Gate(...)) -> Comparison`
- the errors: `MrlEvalError` (a problem the user can fix), `UsageError` (a bad option), `GateFailed`

Importing `mrl_eval` is cheap: the names above are loaded on first use (PEP 562), so `import mrl_eval` and
`mrl-eval --help` import no numpy, pandas, torch or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mrl_eval.version import __version__

# public name -> the module that defines it
_API = {
    "sweep": "mrl_eval.api.sweeping",
    "load_run": "mrl_eval.api.sweeping",
    "recommend": "mrl_eval.api.deciding",
    "compare": "mrl_eval.api.deciding",
    "Rule": "mrl_eval.api.rules",
    "Gate": "mrl_eval.api.rules",
    "SweepRun": "mrl_eval.api.results",
    "Recommendation": "mrl_eval.api.results",
    "Comparison": "mrl_eval.api.results",
    "MrlEvalError": "mrl_eval.errors",
    "UsageError": "mrl_eval.errors",
    "GateFailed": "mrl_eval.errors",
}

__all__ = [
    "Comparison",
    "Gate",
    "GateFailed",
    "MrlEvalError",
    "Recommendation",
    "Rule",
    "SweepRun",
    "UsageError",
    "__version__",
    "compare",
    "load_run",
    "recommend",
    "sweep",
]

if TYPE_CHECKING:
    from mrl_eval.api.deciding import compare, recommend
    from mrl_eval.api.results import Comparison, Recommendation, SweepRun
    from mrl_eval.api.rules import Gate, Rule
    from mrl_eval.api.sweeping import load_run, sweep
    from mrl_eval.errors import GateFailed, MrlEvalError, UsageError


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # the next access skips this function
        return value
    raise AttributeError(f"module 'mrl_eval' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
