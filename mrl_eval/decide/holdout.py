"""The held-out check of a recommendation (`--holdout`): choose on a random part of the queries, the way the
recommendation chose, then score that choice on the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from mrl_eval.decide.recommend import CheckedRule, recommend, recommend_cell
from mrl_eval.evaluate.results import dim_results
from mrl_eval.evaluate.stats import StatsSettings, holdout_split, summarize
from mrl_eval.methods.grid import cell_label


@dataclass(frozen=True)
class HoldoutCheck:
    """What was chosen on the selection queries, and (when something was) how it scores on the test queries."""

    fraction: float
    seed: int
    n_select: int
    n_test: int
    dim: int | None
    method: str
    precision: str
    label: str | None
    select_value: float | None
    select_threshold: float
    test_full_value: float
    test_value: float | None = None
    test_ci: tuple[float, float] | None = None
    test_threshold: float | None = None
    meets_rule_on_test: bool | None = None

    def to_dict(self) -> dict:
        """As the report stores it: the test-side fields only when something was chosen."""
        out = asdict(self)
        if self.dim is None:
            for key in ("test_value", "test_ci", "test_threshold", "meets_rule_on_test"):
                del out[key]
        elif self.test_ci is not None:
            out["test_ci"] = list(self.test_ci)
        return out


def holdout_check(
    per_query: dict[int, dict[str, dict[str, float]]],
    full_dim: int,
    query_ids: list[str],
    rule: CheckedRule,
    settings: StatsSettings,
    fraction: float,
    n_docs: int,
    *,
    cells: Sequence | None = None,
    cell_values: dict[str, dict[str, dict[str, float]]] | None = None,
    optimize: str = "dim",
    methods: Sequence[str] = ("prefix",),
) -> HoldoutCheck:
    """Choose on a random part of the queries, then report how the choice scores on the rest.

    Without `cells` the choice is a float32 prefix dim (`recommend`). With `cells` (the grid's `Cell`s, and
    `cell_values` their per-query values by label, the float32 prefixes optional) it is the cell `recommend_cell`
    picks under `optimize` and `methods`, so the check is of what was recommended: method, dim and precision."""
    select, test = holdout_split(query_ids, fraction, settings.seed)
    if cells is None:
        chosen = recommend(dim_results(per_query, full_dim, select, settings), full_dim, rule, n_docs)
        on_test: dict = {r.dim: r for r in dim_results(per_query, full_dim, test, settings)}
        chosen_key, full_key = chosen.dim, full_dim
    else:
        values = {cell_label("prefix", d, "float32"): v for d, v in per_query.items()}
        values.update(cell_values or {})
        values = {c.label: values[c.label] for c in cells}
        full_key = cell_label("prefix", full_dim, "float32")

        def cells_on(ids: list[str]) -> list:
            stats = summarize(values, full_key, ids, settings)
            return [
                replace(
                    c,
                    metrics={m: float(np.mean([v[q] for q in ids])) for m, v in values[c.label].items()},
                    stats=stats.get(c.label, {}),
                )
                for c in cells
            ]

        chosen = recommend_cell(cells_on(select), full_dim, rule, n_docs, optimize, methods)
        on_test = {c.label: c for c in cells_on(test)}
        chosen_key = chosen.label
    full_test = on_test[full_key].metrics[rule.metric]
    on_select = {
        "fraction": fraction,
        "seed": settings.seed,
        "n_select": len(select),
        "n_test": len(test),
        "dim": chosen.dim,
        "method": chosen.method,
        "precision": chosen.precision,
        "label": chosen.label,
        "select_value": chosen.value,
        "select_threshold": chosen.threshold,
        "test_full_value": full_test,
    }
    if chosen.dim is None:
        return HoldoutCheck(**on_select)
    result = on_test[chosen_key]
    return HoldoutCheck(
        **on_select,
        test_value=result.metrics[rule.metric],
        test_ci=result.stats[rule.metric].ci,
        test_threshold=rule.threshold(full_test),
        meets_rule_on_test=rule.passes(result, full_test),
    )
