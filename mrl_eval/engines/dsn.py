"""Connection strings in what mrl-eval shows: never with their password."""

from __future__ import annotations

import re


def redact_dsn(dsn: str | None) -> str | None:
    """A connection string without its password: reports never carry a secret."""
    if not dsn:
        return dsn
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", re.sub(r"password=\S+", "password=***", dsn))
