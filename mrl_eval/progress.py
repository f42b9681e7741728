"""How the core reports progress without drawing anything: `progress(label, total)` returns `advance(n)`.

The CLI passes a factory that draws rich bars on stderr; the API's default draws nothing.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFactory = Callable[[str, int], Callable[[int], None]]


def no_progress(label: str, total: int) -> Callable[[int], None]:
    return lambda n: None
