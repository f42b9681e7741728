"""Exact scoring on Ray: shards merged exactly (no Ray needed), and real local Ray clusters through the CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mrl_eval.cli import app
from mrl_eval.evaluate.ray_search import _score_shard, merge
from mrl_eval.evaluate.retrieval import search, tie_key
from tests.conftest import checkout_env, data_path, require

GEMMA = "embeddinggemma-300m"


def _tied_corpus(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    docs = rng.normal(size=(97, 48)).astype(np.float32)
    docs[50:60] = docs[10]  # exact duplicates: ties that only the doc-id rule breaks, spread over shards
    docs[80] = docs[3]
    queries = rng.normal(size=(12, 48)).astype(np.float32)
    queries[0] = docs[10]
    doc_ids = [f"d{i:03d}" for i in rng.permutation(97)]
    return queries, docs, doc_ids


@pytest.mark.parametrize("rows_per_shard", [1, 7, 40, 97])
@pytest.mark.parametrize("with_exclude", [False, True])
def test_shards_merged_exactly_equal_one_pass(rows_per_shard, with_exclude):
    queries, docs, doc_ids = _tied_corpus()
    key = tie_key(doc_ids)
    dims, k = [8, 16, 48], 15
    exclude = np.array([10, -1, 3, 96, *([-1] * 8)], dtype=np.int64) if with_exclude else None
    whole = search(queries, docs, dims, k, key, exclude=exclude)
    parts = []
    for start in range(0, len(docs), rows_per_shard):
        stop = min(start + rows_per_shard, len(docs))
        local = None
        if exclude is not None:
            local = np.where((exclude >= start) & (exclude < stop), exclude - start, -1)
        parts.append(_score_shard(queries, docs[start:stop], start, dims, k, key[start:stop], local))
    merged = merge(parts, dims, min(k, len(docs)), key)
    for dim in dims:
        assert np.array_equal(merged[dim].doc_index, whole[dim].doc_index)
        assert np.array_equal(merged[dim].score, whole[dim].score)


# Real clusters. Ray starts slowly (tens of seconds on two busy cores), so one cluster serves the module.


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A local Ray cluster on 127.0.0.1 with two worker CPUs, owned by a helper process: its address is what a user
    passes as --ray-address. Closing the helper's stdin stops the cluster."""
    require("ray", extra="ray")
    script = (
        "import sys, ray\n"
        "ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)\n"
        "print(ray.get_runtime_context().gcs_address, flush=True)\n"
        "sys.stdin.read()\n"
        "ray.shutdown()\n"
    )
    env = checkout_env(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")  # its workers import mrl_eval
    owner = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        address = owner.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), address  # loopback only
        yield address
    finally:
        owner.stdin.close()
        owner.wait(timeout=120)


def _sweep(work: Path, args: list, name: str) -> tuple[dict, dict[str, str]]:
    runs = work / name
    result = CliRunner().invoke(
        app, [str(a) for a in [*args, "--json", "--save-runs", runs, "--out", work / f"{name}-reports"]]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), {p.name: p.read_text() for p in sorted(runs.iterdir())}


def _assert_same(doc: dict, runs: dict[str, str], ref: dict, ref_runs: dict[str, str]) -> None:
    assert runs == ref_runs  # every dim's ranking, scores and ties included, written as TREC run files
    for mine, theirs in zip(doc["results"], ref["results"]):
        assert mine["dim"] == theirs["dim"]
        for metric, value in theirs["metrics"].items():
            assert mine["metrics"][metric] == pytest.approx(value, abs=1e-9)
    assert doc["per_query"] == ref["per_query"]


def test_sweep_on_a_ray_cluster_equals_one_machine(cli_env, ray_cluster):
    folder = data_path("scifact-subset")
    args = [
        "sweep",
        folder,
        "--embeddings",
        folder / "embeddings" / GEMMA,
        "--dims",
        "64,128,256",
        "--resamples",
        "500",
    ]
    ref, ref_runs = _sweep(cli_env, args, "local")
    doc, runs = _sweep(cli_env, [*args, "--ray-address", ray_cluster, "--ray-shard-rows", "157"], "ray")
    _assert_same(doc, runs, ref, ref_runs)
    assert doc["model"]["scored_on"]["ray"]["cpus"] == 2 and not doc["model"]["scored_on"]["ray"]["started_here"]


def test_bundled_sample_on_a_ray_cluster_with_identical_ids_ignored(cli_env, ray_cluster):
    folder = data_path("cranfield")
    args = [
        "sweep",
        folder,
        "--embeddings",
        folder / "embeddings" / "all-minilm-l6-v2",
        "--dims",
        "32,96",
        "--ignore-identical-ids",
        "--resamples",
        "500",
    ]
    ref, ref_runs = _sweep(cli_env, args, "local")
    doc, runs = _sweep(cli_env, [*args, "--ray-address", ray_cluster, "--ray-shard-rows", "333"], "ray")
    _assert_same(doc, runs, ref, ref_runs)


def test_ray_flag_starts_a_local_cluster_and_stops_it(cli_env):
    ray = require("ray", extra="ray")
    folder = data_path("cranfield")
    args = ["sweep", folder, "--embeddings", folder / "embeddings" / GEMMA, "--dims", "128", "--resamples", "500"]
    ref, ref_runs = _sweep(cli_env, args, "local")
    doc, runs = _sweep(cli_env, [*args, "--ray", "--ray-cpus", "2"], "ray")
    _assert_same(doc, runs, ref, ref_runs)
    assert doc["model"]["scored_on"]["ray"]["started_here"] is True
    assert not ray.is_initialized()  # stopped at the end of the run


def test_an_unreachable_cluster_is_a_clear_error(cli_env):
    require("ray", extra="ray")
    folder = data_path("cranfield")
    result = CliRunner().invoke(
        app,
        [
            str(a)
            for a in [
                "sweep",
                folder,
                "--embeddings",
                folder / "embeddings" / GEMMA,
                "--dims",
                "128",
                "--ray-address",
                "127.0.0.1:1",
            ]
        ],
    )
    assert result.exit_code == 1, result.output
    assert "--ray-address 127.0.0.1:1: nothing answers there" in " ".join(result.output.split())


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGKILL, -9)])
def test_a_local_cluster_goes_with_its_driver(sig, code):
    """A local cluster (`--ray`) started as the CLI starts it (`ray_search.cluster`). SIGTERM exits 143 (ray.init
    installs a handler that exited 15) and SIGHUP 129, both after ray.shutdown; after kill -9 the watchdog stops
    what Ray leaves (its agents lived on for about a minute). Every process the driver started is gone in seconds."""
    require("ray", extra="ray")
    import psutil

    script = (
        "import time\n"
        "from mrl_eval.evaluate.ray_search import RaySettings, cluster\n"
        "with cluster(RaySettings(enabled=True, num_cpus=1)):\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(600)\n"
    )
    env = checkout_env()
    driver = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert driver.stdout.readline().strip() == "ready"
        started = psutil.Process(driver.pid).children(recursive=True)
        assert any("raylet" in " ".join(p.cmdline()) for p in started)
        driver.send_signal(sig)
        assert driver.wait(timeout=120) == code
    finally:
        if driver.poll() is None:
            driver.kill()
    _, alive = psutil.wait_procs(started, timeout=15)
    assert not alive, [" ".join(p.cmdline())[:80] for p in alive]
