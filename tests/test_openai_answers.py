"""--provider openai against answers a real server could give but should not: vectors whose `index` fields do not
say which input they belong to, wrong counts or sizes, NaN, and a server that accepts a connection and never
answers. The server is a fake OpenAI-compatible one on loopback, written here, whose vectors are a known function of
the text (the oracle)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data.cache import missing_texts
from mrl_eval.data.collection_files import load_collection
from mrl_eval.errors import MrlEvalError
from mrl_eval.providers import openai as openai_provider
from mrl_eval.providers.openai import OpenAIProvider
from mrl_eval.providers.openai_answers import index_problem
from tests.helpers import seed_tiktoken_cache

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("openai_env")  # a short backoff, no proxy, no key from the environment
MODEL = "fake-embedder"
DIM = 8
BATCH = 8
N_DOCS, N_QUERIES = 40, 6


def vector_of(text: str) -> np.ndarray:
    """The fake model: a fixed pseudo-random vector per text."""
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def item(index: object, vector: np.ndarray, *, as_base64: bool = True) -> dict:
    embedding = base64.b64encode(vector.astype("<f4").tobytes()).decode() if as_base64 else vector.tolist()
    return {"object": "embedding", "index": index, "embedding": embedding}


def shuffled(inputs: list[str]) -> list[dict]:
    """A correct answer in another order than the inputs' (the API does not promise their order)."""
    return [item(i, vector_of(inputs[i])) for i in reversed(range(len(inputs)))]


# An answer maker: inputs -> the answer's `data`.
Answer = Callable[[list[str]], list[dict]]


class FakeServer:
    """An OpenAI-compatible /v1/embeddings on loopback. Request number i (from 0) is answered by `answers[i]` when
    given, else correctly (in reversed order). Every request's inputs are logged."""

    def __init__(self, answers: dict[int, Answer] | None = None) -> None:
        self.answers = answers or {}
        self.log: list[list[str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                inputs = list(request["input"])
                with fake.lock:
                    number = len(fake.log)
                    fake.log.append(inputs)
                data = fake.answers.get(number, shuffled)(inputs)
                body = json.dumps(
                    {"object": "list", "data": data, "model": MODEL, "usage": {"prompt_tokens": 1, "total_tokens": 1}}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A small BEIR folder: N_DOCS documents, N_QUERIES queries, each judged relevant to two documents."""
    folder = tmp_path_factory.mktemp("answers") / "tiny"
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as fh:
        for i in range(N_DOCS):
            fh.write(json.dumps({"_id": f"d{i}", "title": "", "text": f"document number {i} about wings"}) + "\n")
    with (folder / "queries.jsonl").open("w") as fh:
        for j in range(N_QUERIES):
            fh.write(json.dumps({"_id": f"q{j}", "text": f"query number {j}"}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    lines += [f"q{j}\td{(3 * j + k) % N_DOCS}\t1" for j in range(N_QUERIES) for k in range(2)]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


def _sweep(data: Path, url: str, *extra: object):
    args = ["sweep", data, "--provider", "openai", "--base-url", url, "--model", MODEL, "--dims", "4",
            "--resamples", 100, "--batch-size", BATCH, *extra]  # fmt: skip
    return runner.invoke(app, [str(a) for a in args])


def _cached(data: Path, url: str, cache: Path) -> set[str]:
    """The document texts the cache holds (read back through the cache's own lookup)."""
    texts = load_collection(data).doc_texts
    provider = OpenAIProvider(MODEL, base_url=url, counter="estimate")
    return set(texts) - set(missing_texts(provider, texts, "document", cache))


def test_a_correct_answer_in_another_order_gives_each_text_its_own_vector(server):
    texts = [f"text {i}" for i in range(20)]
    vectors = OpenAIProvider(MODEL, base_url=server.url, batch_size=BATCH).embed(texts, "document")
    np.testing.assert_array_equal(vectors, np.stack([vector_of(t) for t in texts]))
    assert len(server.log) == 3  # 8 + 8 + 4, every one answered in reversed order


def _all_index_zero_reversed(inputs: list[str]) -> list[dict]:
    return [item(0, vector_of(inputs[i])) for i in reversed(range(len(inputs)))]


def _duplicated(inputs: list[str]) -> list[dict]:
    return [item(0 if i == 1 else i, vector_of(inputs[i])) for i in range(len(inputs))]


def _index_left_out(inputs: list[str]) -> list[dict]:
    data = shuffled(inputs)
    del data[2]["index"]
    return data


def _out_of_range(inputs: list[str]) -> list[dict]:
    n = len(inputs)
    return [item(n if i == 0 else i, vector_of(inputs[i])) for i in range(n)]


def _index_as_text(inputs: list[str]) -> list[dict]:
    return [item(str(i), vector_of(inputs[i])) for i in range(len(inputs))]


def _index_as_float(inputs: list[str]) -> list[dict]:
    return [item(i + 0.5 if i == 3 else i, vector_of(inputs[i])) for i in range(len(inputs))]


def _one_too_few(inputs: list[str]) -> list[dict]:
    return shuffled(inputs)[1:]


def _one_short_vector(inputs: list[str]) -> list[dict]:
    data = shuffled(inputs)
    data[0] = item(data[0]["index"], vector_of(inputs[data[0]["index"]])[:-1])
    return data


def _nan(inputs: list[str]) -> list[dict]:
    bad = vector_of(inputs[1]).copy()
    bad[3] = np.nan
    return [item(i, bad if i == 1 else vector_of(inputs[i])) for i in range(len(inputs))]


def _infinite_in_json(inputs: list[str]) -> list[dict]:
    return [item(i, vector_of(inputs[i]) * (np.inf if i == 2 else 1), as_base64=False) for i in range(len(inputs))]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (_all_index_zero_reversed, "index 0 given 8 times and 7 indices missing (e.g. 1)"),
        (_duplicated, "index 0 given 2 times and 1 index missing (e.g. 1)"),
        (_index_left_out, "item 2 without a whole-number index (None)"),
        (_out_of_range, "index 8 for 8 inputs (indices run from 0 to 7)"),
        (_index_as_text, "item 0 without a whole-number index ('0')"),
        (_index_as_float, "item 3 without a whole-number index (3.5)"),
        (_one_too_few, "7 vectors for 8 inputs"),
        (_one_short_vector, "vectors of 7 and 8 values in one answer"),
        (_nan, "NaN or infinite values in 1 of its 8 vectors"),
        (_infinite_in_json, "NaN or infinite values in 1 of its 8 vectors"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:] or None,
)
def test_openai_answer_with_bad_indices_is_refused_and_nothing_of_it_is_cached(cli_env, data, answer, problem):
    """Bug: the `index` fields were sorted but never checked, so a server answering `index: 0` for every item (out
    of order) or a duplicated index attached vectors to the wrong texts and the run exited 0."""
    fake = FakeServer({1: answer})  # the first request is answered correctly, the second not
    try:
        result = _sweep(data, fake.url, "--concurrency", 1)
    finally:
        fake.stop()
    assert result.exit_code == 1, result.output
    message = " ".join(result.stderr.split())
    assert f"{fake.url} answered a request for model '{MODEL}' with {problem}" in message, message
    assert "nothing of that request was cached" in message and "Traceback" not in result.stderr
    assert fake.log.count(fake.log[1]) == 1  # not retried: a wrong answer stays wrong
    assert len(fake.log) == 2  # and nothing sent after it
    cache = cli_env / "xdg-cache" / "mrl-eval"
    assert _cached(data, fake.url, cache) == set(fake.log[0])  # the good first answer only


@pytest.mark.parametrize(
    ("indices", "n", "problem"),
    [
        ([2, 0, 1], 3, None),
        ([], 0, None),
        ([0, 0, 0], 3, "index 0 given 3 times and 2 indices missing (e.g. 1)"),
        ([0, 1, -1], 3, "index -1 for 3 inputs (indices run from 0 to 2)"),
        ([0, True, 2], 3, "item 1 without a whole-number index (True)"),
        ([0, 1, None], 3, "item 2 without a whole-number index (None)"),
    ],
)
def test_index_problem_accepts_only_a_permutation(indices, n, problem):
    assert index_problem(indices, n) == problem


def _silent_server() -> tuple[socket.socket, list[float], list[socket.socket]]:
    """Accepts connections and never answers; logs when each was accepted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[float] = []
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn = listener.accept()[0]
            except OSError:
                return
            accepted.append(time.monotonic())
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return listener, accepted, held


def test_openai_server_that_never_answers_ends_the_run_within_the_timeout(cli_env, data):
    """Bug: a server that accepts and never answers blocked for 2 x 300 s even with --max-retries 0, new batches
    were sent after the first timeout, and the message said "1 try"."""
    listener, accepted, held = _silent_server()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    started = time.monotonic()
    try:
        result = _sweep(data, url, "--timeout", 1, "--max-retries", 0, "--concurrency", 2)
        elapsed = time.monotonic() - started
    finally:
        listener.close()
        for conn in held:
            conn.close()
    assert result.exit_code == 1, result.output
    assert elapsed < 1 + 4, elapsed  # one timeout, not one per batch
    message = " ".join(result.stderr.split())
    assert f"{url}: a request failed after 1 try (last: no answer within --timeout 1 s)" in message
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert len(accepted) == 2  # the two requests in flight; none after the first timeout
    assert all(t - started < 1 for t in accepted)


def test_openai_retries_are_counted_in_the_message(cli_env, data):
    """--max-retries 1 against a silent server: two tries of the first requests, and the message says 2."""
    listener, accepted, held = _silent_server()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    try:
        result = _sweep(data, url, "--timeout", 0.5, "--max-retries", 1, "--concurrency", 1)
    finally:
        listener.close()
        for conn in held:
            conn.close()
    assert result.exit_code == 1, result.output
    assert "a request failed after 2 tries (last: no answer within --timeout 0.5 s)" in " ".join(result.stderr.split())
    assert len(accepted) == 2


def test_timeout_is_checked_and_comes_from_the_config_file(cli_env):
    for bad in (0.0, -1.0, float("nan"), 1e9):
        with pytest.raises(MrlEvalError, match="--timeout"):
            OpenAIProvider(MODEL, base_url="http://127.0.0.1:9/v1", timeout=bad)
    assert OpenAIProvider(MODEL, base_url="http://127.0.0.1:9/v1").timeout == openai_provider.TIMEOUT_S == 60
    (cli_env / "mrl-eval.toml").write_text('provider = "openai"\ntimeout = 2.5\n')
    shown = runner.invoke(app, ["config", "show", "sweep", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["settings"]["timeout"]["value"] == 2.5
    (cli_env / "mrl-eval.toml").write_text("timeout = 0\n")
    bad = runner.invoke(app, ["config", "show", "sweep"])
    assert bad.exit_code == 1 and "timeout = 0" in bad.stderr
    (cli_env / "mrl-eval.toml").unlink()
    usage = runner.invoke(app, ["sweep", "--timeout", "5"])  # the default provider has no requests to time
    assert usage.exit_code == 2 and "--timeout applies to --provider openai only" in " ".join(usage.stderr.split())


def test_corpus_cost_counts_every_text_with_tiktoken_and_prices_it_from_the_option(cli_env, data, server, monkeypatch):
    import tiktoken

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cli_env / "tiktoken"))
    (cli_env / "tiktoken").mkdir()
    seed_tiktoken_cache(cli_env / "tiktoken")
    args = ["--price-per-1m-tokens", f"{MODEL}=2.5", "--price-per-1m-tokens", "other=1", "--json"]
    args += ["--query-prompt", "query: "]
    result = _sweep(data, server.url, *args)
    assert result.exit_code == 0, result.output
    cost = json.loads(result.stdout)["model"]["corpus_cost"]
    collection = load_collection(data)
    encoding = tiktoken.get_encoding("cl100k_base")  # the oracle: the encoding itself, on the texts as sent
    doc_tokens = sum(len(encoding.encode_ordinary(t)) for t in collection.doc_texts)
    query_tokens = sum(len(encoding.encode_ordinary("query: " + t)) for t in collection.query_texts)
    assert (cost["documents"], cost["document_tokens"]) == (N_DOCS, doc_tokens)
    assert (cost["queries"], cost["query_tokens"]) == (N_QUERIES, query_tokens)
    assert cost["token_counter"] == "tiktoken cl100k_base" and cost["price_per_million_usd"] == 2.5
    assert cost["corpus_usd"] == pytest.approx(doc_tokens * 2.5 / 1e6)
    assert cost["usd_per_query"] == pytest.approx(query_tokens / N_QUERIES * 2.5 / 1e6)
    again = _sweep(data, server.url, "--json")  # all cached, no price: the tokens still, no dollars
    cost = json.loads(again.stdout)["model"]["corpus_cost"]
    assert cost["document_tokens"] == doc_tokens and cost["corpus_usd"] is None and cost["usd_per_query"] is None


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["m"], "give MODEL=PRICE"),
        (["m=-1"], "give MODEL=PRICE"),
        (["m=nan"], "give MODEL=PRICE"),
        (["=1"], "give MODEL=PRICE"),
        (["m=1", "m=2"], "priced twice"),
    ],
)
def test_price_per_1m_tokens_is_checked(specs, message):
    from mrl_eval.errors import UsageError
    from mrl_eval.providers.openai_limits import parse_prices

    with pytest.raises(UsageError, match=message):
        parse_prices(specs)
    assert parse_prices(["org/model:v1=0.5", "m=0"]) == {"org/model:v1": 0.5, "m": 0.0}


def test_a_price_given_is_used_for_max_cost(cli_env, data, server):
    result = _sweep(data, server.url, "--price-per-1m-tokens", f"{MODEL}=1000000", "--max-cost", "0.01")
    assert result.exit_code == 1, result.output
    assert "over --max-cost $0.0100" in " ".join(result.stderr.split()) and server.log == []
