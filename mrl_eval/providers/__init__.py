"""Embedding back-ends: one file per provider, a registry here.

A provider only embeds. Batching policy, caching, truncation and normalisation live outside it, once. Each
provider module imports its SDK inside its functions, so importing this package is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from mrl_eval.errors import UsageError

Role = Literal["query", "document"]


class EmbeddingProvider(Protocol):
    name: str
    model: str
    fingerprint: str  # identifies the exact weights (content hash or revision); part of the cache key

    @property
    def full_dim(self) -> int: ...

    def prompt(self, role: Role) -> str:
        """The literal text prepended to every text of this role ("" for none)."""
        ...

    def embed(self, texts: Sequence[str], role: Role) -> np.ndarray:
        """One full-size float32 row per text, not normalised."""
        ...


@runtime_checkable
class CutsLongInputs(Protocol):
    """A provider that may cut inputs over a length limit (`on_long_input` is "truncate") or refuse them ("error").
    The policy is part of the cache key, so vectors of cut inputs are never served to a run that asked for an
    error instead."""

    on_long_input: str


PROVIDERS = ("sentence-transformers", "openai")
# Options only one provider understands: given to another, they are a usage error rather than silently ignored.
ONLY_FOR = {
    "sentence-transformers": ("query_prompt_name", "doc_prompt_name", "device", "trust_remote_code", "backend"),
    "openai": (
        "base_url",
        "api_key_env",
        "concurrency",
        "max_retries",
        "timeout",
        "on_long_input",
        "max_cost",
        "price_per_1m_tokens",
    ),
}


def get_provider(name: str, model: str | None, *, cache_dir: Path | None = None, **options: Any) -> EmbeddingProvider:
    """Build the named provider; `model=None` means the provider's default model. `options` are the providers'
    keyword arguments (prompts, batch size, device, API settings); None means not given (so a flag that is off is
    passed as None). `cache_dir` is the embedding cache's folder, where a sentence-transformers export is kept."""
    if name not in PROVIDERS:
        raise UsageError(f"--provider {name!r}: unknown; choose one of: {', '.join(PROVIDERS)}")
    for other, keys in ONLY_FOR.items():
        for key in keys:
            if other != name and options.pop(key, None) is not None:
                flag = "--" + key.replace("_", "-")
                raise UsageError(f"{flag} applies to --provider {other} only; drop it, or pass --provider {other}")
    if name == "openai":
        from mrl_eval.providers.openai import OpenAIProvider

        return OpenAIProvider(model, **options)
    from mrl_eval.providers.sentence_transformers import SentenceTransformersProvider

    return SentenceTransformersProvider(model, cache_dir=cache_dir, **options)
