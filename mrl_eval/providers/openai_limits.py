"""The OpenAI embeddings API's limits, prices and retry timing, as pure functions (no network, no SDK).

Limits (https://platform.openai.com/docs/api-reference/embeddings/create): at most 2,048 inputs per request, at
most 300,000 tokens summed over one request's inputs, at most 8,192 tokens per input.

Tokens are counted with tiktoken's cl100k_base (the encoding of every OpenAI embedding model) when that encoding
is already on disk. tiktoken downloads encodings on first use; mrl-eval never lets it, so counting works offline
and cannot hang: without the file it falls back to an estimate, ceil(UTF-8 bytes / 3). The estimate overcounts
ordinary text (cl100k_base averages about 4 bytes per token on English and more on most Latin-script languages),
so costs come out high and requests stay under the limits; it is not a bound (a token is at least 1 byte, so the
worst case is a token per byte: long runs of digits, symbols or rare characters), and a server that still finds
an input too long stops the run with a message saying how to count exactly.
"""

from __future__ import annotations

import email.utils
import hashlib
import math
import os
import random
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrl_eval.errors import UsageError

MAX_INPUTS = 2048
MAX_REQUEST_TOKENS = 300_000
MAX_INPUT_TOKENS = 8192

# US dollars per million input tokens (https://openai.com/api/pricing). A model not listed (a local server, a new
# model) has no known price: its cost is reported as unknown.
FULL_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}

ON_LONG_INPUT = ("error", "truncate")
ENCODING = "cl100k_base"
# Where tiktoken keeps cl100k_base once downloaded, and the file's sha256 (from tiktoken_ext/openai_public.py).
_ENCODING_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
_ENCODING_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
ESTIMATE = "estimate: ceil(UTF-8 bytes / 3)"
_BYTES_PER_TOKEN = 3


def tiktoken_cache_file() -> Path | None:
    """The file tiktoken would read cl100k_base from (mirrors tiktoken.load.read_file_cached); None when its
    cache is disabled (TIKTOKEN_CACHE_DIR="")."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        folder = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        folder = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        folder = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not folder:
        return None
    return Path(folder) / hashlib.sha1(_ENCODING_URL.encode()).hexdigest()


def _encoding_on_disk() -> bool:
    """True only if tiktoken will load cl100k_base without the network: the file is there and intact (tiktoken
    deletes and re-downloads a file whose hash does not match)."""
    path = tiktoken_cache_file()
    try:
        return path is not None and hashlib.sha256(path.read_bytes()).hexdigest() == _ENCODING_SHA256
    except OSError:
        return False


class TokenCounter:
    """Counts and truncates tokens: exactly with tiktoken's cl100k_base, else with the byte estimate."""

    def __init__(self, encoding: Any = None) -> None:
        self._encoding = encoding
        self.name = f"tiktoken {ENCODING}" if encoding is not None else ESTIMATE

    @property
    def is_exact(self) -> bool:
        return self._encoding is not None

    def count(self, texts: Sequence[str]) -> list[int]:
        if self._encoding is None:
            return [math.ceil(len(t.encode("utf-8")) / _BYTES_PER_TOKEN) for t in texts]
        return [len(tokens) for tokens in self._encoding.encode_ordinary_batch(list(texts))]

    def truncate(self, text: str, limit: int) -> str:
        """The longest prefix of `text` that counts at most `limit` tokens (tokens with tiktoken; with the
        estimate, whole characters within limit * 3 UTF-8 bytes)."""
        if self._encoding is None:
            return text.encode("utf-8")[: limit * _BYTES_PER_TOKEN].decode("utf-8", errors="ignore")
        tokens = self._encoding.encode_ordinary(text)
        keep = limit
        while True:
            # A cut inside a multi-byte character decodes to U+FFFD: drop it. Re-encoding a decoded prefix can
            # give a few more tokens than were kept, so shrink until it fits.
            prefix = self._encoding.decode(tokens[:keep]).rstrip("\ufffd")
            over = len(self._encoding.encode_ordinary(prefix)) - limit
            if over <= 0:
                return prefix
            keep = max(0, keep - over)


def token_counter(prefer: str = "auto") -> TokenCounter:
    """tiktoken's cl100k_base if it loads from disk (`prefer="auto"`), else the estimate. Never downloads."""
    if prefer == "estimate" or not _encoding_on_disk():
        return TokenCounter()
    try:
        import tiktoken

        return TokenCounter(tiktoken.get_encoding(ENCODING))
    except Exception:  # noqa: BLE001 - a broken install or cache: the estimate still works
        return TokenCounter()


def plan_batches(
    token_counts: Sequence[int], max_inputs: int = MAX_INPUTS, max_tokens: int = MAX_REQUEST_TOKENS
) -> list[list[int]]:
    """Consecutive groups of positions, each at most `max_inputs` long and at most `max_tokens` tokens in total
    (an input that alone is over `max_tokens` gets a request of its own)."""
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for position, n in enumerate(token_counts):
        if current and (len(current) >= max_inputs or total + n > max_tokens):
            batches.append(current)
            current, total = [], 0
        current.append(position)
        total += n
    if current:
        batches.append(current)
    return batches


def price_per_million(model: str, prices: Mapping[str, float] | None = None) -> float | None:
    """The price given for `model` (--price-per-1m-tokens), else None: mrl-eval keeps no price list (prices change,
    and a stale one would be a silently wrong number)."""
    return prices.get(model) if prices else None


def cost_usd(tokens: int, model: str, prices: Mapping[str, float] | None = None) -> float | None:
    """tokens x the model's price; None when the price is unknown."""
    price = price_per_million(model, prices)
    return None if price is None else tokens * price / 1_000_000


def parse_prices(specs: Sequence[str] | None, flag: str = "--price-per-1m-tokens") -> dict[str, float]:
    """["text-embedding-3-small=0.02", ...] -> {model: US dollars per million tokens}; a malformed item, a
    negative or non-finite price, or a model priced twice is a usage error naming it."""
    prices: dict[str, float] = {}
    for spec in specs or ():
        model, sep, raw = str(spec).rpartition("=")
        model = model.strip()
        try:
            price = float(raw)
        except ValueError:
            price = math.nan
        if not sep or not model or not (math.isfinite(price) and price >= 0):
            raise UsageError(
                f"{flag} {spec!r}: give MODEL=PRICE, the US dollars per million input tokens, e.g. "
                "text-embedding-3-small=0.02"
            )
        if model in prices:
            raise UsageError(f"{flag}: model {model!r} is priced twice; give one price per model")
        prices[model] = price
    return prices


@dataclass(frozen=True)
class CorpusCost:
    """What embedding this collection costs with one model: the whole corpus once, and one query on average.
    Tokens are those of the texts as sent (prompt included), counted by `token_counter`."""

    model: str
    token_counter: str
    documents: int
    document_tokens: int
    queries: int
    query_tokens: int
    price_per_million_usd: float | None

    @property
    def corpus_usd(self) -> float | None:
        p = self.price_per_million_usd
        return None if p is None else self.document_tokens * p / 1_000_000

    @property
    def usd_per_query(self) -> float | None:
        p = self.price_per_million_usd
        return None if p is None or not self.queries else self.query_tokens / self.queries * p / 1_000_000

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "token_counter": self.token_counter,
            "documents": self.documents,
            "document_tokens": self.document_tokens,
            "queries": self.queries,
            "query_tokens": self.query_tokens,
            "price_per_million_usd": self.price_per_million_usd,
            "corpus_usd": self.corpus_usd,
            "usd_per_query": self.usd_per_query,
        }


@dataclass(frozen=True)
class LongInputs:
    """The texts over the per-input limit: how many, and the first one's position and token count."""

    count: int
    first: int
    first_tokens: int


def find_long(token_counts: Sequence[int], limit: int = MAX_INPUT_TOKENS) -> LongInputs | None:
    over = [i for i, n in enumerate(token_counts) if n > limit]
    return LongInputs(len(over), over[0], token_counts[over[0]]) if over else None


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait a response asks for: `retry-after-ms` (OpenAI's), else `Retry-After` as seconds or an HTTP-date."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_seconds(attempt: int, base: float, cap: float = 60.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: a uniform draw from [0.5, 1] x min(cap, base x 2^attempt), so clients that
    failed together do not retry together."""
    ceiling = min(cap, base * 2**attempt)
    return ceiling * (0.5 + 0.5 * (rng or random).random())
