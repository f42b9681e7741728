"""Exact scoring on a Ray cluster: one task per corpus shard, merged exactly on the driver (`--ray`, `--ray-address`).

Each task runs the single-machine search (`retrieval.search`) on its shard of the corpus, for every swept dim at
once, and returns each dim's per-query top k with the shard's rows turned into corpus rows. The driver keeps, per
query and dim, the k best of all shards by the same rule as one machine: the exact float64 score first, then the
trec_eval tie rule (doc id descending, `retrieval.tie_key`). The scores are exact per (query, doc) pair (see
`retrieval`), so they do not depend on which shard a document sat in, and the merged rankings equal the
single-machine rankings, ties included: the k best of a union are among the k best of its parts.

Shards travel through Ray's object store from the driver, at most twice the cluster's CPUs at a time, so the
driver's memory holds a few shards, not the corpus. At the sizes where the object store is the bottleneck
(hundreds of millions of vectors), put the vectors on storage every node reads and pass shard paths instead: that
is the next step, not built here.

A local cluster (`--ray` without an address) is started by `ray.init` on this machine, with 127.0.0.1 as the node
address (Ray otherwise swaps a loopback address for the machine's network address), and stopped when the run
ends, also on Ctrl-C, SIGTERM (exit status 143) and SIGHUP (129); after `kill -9` of the run, a watchdog process
(`mrl_eval.watchdog`) stops what Ray leaves running. `--ray-address` connects to an existing cluster (`auto`,
`HOST:PORT`, or a Ray Client `ray://HOST:10001` address) and leaves it running.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.evaluate.retrieval import Ranking, search
from mrl_eval.extras import import_extra
from mrl_eval.watchdog import Watchdog, exit_on_signals


@dataclass(frozen=True)
class RaySettings:
    enabled: bool = False
    address: str | None = None  # None: start a local cluster for this run
    num_cpus: int | None = None  # a local cluster's CPUs (default: all of this machine's)
    shard_rows: int | None = None  # corpus rows per task (default: about two tasks per CPU of the cluster)
    workers: int | None = None  # embedding actors (default: one per GPU share, else one per CPU)
    gpus_per_worker: float = 0.0  # GPUs per embedding actor (0: CPU actors)

    def check(self) -> RaySettings:
        if self.num_cpus is not None and not 1 <= self.num_cpus <= 4096:
            raise UsageError(f"--ray-cpus {self.num_cpus}: give a number of CPUs from 1 to 4096")
        if self.shard_rows is not None and not 1 <= self.shard_rows <= 10**9:
            raise UsageError(f"--ray-shard-rows {self.shard_rows}: give a number of rows from 1 to 10^9")
        if self.workers is not None and not 1 <= self.workers <= 100_000:
            raise UsageError(f"--ray-workers {self.workers}: give a number of workers from 1 to 100000")
        if not 0 <= self.gpus_per_worker <= 64:
            raise UsageError(f"--ray-gpus-per-worker {self.gpus_per_worker:g}: give a share of GPUs from 0 to 64")
        return self

    @property
    def active(self) -> bool:
        return self.enabled or self.address is not None


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def import_ray():
    """The ray module, or an error that names the extra to install."""
    return import_extra("ray", extra="ray", feature="--ray")


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a `HOST:PORT` or `ray://HOST:PORT` address; None for `auto` and other forms."""
    match = re.fullmatch(r"(?:ray://)?\[?([^\]]+?)\]?:(\d{1,5})", address.strip())
    return (match.group(1), int(match.group(2))) if match else None


def _keep_on_loopback(ray) -> None:
    """Make Ray use 127.0.0.1 as this node's address (it otherwise swaps a loopback address for the machine's
    network address), here and in the processes it starts."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False


def _use_token_if_any() -> None:
    """Send Ray's authentication token when connecting, if this machine has one and the user set no mode: the rule
    `ray start` follows. Clusters started by recent Ray require the token; without it every call is refused as
    "Authentication token is missing". Ray reads the mode when it is imported, so it is set through Ray's own
    helper, which also re-reads its configuration (older Ray versions have no token authentication at all)."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's minutes of reconnecting, when nothing listens at the address."""
    target = _host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=5).close()
    except OSError as err:
        raise MrlEvalError(
            f"--ray-address {address}: nothing answers there ({err.strerror or err}); start the cluster "
            "(ray start --head) or check the address"
        ) from err


@contextlib.contextmanager
def cluster(settings: RaySettings) -> Iterator[dict]:
    """Connect to the cluster for the length of the block and yield what it is; a cluster started here is
    stopped at the end. Inside a Ray session that the caller opened already, that session is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        yield describe(ray, started_here=False)
        return
    options = {"log_to_driver": False, "configure_logging": False}
    target = _host_port(settings.address) if settings.address else None
    if settings.address is None or (target is not None and target[0] in LOOPBACK):
        _keep_on_loopback(ray)
    if settings.address is not None:
        _check_reachable(settings.address)
        _use_token_if_any()
    with exit_on_signals():
        before = _descendants()
        sigterm = signal.getsignal(signal.SIGTERM)
        try:
            if settings.address is None:
                ray.init(num_cpus=settings.num_cpus, include_dashboard=False, **options)
            else:
                ray.init(address=settings.address, **options)
        except Exception as err:  # ray raises ConnectionError, RuntimeError, ValueError... for a bad or dead address
            where = settings.address or "a local cluster"
            raise MrlEvalError(f"--ray: could not start or reach {where}: {err}") from err
        finally:
            _restore_sigterm(sigterm)
        watchdog = _watch_local_cluster(before) if settings.address is None else None
        try:
            yield describe(ray, started_here=settings.address is None)
        finally:
            ray.shutdown()
            if watchdog is not None:
                watchdog.done()


def _restore_sigterm(handler) -> None:
    """`ray.init` replaces the SIGTERM handler with one that exits with status 15; put ours back (SystemExit(143)
    through `exit_on_signals`, so `ray.shutdown` runs: one exit status for SIGTERM everywhere)."""
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _descendants() -> set[int]:
    import psutil  # a dependency of ray

    return {p.pid for p in psutil.Process().children(recursive=True)}


def _watch_local_cluster(before: set[int]) -> Watchdog:
    """A watchdog that stops the local cluster's processes if this process is killed (`kill -9`). Ray ends most of
    them itself (its processes die with their parent), but the raylet's agents (dashboard and runtime-env agents)
    spend about a minute reporting the raylet's death to a GCS that is gone before they exit."""
    watchdog = Watchdog.start()
    for pid in sorted(_descendants() - before - {watchdog.pid}):
        watchdog.stop_process(pid, signal.SIGTERM, grace=3.0)
    return watchdog


def describe(ray, started_here: bool) -> dict:
    resources = ray.cluster_resources()
    return {
        "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
        "cpus": int(resources.get("CPU", 0)),
        "gpus": int(resources.get("GPU", 0)),
        "started_here": started_here,
    }


def _score_shard(
    queries: np.ndarray,
    shard: np.ndarray,
    start: int,
    dims: Sequence[int],
    k: int,
    doc_key: np.ndarray,
    exclude: np.ndarray | None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """One task: every dim's top k of this shard, with corpus rows (not shard rows) as doc indexes."""
    rankings = search(queries, shard, dims, k, doc_key, exclude=exclude)
    out = {}
    for dim, ranking in rankings.items():
        rows = np.where(ranking.doc_index >= 0, ranking.doc_index + start, -1)
        out[dim] = (rows, ranking.score)
    return out


def merge(
    parts: Sequence[dict[int, tuple[np.ndarray, np.ndarray]]], dims: Sequence[int], k: int, doc_key: np.ndarray
) -> dict[int, Ranking]:
    """The k best per query of all shards' top k: by exact score, then doc id descending (the tie rule)."""
    merged = {}
    for dim in dims:
        rows = np.concatenate([p[dim][0] for p in parts], axis=1)
        score = np.concatenate([p[dim][1] for p in parts], axis=1)
        valid = rows >= 0
        score = np.where(valid, score, -np.inf)
        key = np.where(valid, doc_key[np.maximum(rows, 0)], -1)
        order = np.lexsort((-key, -score), axis=1)[:, :k]  # the last key sorts first: score, then tie key
        merged[dim] = Ranking(
            doc_index=np.take_along_axis(np.where(valid, rows, -1), order, axis=1),
            score=np.take_along_axis(score, order, axis=1),
        )
    return merged


def search_on_ray(
    queries: np.ndarray,
    corpus: np.ndarray,
    dims: Sequence[int],
    k: int,
    doc_key: np.ndarray,
    settings: RaySettings,
    exclude: np.ndarray | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[int, Ranking]:
    """`retrieval.search`, one Ray task per corpus shard, inside a connected session (`cluster`)."""
    ray = import_ray()
    n_docs = corpus.shape[0]
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    rows_per_shard = settings.shard_rows or max(1, math.ceil(n_docs / (2 * cpus)))
    task = ray.remote(num_cpus=1)(_score_shard)
    query_ref = ray.put(np.ascontiguousarray(queries, dtype=np.float32))
    dims = sorted(set(int(d) for d in dims))
    pending: dict = {}
    parts: dict[int, dict] = {}

    def collect(block: bool) -> None:
        ready, _ = ray.wait(list(pending), num_returns=1 if block else len(pending), timeout=None if block else 0)
        for ref in ready:
            start, size = pending.pop(ref)
            parts[start] = ray.get(ref)
            if on_progress is not None:
                on_progress(size)

    for start in range(0, n_docs, rows_per_shard):
        stop = min(start + rows_per_shard, n_docs)
        local_exclude = None
        if exclude is not None:
            local_exclude = np.where((exclude >= start) & (exclude < stop), exclude - start, -1).astype(np.int64)
        shard = np.ascontiguousarray(corpus[start:stop])
        ref = task.remote(query_ref, shard, start, dims, k, doc_key[start:stop], local_exclude)
        pending[ref] = (start, stop - start)
        while len(pending) >= 2 * cpus:
            collect(block=True)
    while pending:
        collect(block=True)
    return merge([parts[s] for s in sorted(parts)], dims, min(k, n_docs), doc_key)
