"""Progress bars for the API and the CLI: rich bars on stderr, drawn by default only where someone watches (stderr
is a terminal, or a Jupyter notebook runs the code, as rich detects them); a log file or a pipe gets none."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from mrl_eval.progress import ProgressFactory, no_progress

if TYPE_CHECKING:
    from rich.console import Console

Progress = bool | ProgressFactory | None  # True: bars; False: none; None: bars when stderr is a terminal


@contextlib.contextmanager
def progress_bars(console: Console | None = None) -> Iterator[ProgressFactory]:
    """A progress-bar factory for the core's long loops: one rich bar per `progress(label, total)`, on `console`
    (default: stderr), left on screen when done."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as Bars

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    columns += (TimeElapsedColumn(), TimeRemainingColumn())
    with Bars(*columns, console=console or Console(stderr=True), transient=False) as bars:

        def factory(label: str, total: int) -> Callable[[int], None]:
            task = bars.add_task(label, total=total)
            return lambda n: bars.advance(task, n)

        yield factory


@contextlib.contextmanager
def reporting(progress: Progress) -> Iterator[ProgressFactory]:
    """The factory `progress` asks for: `True` rich bars on stderr, `False` none, a callable itself, and `None` bars
    only when stderr is a terminal or a notebook."""
    if callable(progress):
        yield progress
        return
    from rich.console import Console

    console = Console(stderr=True)
    if progress is None:
        progress = console.is_terminal or console.is_jupyter
    if not progress:
        yield no_progress
        return
    with progress_bars(console) as factory:
        yield factory
