"""Embedding back-ends: one file per provider, a registry here.

A provider only embeds. Batching policy, caching, truncation and normalisation live outside it, once. Each
provider module imports its SDK inside its functions, so importing this package is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from mrl_eval.errors import MrlEvalError

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


PROVIDERS = ("sentence-transformers",)


def get_provider(
    name: str,
    model: str | None,
    *,
    query_prompt: str | None = None,
    doc_prompt: str | None = None,
    query_prompt_name: str | None = None,
    doc_prompt_name: str | None = None,
    batch_size: int | None = None,
    device: str | None = None,
) -> EmbeddingProvider:
    """Build the named provider; `model=None` means the bundled default model."""
    if name == "sentence-transformers":
        from mrl_eval.providers.sentence_transformers import SentenceTransformersProvider

        return SentenceTransformersProvider(
            model,
            query_prompt=query_prompt,
            doc_prompt=doc_prompt,
            query_prompt_name=query_prompt_name,
            doc_prompt_name=doc_prompt_name,
            batch_size=batch_size,
            device=device,
        )
    raise MrlEvalError(f"unknown provider {name!r}; choose one of: {', '.join(PROVIDERS)}")
