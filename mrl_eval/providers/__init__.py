"""Embedding back-ends: one file per provider, a registry here.

A provider only embeds. Batching policy, caching, truncation and normalisation live outside it, once. Each
provider module imports its SDK inside its functions, so importing this package is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

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


PROVIDERS = ("sentence-transformers",)


def get_provider(name: str, model: str | None, **options: Any) -> EmbeddingProvider:
    """Build the named provider; `model=None` means the bundled default model. `options` are the provider's own
    keyword arguments (prompts, batch size, device)."""
    if name == "sentence-transformers":
        from mrl_eval.providers.sentence_transformers import SentenceTransformersProvider

        return SentenceTransformersProvider(model, **options)
    raise UsageError(f"--provider {name!r}: unknown; choose one of: {', '.join(PROVIDERS)}")
