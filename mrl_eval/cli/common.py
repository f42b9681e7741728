"""The commands' shared plumbing: consoles, exit codes, the settings file, progress bars, printing the terminal view
(built by `mrl_eval.report.terminal`), CI outputs.

With `app.py` (the commands) and `options.py` (their flags) this is the CLI layer, the only code that prints or
exits. Heavy libraries are imported by the core only when a command needs them, so `mrl-eval --help` starts fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console, ConsoleOptions, RenderHook
from rich.markup import escape
from rich.segment import Segment

from mrl_eval.errors import GateFailed, MrlEvalError, MrlEvalWarning, UsageError
from mrl_eval.files import json_text
from mrl_eval.safe_text import CONTROL, printable
from mrl_eval.watchdog import exit_on_signals

if TYPE_CHECKING:
    from mrl_eval.cli.config import ConfigFile
    from mrl_eval.decide.compare import RunComparison
    from mrl_eval.report.model import Report
    from mrl_eval.report.models_report import ModelsReport

EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE, EXIT_GATE_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Escaped:
    """A renderable whose text reaches the terminal with its control characters escaped; the consoles' own control
    sequences (styles, the progress bars' cursor moves) are segments of their own and pass as they are."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        for segment in console.render(self.inner, options):
            if segment.control is None and CONTROL.search(segment.text):
                yield Segment(printable(segment.text), segment.style)
            else:
                yield segment


class _EscapeControls(RenderHook):
    """The one place where text reaches the terminal: every renderable either console prints passes through here."""

    def process_renderables(self, renderables: list[Any]) -> list[Any]:
        return [_Escaped(r) for r in renderables]


# In a terminal (or wherever COLUMNS says how wide the output is) sentences wrap at their spaces to its width; in a
# log or a pipe no line is wrapped (paths stay whole in CI logs) and tables get 160 columns.
_SIZED = sys.stdout.isatty() or bool(os.environ.get("COLUMNS"))
out = Console(highlight=False, soft_wrap=not _SIZED, width=None if _SIZED else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)
for _console in (out, err):
    _console.push_render_hook(_EscapeControls())


@contextlib.contextmanager
def exit_codes() -> Iterator[None]:
    """The one place errors become exit codes; anything else is a bug and keeps its traceback. Warnings from the
    core (a damaged cache file, truncated inputs) are shown as one line each on stderr. A failed quality gate
    (`GateFailed`) is exit code 3 with nothing more to say: the command has already shown why. SIGTERM and SIGHUP
    unwind like Ctrl-C and exit with 143 and 129 (`watchdog.exit_on_signals`), so every started server is stopped."""
    try:
        with warnings.catch_warnings(), exit_on_signals():
            warnings.simplefilter("always", MrlEvalWarning)  # each one, even under -W error or a filter that hides it
            warnings.showwarning = _show_warning
            yield
    except GateFailed:
        raise typer.Exit(EXIT_GATE_FAILED) from None
    except UsageError as e:
        err.print("[red]Usage error:[/red] ", end="", markup=True)
        err.print(str(e), markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    except MrlEvalError as e:
        err.print("[red]Error:[/red] ", end="", markup=True)
        err.print(str(e), markup=False)
        raise typer.Exit(EXIT_USER_ERROR) from None
    except KeyboardInterrupt:
        err.print("\nInterrupted. Embedded batches are cached; run the same command again to resume.")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _show_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    err.print(f"Warning: {str(message).removeprefix('mrl-eval: ')}", markup=False)


# The settings file

CONFIGURABLE: dict[str, Callable] = {}  # command name -> the function typer calls (for its parameters' types)
SOURCES = "mrl_eval.sources"  # ctx.meta key: setting key -> "flag", the config file's path, or "default"


def _specs(ctx: typer.Context) -> dict:
    from mrl_eval.cli.config import COMMANDS, settings_of

    commands = ctx.find_root().command.commands  # type: ignore[attr-defined]
    return {name: settings_of(commands[name], CONFIGURABLE[name]) for name in COMMANDS}


def resolve_settings(
    ctx: typer.Context, command: str, values: dict[str, Any], config_path: Path | None
) -> tuple[dict[str, Any], dict[str, str], ConfigFile | None]:
    """The command's parameters with the file's settings wherever no flag was given, and where each came from."""
    from mrl_eval.cli.config import find_config, merge

    found = find_config(config_path)

    def is_default(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source is None or source.name in ("DEFAULT", "DEFAULT_MAP")

    merged, sources = merge(values, is_default, found, command, _specs(ctx), ctx)
    return merged, sources, found


def configurable(command: str) -> Callable[[Callable], Callable]:
    """Decorate a command (whose first parameter is `ctx: typer.Context` and which has `--config`) so that the
    settings file fills every parameter not given on the command line."""

    def decorate(function: Callable) -> Callable:
        CONFIGURABLE[command] = function

        @functools.wraps(function)  # typer reads the wrapped signature
        def wrapper(**kwargs: Any) -> Any:
            ctx = kwargs["ctx"]
            with exit_codes():
                merged, sources, _ = resolve_settings(ctx, command, kwargs, kwargs.get("config"))
            ctx.meta[SOURCES] = sources
            return function(**merged)

        return wrapper

    return decorate


def given_as_flag(ctx: typer.Context, key: str) -> bool:
    return ctx.meta.get(SOURCES, {}).get(key) == "flag"


def _shown(value: Any) -> Any:
    """A setting's value as JSON holds it: paths as strings, a repeatable option's values as a list."""
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def show_settings(ctx: typer.Context, command: str, args: list[str], config_path: Path | None, as_json: bool) -> None:
    """`config show`: parse `args` as `command` would (without running it), merge the file, print the result."""
    from mrl_eval.cli.config import COMMANDS

    if command not in COMMANDS:
        raise UsageError(f"config show {command!r}: choose one of {', '.join(COMMANDS)}")
    target = ctx.find_root().command.commands[command]  # type: ignore[attr-defined]
    sub = target.make_context(command, list(args), parent=ctx)
    merged, sources, found = resolve_settings(sub, command, dict(sub.params), config_path)
    specs = _specs(ctx)[command]
    rows = {key: {"value": _shown(merged[s.name]), "source": sources[key]} for key, s in specs.items()}
    if as_json:
        document = {"command": command, "config_file": str(found.path) if found else None, "settings": rows}
        sys.stdout.write(json_text(document, what="--json"))
        return
    from rich.table import Table

    table = Table(
        title=f"mrl-eval {command} settings · config file: {found.path if found else 'none'}", title_justify="left"
    )
    for col in ("key", "value", "source"):
        table.add_column(col)
    for key, row in rows.items():
        style = "bold" if row["source"] != "default" else "dim"
        table.add_row(key, "" if row["value"] is None else str(row["value"]), row["source"], style=style)
    out.print(table)


# Running and rendering


@contextlib.contextmanager
def progress(enabled: bool) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """A progress-bar factory on stderr for the core's long loops (the API's bars, on this console)."""
    if not enabled:
        yield lambda label, total: lambda n: None
        return
    from mrl_eval.api.progress_bars import progress_bars

    with progress_bars(err) as factory:
        yield factory


def show(view: list[Any]) -> None:
    """Print the renderables of a terminal view (`mrl_eval.report.terminal`) on stdout."""
    for renderable in view:
        out.print(renderable, crop=False)  # a line wider than the console (code, a --wide table) is never cut


def render_comparison(comparison: RunComparison) -> None:
    from mrl_eval.report.terminal import comparison_view

    show(comparison_view(comparison))


def finish(
    report: Report,
    out_dir: Path,
    as_json: bool,
    primary: str,
    plots: bool = True,
    *,
    wide: bool = False,
    name: str | None = None,
    overwrite: bool = False,
    source: Path | None = None,
) -> None:
    """Show the result, then write the reports (the plots take most of the time, so the answer comes first) as
    `name` (--name), replacing another run's only with `overwrite`; `source` is the saved report of --from."""
    from mrl_eval.report.document import write_reports
    from mrl_eval.report.terminal import hint, run_view, written

    naming = {"name": name, "overwrite": overwrite, "source": source}
    warning = report.statistics.warning if report.statistics is not None else None
    if warning and not (report.recommendation is not None and report.recommendation.warning):
        err.print(f"[yellow]Warning:[/] {escape(warning)}")
    if as_json:
        write_reports(report, out_dir, primary, plots, **naming)
        sys.stdout.write(json_text(report.to_dict(), what="--json"))
        return
    show(run_view(report, primary, wide=wide) + hint(wide))
    paths = write_reports(report, out_dir, primary, plots, **naming)
    show(written(paths))


def finish_models(
    report: ModelsReport,
    out_dir: Path,
    as_json: bool,
    plots: bool = True,
    *,
    wide: bool = False,
    name: str | None = None,
    overwrite: bool = False,
    source: Path | None = None,
) -> None:
    """A run of several models: the table across them and, after `recommend`, why the chosen cell won; then the
    reports, as `name` (--name), replacing another run's only with `overwrite`; `source` is the saved report of
    --from, whose own set is left alone."""
    from mrl_eval.report.models_files import write_models_reports
    from mrl_eval.report.terminal import hint, models_view, written

    naming = {"name": name, "overwrite": overwrite, "source": source}
    metric = report.recommendation.metric if report.recommendation is not None else report.comparison.metric
    if as_json:
        write_models_reports(report, out_dir, metric, plots, **naming)
        sys.stdout.write(json_text(report.to_dict(), what="--json"))
        return
    show(models_view(report, wide=wide) + hint(wide))
    paths = write_models_reports(report, out_dir, metric, plots, **naming)
    show(written(paths))


def emit_ci(
    command: str,
    as_json: bool,
    junit_path: Path | None = None,
    report: Report | None = None,
    comparison: RunComparison | None = None,
    primary: str | None = None,
) -> None:
    """The JUnit file, the GitHub step summary and the GitHub annotations of a finished run (of `report`, or of a
    `comparison` for compare). Annotations go to stdout, where the runner reads them, except under --json."""
    from mrl_eval.report import github, junit

    if report is not None:
        markdown = github.summary_markdown(report, primary or report.metrics[0])
        lines = github.annotations(report)
        checks = junit.recommend_checks(report)
    else:
        assert comparison is not None  # one of the two, by the callers' construction
        markdown = github.compare_summary_markdown(comparison)
        lines = github.comparison_annotations(comparison)
        checks = junit.comparison_checks(comparison, "mrl-eval.compare")
    if junit_path is not None:
        written = junit.write_junit(junit_path, f"mrl-eval {command}", checks)
        if not as_json:
            out.print(f"JUnit: {written} ({len(checks)} checks, {sum(not c.passed for c in checks)} failed)")
    try:
        github.append_step_summary(markdown)
    except OSError as e:
        err.print(f"Warning: cannot append to $GITHUB_STEP_SUMMARY ({e}); the run itself is unaffected.", markup=False)
    if github.in_github_actions() and lines:
        stream = sys.stderr if as_json else sys.stdout
        stream.write("\n".join(printable(line) for line in lines) + "\n")
        stream.flush()
