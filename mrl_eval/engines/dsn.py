"""A PostgreSQL connection string without its secrets, for reports and messages.

The string is parsed by libpq's own parser (`psycopg.conninfo.conninfo_to_dict`: key=value pairs with their
quoting and escapes, `postgresql://` URIs with percent-encoding, several hosts) and rebuilt as key=value pairs with
each secret replaced by `***`, so a form a regular expression would misread (`password = hunter2`,
`password='two words'`, a password in a URI's query) never leaks. Without psycopg, or for a string libpq cannot
parse, nothing of it is shown but the fact that it was given.
"""

from __future__ import annotations

import re

SECRETS = ("password", "sslpassword")  # libpq's connection parameters that hold a secret
HIDDEN = "***"
UNPARSED = "(a connection string, not shown: it could not be parsed to hide its password)"


def _parse(dsn: str) -> dict[str, str] | None:
    """libpq's reading of `dsn`; None where psycopg is missing or libpq cannot parse it."""
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return None
    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except Exception:  # psycopg.ProgrammingError: libpq cannot parse it
        return None


def _has_psycopg() -> bool:
    try:
        import psycopg.conninfo  # noqa: F401
    except ImportError:
        return False
    return True


def redact_dsn(dsn: str | None) -> str | None:
    """`dsn` as libpq reads it, as key=value pairs, secrets replaced by ***; None and "" stay as they are. Without
    psycopg, a string that could hold a secret (a password key, a URI's user:password@) is not shown at all."""
    if not dsn:
        return dsn
    parsed = _parse(dsn)
    if parsed is None:
        suspicious = re.search(r"password|://[^/?#]*:[^/?#]*@|=\s*'", dsn, re.IGNORECASE)
        return dsn if not _has_psycopg() and not suspicious else UNPARSED
    from psycopg.conninfo import make_conninfo

    return make_conninfo(**{k: HIDDEN if k in SECRETS else v for k, v in parsed.items()})


def redact_text(text: str, dsn: str | None) -> str:
    """`text` (a driver's error message) with the secrets of `dsn` replaced by ***. libpq's parse errors quote the
    connection string, so for one it cannot parse only the fact is kept."""
    if not dsn:
        return text
    parsed = _parse(dsn)
    if parsed is None:
        return "the connection string could not be parsed (libpq's message is not shown: it may quote the password)"
    for key in SECRETS:
        if parsed.get(key):
            text = text.replace(parsed[key], HIDDEN)
    return text
