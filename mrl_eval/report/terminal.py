"""The terminal view of a run: the report's tables and sentences as rich renderables, built here beside the other
renderers (Markdown, HTML, the step summary) from the typed report; the CLI only prints them. Every cell and
sentence is plain text (`rich.text.Text`), never rich markup, so a name from the run cannot style the output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table as RichTable
from rich.text import Text

from mrl_eval.decide.compare import RunComparison, missing_dims, verdict
from mrl_eval.decide.recommend import Choice
from mrl_eval.report.engine_view import engine_recipe, engine_table
from mrl_eval.report.label_free import growth_note, growth_table, notes
from mrl_eval.report.model import Report
from mrl_eval.report.models_report import ModelsReport
from mrl_eval.report.models_view import explain_models_report, models_table
from mrl_eval.report.sentences import decision, explain, explain_grid, explain_holdout
from mrl_eval.report.table_model import Table
from mrl_eval.report.tables import comparison_table, grid_tables, results_table
from mrl_eval.safe_text import printable

TEXT_WIDTH = 30  # a text column (a cell label, a model name) is folded only past this many characters
GAP = 2  # spaces between two columns


class FittedTable:
    """A report table for the terminal, its title above it: the highlighted row bold green and marked ✓, failed
    rows bold red. No value is ever cut: each column gets at least the width of its widest value and of the
    longest word of its header, and the room left is shared out in proportion to what each column could still
    use; headers and text columns (ids, names) wrap at their spaces. On a console narrower than even that, each
    row is printed as a line of `header value` pairs instead. A `natural` table (`--wide`) takes the width its
    headers and values need, wider than the console if it must be."""

    def __init__(self, table: Table, *, natural: bool = False) -> None:
        # text from files (ids, names) with its control characters escaped before any column is measured
        table = replace(
            table,
            title=printable(table.title),
            header=tuple(printable(h) for h in table.header),
            rows=tuple(tuple(printable(v) for v in row) for row in table.rows),
        )
        self.table = table
        self.natural = natural
        rows = [list(row) for row in table.rows]
        if table.highlighted is not None and rows and rows[table.highlighted]:
            rows[table.highlighted][0] += " ✓"
        self.rows = rows

    def _bounds(self, i: int) -> tuple[int, int]:
        """The narrowest and the widest a column can use."""
        column = self.table.header[i]
        words = [cell_len(word) for word in column.split()]
        values = [row[i] for row in self.rows]
        if i in self.table.text_columns:  # an id or a name: whole up to TEXT_WIDTH, then folded
            longest = max((cell_len(v) for v in values), default=0)
            least = max([min(longest, TEXT_WIDTH), *words])
        else:
            least = max([*(cell_len(v) for v in values), *words])
        return least, max([least, cell_len(column), *(cell_len(v) for v in values)])

    def widths(self, width: int) -> list[int] | None:
        """Each column's width on a console `width` wide, or None when the narrowest columns do not fit."""
        bounds = [self._bounds(i) for i in range(len(self.table.header))]
        room = width - GAP * (len(bounds) - 1)
        widths = [most for _, most in bounds]
        if self.natural:
            return widths
        if sum(least for least, _ in bounds) > room:
            return None
        while sum(widths) > room:  # take one character from the column with the most to spare, until it fits
            spare = [w - least for w, (least, _) in zip(widths, bounds)]
            widths[spare.index(max(spare))] -= 1
        return widths

    def grid(self, widths: list[int]) -> RichTable:
        table = self.table
        view = RichTable(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, GAP - 1, 0, 0),
            width=sum(widths) + GAP * (len(widths) - 1) if self.natural else None,
        )
        for i, column in enumerate(table.header):
            is_text = i in table.text_columns
            justify = "left" if is_text else "right"
            view.add_column(Text(column, style="bold"), justify=justify, overflow="fold", width=widths[i])
        for n, row in enumerate(self.rows):
            cells = [Text(v) if i in table.text_columns else Text(v, no_wrap=True) for i, v in enumerate(row)]
            view.add_row(*cells, style=self._style(n))
        return view

    def _style(self, n: int) -> str:
        return "bold green" if n == self.table.highlighted else "bold red" if n in self.table.failed else ""

    def records(self) -> list[Text]:
        """Each row as one line of `header value` pairs, for a console narrower than the table's columns."""
        header = self.table.header
        return [
            Text(" · ".join(f"{h} {v}" for h, v in zip(header, row) if v), style=self._style(n))
            for n, row in enumerate(self.rows)
        ]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.table.title, style="bold")
        widths = self.widths(options.max_width)
        if widths is None:
            yield from self.records()
        else:
            yield self.grid(widths)


def rich_table(table: Table, *, wide: bool = False) -> FittedTable:
    """A report table (`mrl_eval.report.table_model.Table`) as a renderable that fits the console (`wide`: that
    takes the width it needs)."""
    return FittedTable(table, natural=wide)


def _lines(lines: list[str], style: str = "") -> list[RenderableType]:
    """Sentences, each wrapped at its spaces to the console's width unless the console keeps lines whole
    (`soft_wrap`, for logs). Each is a `Group`: rich's print would merge bare `Text`s into one."""
    return [Group(Text(printable(line), style=style)) for line in lines]


def _tables(tables: list[Table], wide: bool) -> list[RenderableType]:
    """Each table whole (`wide`), or at a glance (a `detail` table not at all)."""
    if wide:
        return [rich_table(table, wide=True) for table in tables]
    return [rich_table(table.glance()) for table in tables if not table.detail]


def decision_view(rec: Choice, confidence: float | None) -> list[RenderableType]:
    """The recommendation first: a headline, then its facts as a two-column grid that fits 80 columns."""
    d = decision(rec, confidence)
    view = _lines([d.headline], "bold" if rec.dim is not None else "bold red")
    if d.facts:
        grid = RichTable.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for name, value in d.facts:
            grid.add_row(Text("  " + name), Text(value))
        view.append(grid)
    return view + _lines(list(d.advice), "yellow")


def run_view(report: Report, primary: str, *, wide: bool = False) -> list[RenderableType]:
    """A sweep or recommend run, the answer first: the recommendation, then the results, the grid, the label-free
    notes and growth, the held-out check, the comparison with the baseline and the engine section. At a glance
    (the default) each table keeps its key columns, so it fits 80 columns; `wide` prints every column, and the
    recommendation's sentences at length."""
    rec = report.recommendation
    view: list[RenderableType] = decision_view(rec, report.confidence) if rec is not None else []
    view += _tables([results_table(report, primary)], wide)
    view += _tables(grid_tables(report, primary), wide)
    view += _lines(explain_grid(report))
    view += _lines(notes(report), "dim")
    growth = growth_table(report)
    if growth is not None:
        view += [*_tables([growth], wide), *_lines([growth_note(report)], "bold yellow")]
    if rec is not None and wide:
        view += _lines(explain(rec, report.confidence))
    if report.holdout is not None:
        view += _lines([explain_holdout(report.holdout)])
    if report.baseline is not None:
        view += comparison_view(report.baseline, wide=wide)
    return view + engine_view(report, wide=wide)


def engine_view(report: Report, *, wide: bool = False) -> list[RenderableType]:
    """The engine section: its table, then the recommended cell's recipe (nothing without an engine section)."""
    table = engine_table(report)
    if table is None:
        return []
    view = _tables([table], wide)
    recipe = engine_recipe(report)
    if recipe is not None:
        view += _lines([recipe.sentence])
        if recipe.code:
            view.append(Group(Text(recipe.code, no_wrap=True, overflow="ignore")))  # code keeps its lines
    return view


def comparison_view(comparison: RunComparison, *, wide: bool = False) -> list[RenderableType]:
    """`compare` and `recommend --baseline`: the verdict, the table, how the deltas were tested and the notes."""
    view = _lines([verdict(comparison)], "bold" if comparison.passed else "bold red")
    view += _tables([comparison_table(comparison)], wide)
    paired = comparison.paired
    if paired.available:
        view += _lines(
            [
                f"Paired test on the {paired.queries} shared queries: {paired.confidence:.0%} bootstrap CI of the "
                f"per-query delta, p from the {paired.test}."
            ]
        )
    return view + _lines([note for note in (missing_dims(comparison), *comparison.notes) if note])


def models_view(report: ModelsReport, *, wide: bool = False) -> list[RenderableType]:
    """A run of several models, the answer first: why the chosen cell won (after `recommend`), then the table
    across models; at a glance only its frontier cells, the reference and the recommended cell."""
    view: list[RenderableType] = []
    if report.recommendation is not None:
        first, *rest = explain_models_report(report)
        view += _lines([first], "bold")
        view += _lines(["  " + line for line in rest])
    return view + _tables([models_table(report)], wide)


def written(paths: list[Path]) -> list[RenderableType]:
    """The reports written: their folder once, then their names."""
    folders = {p.parent for p in paths}
    if len(folders) == 1:
        return _lines([f"Reports in {folders.pop()}: " + ", ".join(p.name for p in paths)])
    return _lines(["Reports: " + ", ".join(str(p) for p in paths)])


def hint(wide: bool) -> list[RenderableType]:
    """Where the rest is: every column and metric is in the reports, or here with --wide."""
    if wide:
        return []
    return _lines(["Every metric, interval and p-value: the reports below, or here with --wide."], "dim")
