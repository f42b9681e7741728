"""A pool of daemon threads for requests that may hang: an abandoned request never holds the process at exit."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any


class DaemonPool:
    """A fixed set of daemon worker threads. Unlike ThreadPoolExecutor, whose workers the interpreter joins at exit,
    a request still on the wire never holds the process: after Ctrl-C or a final error it exits at once (every batch
    already back is in the cache; the abandoned requests are sent again on the rerun)."""

    def __init__(self, workers: int) -> None:
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"mrl-eval-openai-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, function, args = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*args))
            except BaseException as err:  # noqa: BLE001 - handed to the caller through the future
                future.set_exception(err)

    def submit(self, function: Any, *args: Any) -> Future:
        future: Future = Future()
        self._tasks.put((future, function, args))
        return future

    def shutdown(self) -> None:
        """Cancel what has not started and let the workers end after their current request."""
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None:
                task[0].cancel()
        for _ in self._threads:
            self._tasks.put(None)
