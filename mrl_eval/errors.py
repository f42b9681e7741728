"""The one exception family users see, and the one warning."""

from __future__ import annotations

MAX_REPORTED_PROBLEMS = 10


class MrlEvalError(Exception):
    """A problem the user can fix; the message names what failed, the offending value and the next step."""


class MrlEvalWarning(UserWarning):
    """Something the user should know that does not stop the run (zero vectors, texts cut to a limit). The core
    only warns; the CLI prints these on stderr as "Warning: ...", and an API caller gets Python's warnings."""


class GateFailed(Exception):
    """The quality gate was not met (exit code 3). Not an error in the input, so not an MrlEvalError."""


def raise_problems(problems: list[str], what: str, fix: str) -> None:
    """Raise one MrlEvalError listing up to MAX_REPORTED_PROBLEMS problems, or return if there are none."""
    if not problems:
        return
    shown = problems[:MAX_REPORTED_PROBLEMS]
    more = len(problems) - len(shown)
    lines = [f"{what}: {len(problems)} problem{'s' if len(problems) != 1 else ''} found"]
    lines += [f"  - {p}" for p in shown]
    if more:
        lines.append(f"  ... and {more} more")
    lines.append(fix)
    raise MrlEvalError("\n".join(lines))


class UsageError(MrlEvalError):
    """A bad flag value (exit code 2, like the CLI parser's own usage errors). The message starts with the flag and
    the value given, then `: ` and the problem ("--resamples 5: give 100 to 1,000,000"); `problem` is that last part,
    for messages that name the value another way (a config file's key)."""

    @property
    def problem(self) -> str:
        text = str(self)
        return text.split(": ", 1)[1] if text.startswith("--") and ": " in text else text
