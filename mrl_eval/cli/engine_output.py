"""The terminal view of the engine section (`report/engine_view.py`): the table, then the recommended cell's recipe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mrl_eval.cli.common import out, rich_table

if TYPE_CHECKING:
    from mrl_eval.report.model import Report


def render_engine(report: Report, as_json: bool) -> None:
    from mrl_eval.report.engine_view import engine_recipe, engine_table

    table = engine_table(report)
    if as_json or table is None:
        return
    out.print(rich_table(table))
    recipe = engine_recipe(report)
    if recipe is not None:
        out.print(recipe.sentence, markup=False, highlight=False)
        if recipe.code:
            out.print(recipe.code, markup=False, highlight=False)
