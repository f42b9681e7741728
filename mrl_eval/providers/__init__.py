"""Embedding back-ends: one file per provider (the Protocol in `base.py`), a registry here: a provider's module is
imported only when it is asked for.

A provider only embeds. Batching policy, caching, truncation and normalisation live outside it, once. Each
provider module imports its SDK inside its functions, so importing this package is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mrl_eval.errors import UsageError
from mrl_eval.providers.base import CutsLongInputs, EmbeddingProvider, Role

__all__ = ["PROVIDERS", "CutsLongInputs", "EmbeddingProvider", "Role", "get_provider", "split_provider"]

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


def split_provider(model: str, provider: str) -> tuple[str, str]:
    """A model named with its provider in front, `openai:text-embedding-3-small`, as (provider, model); any other
    name keeps `provider` (a hub id or a folder has no known provider name before a colon)."""
    head, sep, rest = model.partition(":")
    if sep and head in PROVIDERS and rest:
        return head, rest
    return provider, model


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
