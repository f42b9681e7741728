"""What an embedding provider is: the Protocol every back-end implements, and its optional capabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np

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
class SizedWithoutRequests(Protocol):
    """A provider that can tell its full dim without a request to a paid or remote service (a local model, once
    loaded): a run checks its swept dims against it before the first text is embedded."""

    def full_dim_without_requests(self) -> int: ...


@runtime_checkable
class CutsLongInputs(Protocol):
    """A provider that may cut inputs over a length limit (`on_long_input` is "truncate") or refuse them ("error").
    The policy is part of the cache key, so vectors of cut inputs are never served to a run that asked for an
    error instead."""

    on_long_input: str
