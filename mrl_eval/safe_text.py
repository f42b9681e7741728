"""Text from files, shown on a terminal: terminal control characters (ESC, BEL, CR, DEL, the C1 range) in a saved
report's model name, a query text or an id would reach the terminal raw (hide text, retitle the window, move the
cursor), so everything printed shows them as escapes."""

from __future__ import annotations

import re

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with every terminal control character but tab and line feed shown as an escape (`\\x1b`)."""
    return CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)
