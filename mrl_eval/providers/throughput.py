"""How fast a run embedded: texts and tokens per second, per role, over the texts embedded in this run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Throughput:
    """`texts` embedded, holding `tokens` (as the model's tokenizer cut them, padding excluded), in `seconds` of
    embedding calls (tokenizing, the network, pooling)."""

    texts: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def plus(self, texts: int, tokens: int, seconds: float) -> Throughput:
        return Throughput(self.texts + texts, self.tokens + tokens, self.seconds + seconds)

    @property
    def texts_per_second(self) -> float | None:
        return self.texts / self.seconds if self.seconds > 0 else None

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None

    def to_dict(self) -> dict:
        return {
            "texts": self.texts,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 6),
            "texts_per_second": self.texts_per_second,
            "tokens_per_second": self.tokens_per_second,
        }


@dataclass(frozen=True)
class EmbeddingThroughput:
    """One model on one backend in one run: documents and queries apart (queries are short: fewer tokens per text)."""

    model: str
    backend: str
    device: str
    by_role: dict[str, Throughput] = field(default_factory=dict)  # "document", "query"

    @property
    def total(self) -> Throughput:
        out = Throughput()
        for t in self.by_role.values():
            out = out.plus(t.texts, t.tokens, t.seconds)
        return out

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "backend": self.backend,
            "device": self.device,
            **{role: t.to_dict() for role, t in self.by_role.items()},
            "total": self.total.to_dict(),
        }
