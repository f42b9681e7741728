"""The terminal view of a run: the report's tables and sentences as rich renderables, built here beside the other
renderers (Markdown, HTML, the step summary) from the typed report; the CLI only prints them. Every cell and
sentence is plain text (`rich.text.Text`), never rich markup, so a name from the run cannot style the output."""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from mrl_eval.decide.compare import RunComparison, missing_dims, verdict
from mrl_eval.report.engine_view import engine_recipe, engine_table
from mrl_eval.report.label_free import growth_note, growth_table, notes
from mrl_eval.report.model import Report
from mrl_eval.report.models_report import ModelsReport
from mrl_eval.report.models_view import explain_models, models_table
from mrl_eval.report.sentences import explain, explain_grid, explain_holdout
from mrl_eval.report.table_model import Table
from mrl_eval.report.tables import comparison_table, grid_tables, results_table


def rich_table(table: Table) -> RichTable:
    """A report table for the terminal: the highlighted row bold green, failed rows bold red."""
    view = RichTable(title=Text(table.title), title_justify="left")
    for i, column in enumerate(table.header):
        view.add_column(Text(column), justify="left" if i in table.text_columns else "right")
    for n, row in enumerate(table.rows):
        style = "bold green" if n == table.highlighted else "bold red" if n in table.failed else None
        view.add_row(*(Text(v) for v in row), style=style)
    return view


def _lines(lines: list[str], style: str | None = None) -> Iterator[Text]:
    return (Text(line, style=style or "") for line in lines)


def run_view(report: Report, primary: str) -> list[RenderableType]:
    """A sweep or recommend run: the results, the grid, the label-free notes and growth, the recommendation, the
    comparison with the baseline and the engine section, in the order they are printed."""
    view: list[RenderableType] = [rich_table(results_table(report, primary).compact())]
    view += [rich_table(table) for table in grid_tables(report, primary)]
    view += _lines(explain_grid(report))
    view += _lines(notes(report), "dim")
    growth = growth_table(report)
    if growth is not None:
        view += [rich_table(growth), Text(growth_note(report), style="bold yellow")]
    rec = report.recommendation
    if rec is not None:
        view += _lines(explain(rec, report.confidence))
        if report.holdout is not None:
            view.append(Text(explain_holdout(report.holdout)))
    if report.baseline is not None:
        view += comparison_view(report.baseline)
    return view + engine_view(report)


def engine_view(report: Report) -> list[RenderableType]:
    """The engine section: its table, then the recommended cell's recipe (nothing without an engine section)."""
    table = engine_table(report)
    if table is None:
        return []
    view: list[RenderableType] = [rich_table(table)]
    recipe = engine_recipe(report)
    if recipe is not None:
        view.append(Text(recipe.sentence))
        if recipe.code:
            view.append(Text(recipe.code))
    return view


def comparison_view(comparison: RunComparison) -> list[RenderableType]:
    """`compare` and `recommend --baseline`: the table, how the deltas were tested, the notes and the verdict."""
    view: list[RenderableType] = [rich_table(comparison_table(comparison))]
    paired = comparison.paired
    if paired.available:
        view.append(
            Text(
                f"Paired test on the {paired.queries} shared queries: {paired.confidence:.0%} bootstrap CI of the "
                f"per-query delta, p from the {paired.test}."
            )
        )
    view += _lines([note for note in (missing_dims(comparison), *comparison.notes) if note])
    view.append(Text(verdict(comparison), style="" if comparison.passed else "bold red"))
    return view


def models_view(report: ModelsReport) -> list[RenderableType]:
    """A run of several models: the table across them and, after `recommend`, why the chosen cell won."""
    view: list[RenderableType] = [rich_table(models_table(report))]
    if report.recommendation is not None:
        view += _lines(explain_models(report.recommendation))
    return view
