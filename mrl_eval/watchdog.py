"""Stop what a run started when the run itself is killed: a watchdog process per run that outlives `kill -9`.

A run that starts a server (the throwaway PostgreSQL of `--engine pgvector`, a local Ray cluster) stops it on every
way out Python sees: the end of the block, an exception, Ctrl-C, SIGTERM and SIGHUP (`exit_on_signals`). `kill -9`
skips all of them, and a server that its starter no longer waits for lives on (re-parented to PID 1). So the run
also starts a watchdog: a small process in a session of its own (a terminal's hang-up or Ctrl-C does not reach it)
that waits for its parent to die, reading a pipe only the parent holds (the kernel closes it when the parent dies,
however it dies; the watchdog also checks that its parent is still its parent). The parent tells it, one JSON line
at a time, what to stop and what to delete; when the parent ends normally it says `done` and the watchdog leaves
everything alone. When the parent dies first, the watchdog signals each registered process (identified by pid and
start time, so a reused pid is never signalled), waits, kills what is left, and deletes each registered folder
that still holds the marker file naming it ours.

This file is also the watchdog's program: it runs as `python -I -S watchdog.py PARENT_PID` with the standard
library only, so it starts in milliseconds and does not import mrl_eval.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

EXIT_ON_SIGNAL = {signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGHUP: 128 + signal.SIGHUP}  # 143, 129


def _unwind(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def exit_on_signals() -> Iterator[None]:
    """For the block, SIGTERM and SIGHUP raise SystemExit(128 + signal) (143, 129), so `finally` blocks and context
    managers stop what they started, and the exit status is the one a shell shows for a process ended by that
    signal. Only in the main thread (Python delivers signals there); the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _unwind) for s in EXIT_ON_SIGNAL}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (/proc/PID/stat field 22), None where there is no /proc
    or no such process: with the pid, it names one process even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_alive(pid: int, started: int | None = None) -> bool:
    """Whether `pid` runs (a zombie does not) and, when `started` is given and /proc can tell, is the same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True  # no /proc (macOS): kill(pid, 0) is all we know
    if state[0] == "Z":
        return False
    return started is None or int(state[19]) == started


class Watchdog:
    """The parent's end: `Watchdog.start()`, then `stop_process`, `stop_pidfile` and `remove_folder` as things are
    started, and `done()` once they are stopped and removed. Without a working watchdog (no fork on this platform)
    every call does nothing: the run's own cleanup is then the only one."""

    def __init__(self, process: subprocess.Popen | None) -> None:
        self.process = process

    @classmethod
    def start(cls) -> Watchdog:
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(Path(__file__).resolve()), str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # no SIGHUP or Ctrl-C from the terminal
                close_fds=True,
            )
        except OSError:
            return cls(None)
        return cls(process)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def _say(self, message: dict | str) -> None:
        if self.process is None or self.process.stdin is None:
            return
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
        except (OSError, ValueError):  # the watchdog is gone: nothing to tell
            pass

    def stop_process(self, pid: int, sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
        """On the parent's death: send `sig` to `pid` (if it is still the same process), SIGKILL after `grace` s."""
        self._say({"pid": pid, "started": start_time(pid), "signal": int(sig), "grace": grace})

    def stop_pidfile(self, path: Path, must_contain: str, sig: int = signal.SIGINT, grace: float = 10.0) -> None:
        """On the parent's death: the process whose pid heads `path` (read then, so a server still starting is
        covered), if its command line names `must_contain` where /proc can tell."""
        self._say({"pidfile": str(path), "contains": must_contain, "signal": int(sig), "grace": grace})

    def remove_folder(self, path: Path, marker: str) -> None:
        """On the parent's death, after the processes are gone: delete `path` if `path/marker` is there."""
        self._say({"folder": str(path), "marker": marker})

    def done(self) -> None:
        """Everything registered is stopped and removed: the watchdog exits without touching anything."""
        if self.process is None:
            return
        self._say("done")
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()  # type: ignore[union-attr]
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.process = None


# The watchdog's program (standard library only).


def _read_pid(pidfile: str, contains: str) -> int | None:
    try:
        pid = abs(int(Path(pidfile).read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return pid if not Path("/proc").is_dir() else None
    return pid if contains in cmdline else None


def _stop(targets: list[tuple[int, int | None, int, float]]) -> None:
    """Signal every target, wait up to its grace, then SIGKILL what is left."""
    for pid, started, sig, _ in targets:
        if is_alive(pid, started):
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
    deadline = time.monotonic() + max((grace for *_, grace in targets), default=0.0)
    while time.monotonic() < deadline and any(is_alive(pid, started) for pid, started, *_ in targets):
        time.sleep(0.1)
    for pid, started, *_ in targets:
        if is_alive(pid, started):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _watch(parent: int) -> None:
    processes: list[dict] = []
    folders: list[dict] = []
    buffer = b""
    stdin = sys.stdin.buffer.fileno()
    while True:
        ready, _, _ = select.select([stdin], [], [], 0.5)
        if not ready:
            if os.getppid() != parent:  # re-parented: the parent died and someone else holds the pipe
                break
            continue
        chunk = os.read(stdin, 65536)
        if not chunk:  # the parent's end closed: it died (or forgot to say done)
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            message = json.loads(line)
            if message == "done":
                return
            (folders if "folder" in message else processes).append(message)
    targets = []
    for p in processes:
        pid = _read_pid(p["pidfile"], p["contains"]) if "pidfile" in p else p["pid"]
        if pid is not None:
            targets.append((pid, start_time(pid) if "pidfile" in p else p["started"], p["signal"], p["grace"]))
    _stop(targets)
    for f in folders:
        folder = Path(f["folder"])
        if (folder / f["marker"]).is_file():
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _watch(int(sys.argv[1]))
