"""mrl-eval's Python API: sweep, recommend, compare, and load a saved run, with typed results.

```python
import mrl_eval

run = mrl_eval.sweep("data/scifact", embeddings="data/scifact/embeddings/my-model", dims="64,128,256")
rec = mrl_eval.recommend(run, mrl_eval.Rule(max_drop="2%", kind="non-inferior"))
rec.dim, rec.to_frame(), rec.save("reports")
gate = mrl_eval.compare("reports/main.json", run, mrl_eval.Gate(max_drop=0.01))
```

The CLI is a thin layer over these functions: each command parses its options, calls one of them and renders
the result. See docs/api.md.
"""

from mrl_eval.api.deciding import RecommendPlan, compare, recommend
from mrl_eval.api.model_results import ModelsRecommendation, ModelsRun, recommend_models
from mrl_eval.api.results import Comparison, Recommendation, SweepRun
from mrl_eval.api.rules import Gate, Rule
from mrl_eval.api.sweeping import SWEEP_SETTINGS, load_run, stats_settings, sweep, sweep_settings
from mrl_eval.errors import GateFailed, MrlEvalError, UsageError

__all__ = [
    "SWEEP_SETTINGS",
    "Comparison",
    "ModelsRecommendation",
    "ModelsRun",
    "Gate",
    "GateFailed",
    "MrlEvalError",
    "RecommendPlan",
    "Recommendation",
    "Rule",
    "SweepRun",
    "UsageError",
    "compare",
    "load_run",
    "recommend",
    "recommend_models",
    "stats_settings",
    "sweep",
    "sweep_settings",
]
