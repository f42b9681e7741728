"""Files at the boundary: writing one atomically, reading one whole within a size limit, and JSON text that can
never hold NaN or infinity.

`write_atomic` is the one helper every writer of a single file uses (reports, JUnit, MTEB results): the text goes to
a temporary file in the target's folder (same filesystem), then `os.replace` puts it in place, so a reader sees the
old file or the new one, never half of one. A set of files that must change together (the reports of a run) is
`mrl_eval.report.report_set`.

`read_limited` is the one reader of a file mrl-eval reads whole (`--config`, `--from`, `--baseline`, a report-set
journal): only a regular file, and at most a given size, so that `/dev/zero`, a FIFO or a stray huge file ends in a
message instead of a MemoryError or a hang. `json_text` is the one writer of JSON text (reports, `--json`, journals):
strict JSON, so a non-finite number is an error naming its field, never a file that other readers refuse.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from mrl_eval.errors import MrlEvalError

_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # mkstemp makes 0600; what we write should read like any other file


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path` through a temporary file and a rename; OSError is the caller's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    kinds += ((stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_limited(path: Path, limit: int, *, what: str, fix: str) -> bytes:
    """The bytes of the regular file `path`, refused (MrlEvalError naming `path`, `what` the file is and the `fix`)
    when it is not a regular file (a folder, a device such as /dev/zero, a FIFO) or holds more than `limit` bytes.
    OSError (missing, unreadable) is the caller's. The file is opened without blocking, so a FIFO with no writer
    is refused instead of waiting forever, and checked on the open descriptor, so it cannot be swapped in between."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise MrlEvalError(f"{path}: {_kind(mode)}, not a file; {what} must be a regular file; {fix}")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)  # the size on disk may change while it is read: count what is read
    if len(data) > limit:
        raise MrlEvalError(f"{path}: more than {_size(limit)}, the most {what} may hold; {fix}")
    return data


def _non_finite(value: Any, where: str = "") -> tuple[str, float] | None:
    """The first non-finite float inside `value` (dicts, lists, tuples) and its field path."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "(the value itself)", value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        found = _non_finite(item, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else key)
        if found is not None:
            return found
    return None


def json_text(doc: Any, *, what: str, indent: int | None = 1) -> str:
    """`doc` as strict JSON text with a final newline: a NaN or an infinity is an MrlEvalError naming `what` (the
    file or output) and the field, never `NaN` in a file that strict readers (and mrl-eval itself) refuse."""
    try:
        return json.dumps(doc, indent=indent, allow_nan=False) + "\n"
    except ValueError as err:
        found = _non_finite(doc)
        if found is None:
            raise
        where, value = found
        raise MrlEvalError(
            f"{what}: field {where} is {value} (not a finite number); nothing was written. This is a bug in "
            "mrl-eval or in a provider's vectors: please report it with the command"
        ) from err


def default_cache_dir() -> Path:
    """Where mrl-eval keeps what it can rebuild (embeddings, model exports): $XDG_CACHE_HOME/mrl-eval, else
    ~/.cache/mrl-eval."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mrl-eval"
