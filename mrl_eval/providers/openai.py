"""OpenAI and OpenAI-compatible embedding APIs (`--provider openai`).

Each text is requested once at full size and sliced locally: a `dimensions=d` response is the L2-normalised first
d values of the full vector, so one full-size vector covers every swept dim and `dimensions` is never sent.
Requests are planned within the API's limits (`openai_limits`), sent by a bounded pool of threads, retried on 429,
5xx, timeouts (`--timeout`), dropped connections and cut responses (exponential backoff with jitter, `Retry-After`
honoured), and handed back one by one as they finish, so the cache keeps every finished request at once. An answer
whose `index` fields are not 0..n-1 each once, or whose vectors are not all finite and of one size, stops the run:
its vectors cannot be matched to the texts. Once a request fails for good no other starts. The SDK's own retries
are off, so the policy is this module's. The key comes from the environment and goes only into the
request's header: never into a message, a report or a cache key.
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.extras import import_extra
from mrl_eval.limits import MAX_TIMEOUT_S
from mrl_eval.providers import openai_limits as L
from mrl_eval.providers.base import Role
from mrl_eval.providers.daemon_pool import DaemonPool
from mrl_eval.providers.openai_answers import WrongAnswer, read_answer

DEFAULT_MODEL = "text-embedding-3-small"
OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_HOST = "api.openai.com"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
PLACEHOLDER_KEY = "none"  # sent to a custom --base-url when no key is set (local servers ignore it)
DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_RETRIES = 6
LOCAL_BATCH = 32  # inputs per request to servers other than OpenAI's: TEI refuses more by default
MAX_RETRY_AFTER_S = 300.0  # a longer wait asked for (a spent daily limit) stops the run instead
BACKOFF_BASE_S = 1.0  # seconds of the first backoff; the tests make it small
TIMEOUT_S = 60.0  # --timeout: the longest wait for an answer (no byte for this long); --timeout sets it
CONNECT_TIMEOUT_S = 10.0  # a connection not open within this is a failed try (or sooner with a shorter --timeout)
PROBE_TEXT = "mrl-eval probe"
RESUME = "Finished batches are cached: run the same command again to send only the rest."


class _Stopped(Exception):
    """Another request failed for good: give up waiting to retry."""


def _sanitise_url(url: str, flag: str) -> tuple[str, str]:
    """The URL without credentials or query (for messages, reports and the cache key), and its host[:port]."""
    parts = urlsplit(url)
    if parts.username or parts.password:  # not echoed: it holds a secret, which belongs in --api-key-env
        raise UsageError(f"{flag}: a URL with a user or password in it is refused; pass the key with --api-key-env")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{flag} {url!r}: not an http(s) URL; use e.g. http://localhost:11434/v1")
    host = parts.hostname.lower() + (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}", host


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        model: str | None,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        concurrency: int | None = None,
        max_retries: int | None = None,
        on_long_input: str | None = None,
        max_cost: float | None = None,
        query_prompt: str | None = None,
        doc_prompt: str | None = None,
        batch_size: int | None = None,
        counter: str = "auto",
        backoff_base: float | None = None,
        timeout: float | None = None,
        price_per_1m_tokens: Sequence[str] | None = None,
    ) -> None:
        self.model = model or DEFAULT_MODEL
        flag = "--base-url" if base_url else "OPENAI_BASE_URL"
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
        self.endpoint, host = _sanitise_url(self.base_url, flag)
        self.is_openai = host.split(":")[0] == OPENAI_HOST
        # Different servers, or paths of one server (a proxy routing /a/v1 and /b/v1), can serve different weights
        # under one name: the whole endpoint is part of the fingerprint. The key never identifies the weights.
        self.fingerprint = f"{self.endpoint}/{self.model}"
        self.key_env = api_key_env or DEFAULT_KEY_ENV
        self._key, self.key_is_placeholder = self._read_key(api_key_env is not None)
        self.concurrency = DEFAULT_CONCURRENCY if concurrency is None else concurrency
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
        self.on_long_input = on_long_input or "error"
        self.max_cost = max_cost
        self.prices = L.parse_prices(price_per_1m_tokens)
        self.batch_size = batch_size or (L.MAX_INPUTS if self.is_openai else LOCAL_BATCH)
        self.timeout = TIMEOUT_S if timeout is None else timeout
        for bad, message in (
            (self.concurrency < 1, f"--concurrency {self.concurrency}: give 1 or more"),
            (self.max_retries < 0, f"--max-retries {self.max_retries}: give 0 or more"),
            (
                self.on_long_input not in L.ON_LONG_INPUT,
                f"--on-long-input {self.on_long_input!r}: choose error or truncate",
            ),
            (max_cost is not None and max_cost < 0, f"--max-cost {max_cost}: give 0 or more US dollars"),
            (
                not 1 <= self.batch_size <= L.MAX_INPUTS,
                f"--batch-size {self.batch_size}: the API takes 1 to 2048 inputs per request",
            ),
            (
                not 0 < self.timeout <= MAX_TIMEOUT_S,  # NaN fails too
                f"--timeout {self.timeout}: give a number of seconds above 0, at most {MAX_TIMEOUT_S:,}",
            ),
        ):
            if bad:
                raise UsageError(message)
        self.backoff_base = BACKOFF_BASE_S if backoff_base is None else backoff_base
        self.counter = L.token_counter(counter)
        self._prompts: dict[str, str] = {"query": query_prompt or "", "document": doc_prompt or ""}
        self._dim: int | None = L.FULL_DIMS.get(self.model) if self.is_openai else None
        self._lock = threading.Lock()
        self._client: Any = None
        self.cost: dict | None = None
        self.corpus_cost: L.CorpusCost | None = None
        self.truncated = self.requests = self.retries = 0

    def _read_key(self, named: bool) -> tuple[str, bool]:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.key_env):
            # Not echoed: a value given here by mistake may be the key itself.
            raise UsageError("--api-key-env takes the NAME of an environment variable that holds the key, e.g. MY_KEY")
        key = os.environ.get(self.key_env) or None
        if key is not None:
            return key, False
        if named:
            raise MrlEvalError(f"--api-key-env {self.key_env}: that environment variable is not set; export it first")
        if self.is_openai:
            raise MrlEvalError(
                f"no API key for {OPENAI_HOST}: export {DEFAULT_KEY_ENV}=sk-... (or put it in another variable and "
                "pass --api-key-env NAME). Keys are read from the environment only, never from a flag."
            )
        return PLACEHOLDER_KEY, True

    # What the rest of mrl-eval sees

    @property
    def full_dim(self) -> int:
        if self._dim is None:  # an unknown model: ask the server once
            self._request([PROBE_TEXT], threading.Event())
        assert self._dim is not None  # set by every successful request
        return self._dim

    def prompt(self, role: Role) -> str:
        return self._prompts[role]

    def info(self) -> dict:
        """For the report: where the vectors came from and what they cost. Never the key."""
        return {
            "base_url": self.endpoint,
            "token_counter": self.counter.name,
            "cost": self.cost,
            "corpus_cost": self.corpus_cost.to_dict() if self.corpus_cost else None,
            "requests": self.requests,
            "retries": self.retries,
            "truncated_inputs": self.truncated,
        }

    def embed(self, texts: Sequence[str], role: Role) -> np.ndarray:
        rows: dict[int, np.ndarray] = {}
        for positions, vectors in self.embed_batches(texts, role):
            rows.update(zip(positions, vectors))
        if not rows:
            return np.zeros((0, self._dim or 0), np.float32)
        return np.stack([rows[i] for i in range(len(texts))])

    def preflight(
        self, pending: Mapping[Role, Sequence[str]], every: Mapping[Role, Sequence[str]] | None = None
    ) -> dict:
        """Before any request: refuse inputs over the limit (with --on-long-input error) and estimate the cost of
        `pending` (the texts the cache lacks), refusing a run over --max-cost. With `every` (all the documents and
        queries, cached or not), also what the collection costs (`corpus_cost`)."""
        n_texts = n_tokens = 0
        for role, texts in pending.items():
            n_texts += len(texts)
            n_tokens += sum(self._prepare(texts, role, warn=False)[1])
        usd = L.cost_usd(n_tokens, self.model, self.prices)
        price = L.price_per_million(self.model, self.prices)
        self.cost = {
            "texts": n_texts,
            "tokens": n_tokens,
            "token_counter": self.counter.name,
            "price_per_million_usd": price,
            "usd": usd,
        }
        if every is not None:
            docs, queries = every.get("document", ()), every.get("query", ())
            self.corpus_cost = L.CorpusCost(
                self.model,
                self.counter.name,
                len(docs),
                sum(self._prepare(docs, "document", warn=False)[1]),
                len(queries),
                sum(self._prepare(queries, "query", warn=False)[1]),
                price,
            )
        if self.max_cost is not None and n_tokens:
            if usd is None:
                raise MrlEvalError(
                    f"--max-cost {self.max_cost}: no price was given for model {self.model!r} (mrl-eval keeps no "
                    "price list), so the limit cannot be checked. Give its price with "
                    f"--price-per-1m-tokens {self.model}=USD, or drop --max-cost."
                )
            if usd > self.max_cost:
                raise MrlEvalError(
                    f"embedding the {n_texts:,} texts not yet cached ({n_tokens:,} tokens by {self.counter.name}) "
                    f"with {self.model} would cost about ${usd:.4f}, over --max-cost ${self.max_cost:.4f}. Nothing "
                    f"was sent. Raise --max-cost to at least {usd:.4f} to go ahead."
                )
        return self.cost

    def embed_batches(self, texts: Sequence[str], role: Role) -> Iterator[tuple[list[int], np.ndarray]]:
        """(positions in `texts`, full-size vectors) for each request, in the order the requests finish. Once a
        request fails for good no new one starts: the requests already finished are handed back, the error is
        raised at once, and the requests still in flight are abandoned (their texts are sent again on the rerun)."""
        if not texts:
            return
        sent, counts = self._prepare(texts, role, warn=True)
        batches = iter(L.plan_batches(counts, self.batch_size, L.MAX_REQUEST_TOKENS))
        stop = threading.Event()
        pool = DaemonPool(self.concurrency)
        running: dict[Future, list[int]] = {}
        try:
            while True:
                while not stop.is_set() and len(running) < 2 * self.concurrency:  # a short queue: cheap to abandon
                    batch = next(batches, None)
                    if batch is None:
                        break
                    running[pool.submit(self._request, [sent[i] for i in batch], stop)] = batch
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                error: BaseException | None = None
                for future in done:
                    batch = running.pop(future)
                    try:
                        vectors = future.result()
                    except _Stopped:
                        continue
                    except BaseException as err:  # noqa: BLE001 - raised once the finished batches are handed back
                        error = error or err
                        continue
                    yield batch, vectors
                if error is not None:
                    raise error
        finally:
            stop.set()  # wakes workers waiting to retry; a request on the wire is abandoned (daemon threads)
            pool.shutdown()

    # Preparing and sending

    def _prepare(self, texts: Sequence[str], role: Role, warn: bool) -> tuple[list[str], list[int]]:
        """The inputs as sent (prompt prepended; the API refuses an empty string, so "" becomes " ") and their
        token counts, with inputs over the per-input limit refused or truncated."""
        prompt = self._prompts[role]
        sent = [(prompt + t) or " " for t in texts]
        counts = self.counter.count(sent)
        long = L.find_long(counts)
        if long is None:
            return sent, counts
        if self.on_long_input == "error":
            preview = sent[long.first][:60]
            raise MrlEvalError(
                f"{long.count} {role} text{'s are' if long.count != 1 else ' is'} over the API's limit of "
                f"{L.MAX_INPUT_TOKENS:,} tokens per input (counted by {self.counter.name}); the first has "
                f"{long.first_tokens:,} tokens and starts {preview!r}. Pass --on-long-input truncate to cut them to "
                "the limit, or shorten them. Nothing was sent."
            )
        for i, n in enumerate(counts):
            if n > L.MAX_INPUT_TOKENS:
                sent[i] = self.counter.truncate(sent[i], L.MAX_INPUT_TOKENS)
                counts[i] = self.counter.count([sent[i]])[0]
        if warn:
            self.truncated += long.count
            warnings.warn(
                f"mrl-eval: {long.count} {role} text(s) cut to {L.MAX_INPUT_TOKENS:,} tokens "
                f"({self.counter.name}) because of --on-long-input truncate",
                stacklevel=2,
            )
        return sent, counts

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                openai = import_extra("openai", extra="openai", feature="--provider openai")
                timeout = openai.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT_S, self.timeout))
                self._client = openai.OpenAI(api_key=self._key, base_url=self.base_url, max_retries=0, timeout=timeout)
            return self._client

    def _request(self, texts: list[str], stop: threading.Event) -> np.ndarray:
        """One request, retried until it succeeds, fails for good, or runs out of tries. A final failure sets
        `stop` before it is raised, so no worker starts another request after it."""
        try:
            return self._send(texts, stop)
        except _Stopped:
            raise
        except BaseException:
            stop.set()
            raise

    def _send(self, texts: list[str], stop: threading.Event) -> np.ndarray:
        client = self._get_client()
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise _Stopped
            with self._lock:
                self.requests += 1
            try:
                response = client.embeddings.create(model=self.model, input=texts, encoding_format="base64")
            except Exception as err:  # noqa: BLE001 - _judge re-raises what is not a transient failure
                wait_s, reason = self._judge(err)
            else:
                return self._decode(response, len(texts))
            tries = attempt + 1
            if attempt == self.max_retries:
                raise MrlEvalError(
                    f"{self.endpoint}: a request failed after {tries} {'try' if tries == 1 else 'tries'} (last: "
                    f"{reason}). Check the server, or raise --max-retries / --timeout, or lower --concurrency. {RESUME}"
                )
            with self._lock:
                self.retries += 1
            if stop.wait(wait_s if wait_s is not None else L.backoff_seconds(attempt, self.backoff_base)):
                raise _Stopped
        raise AssertionError("unreachable")  # pragma: no cover

    def _decode(self, response: Any, n: int) -> np.ndarray:
        """The rows of an answer to `n` inputs, in the order of the inputs. An answer that does not say, exactly
        once, which input each vector belongs to (`index` 0..n-1), or whose vectors are not all finite and of one
        size, is refused: retrying a well-formed but wrong answer would not make it right."""
        try:
            matrix = read_answer(getattr(response, "data", None), n)
        except WrongAnswer as err:
            raise self._wrong_answer(str(err)) from None
        dim = matrix.shape[1]
        with self._lock:
            if self._dim is None:
                self._dim = dim
        if dim != self._dim:
            raise MrlEvalError(
                f"{self.endpoint} returned {dim}-dim vectors for model {self.model!r}, where {self._dim} were "
                "expected: check --model and --base-url (is this server serving that model?)"
            )
        return matrix

    def _wrong_answer(self, problem: str) -> MrlEvalError:
        return MrlEvalError(
            f"{self.endpoint} answered a request for model {self.model!r} with {problem}; its vectors cannot be "
            "trusted, so nothing of that request was cached. The server does not follow the OpenAI embeddings API "
            f"here: fix or update it. {RESUME}"
        )

    def _judge(self, err: Exception) -> tuple[float | None, str]:
        """A transient failure -> (the wait asked for or None, a description); any other -> MrlEvalError."""
        import openai

        if isinstance(err, openai.APIResponseValidationError | json.JSONDecodeError | UnicodeDecodeError):
            return None, f"a malformed response ({type(err).__name__})"
        if isinstance(err, openai.APITimeoutError):
            return None, f"no answer within --timeout {self.timeout:g} s"
        if isinstance(err, openai.APIConnectionError):
            cause = type(err.__cause__ or err.__context__).__name__
            said = {"ConnectError": "could not connect", "RemoteProtocolError": "the connection dropped mid-answer"}
            return None, said.get(cause, f"connection failed ({cause})")
        if not isinstance(err, openai.APIStatusError):
            raise err
        status, body = err.status_code, err.body if isinstance(err.body, dict) else {}
        said = self._redact(str(body.get("message") or err.message))[:300]
        if status == 401:
            raise MrlEvalError(
                f"{self.endpoint} needs an API key (401 Unauthorized) and none is set: export {self.key_env}=... "
                f"(or name the variable that holds it with --api-key-env). {RESUME}"
                if self.key_is_placeholder
                else f"{self.endpoint} refused the API key in ${self.key_env} (401 Unauthorized): set {self.key_env} "
                f"to a valid key for this server. {RESUME}"
            ) from err
        if status == 429 and "insufficient_quota" in (body.get("code"), body.get("type"), err.code):
            raise MrlEvalError(
                f"{self.endpoint}: the key's quota is used up (429 insufficient_quota). Add credit or raise the "
                f"project's limits, then rerun. {RESUME}"
            ) from err
        if status in (408, 409, 429) or status >= 500:
            wait_s = L.retry_after_seconds(err.response.headers)
            if wait_s is not None and wait_s > MAX_RETRY_AFTER_S:
                raise MrlEvalError(
                    f"{self.endpoint} asks to wait {wait_s:.0f} s before the next request ({status}, Retry-After); "
                    f"run the same command again later. {RESUME}"
                ) from err
            return wait_s, f"{status} {said}"
        hint = {
            403: f"The key may not use model {self.model!r}: check the project's permissions, or --model.",
            404: f"Check --model {self.model!r} and --base-url {self.endpoint} (it usually ends in /v1).",
        }.get(status, "If a batch is too large for this server, lower --batch-size.")
        if status in (400, 413, 422) and re.search(r"token|length|too long|too large|context", said, re.I):
            hint = "An input may be over the model's limit: pass --on-long-input truncate, or lower --batch-size."
            if not self.counter.is_exact:
                hint += " For exact token counts make tiktoken's cl100k_base available offline (see docs/openai.md)."
        raise MrlEvalError(
            f"{self.endpoint} refused a request for model {self.model!r} ({status}: {said}). {hint} {RESUME}"
        ) from err

    def _redact(self, text: str) -> str:
        """A server's message without the key (OpenAI's echoes part of a wrong key)."""
        if not self.key_is_placeholder and len(self._key) >= 8:
            text = text.replace(self._key, "***")
        return re.sub(r"\bsk-[A-Za-z0-9_\-*]{4,}", "sk-***", text)
