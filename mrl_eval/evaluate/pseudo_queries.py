"""Pseudo-queries from the corpus alone (`--queries-from-corpus N`), for a label-free sweep with no query log.

N documents are sampled without replacement (numpy's default_rng seeded with `--seed`) and each gives one query.
With an embedding provider the query is a *passage* of the document, embedded in the query role:

- passage: the document text (title and body joined, as the corpus is embedded) is split into sentences after
  `.`, `!` or `?` followed by white space; one sentence of at least `MIN_WORDS` words is drawn at random (seeded;
  any sentence when none is that long) and cut to its first `MAX_WORDS` words.

With `--embeddings` (precomputed vectors) there is no model to embed a passage, and mixing in another model's
query vectors would measure the wrong thing. The query is then the sampled document's own precomputed vector (a
document-role vector of the whole text): the measures then say how well each dim keeps every sampled document's
nearest neighbours, which is close to, but not the same as, how it ranks for short passage queries.

Either way the document itself is removed from its own results (query id = its doc id, `--ignore-identical-ids`),
and every report labels these queries as pseudo-queries.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from mrl_eval.data.collection import Collection
from mrl_eval.data.vectors import Vectors
from mrl_eval.errors import UsageError

MIN_WORDS = 5
MAX_WORDS = 32
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

PASSAGE_RULE = (
    f"one sentence (of at least {MIN_WORDS} words where there is one) drawn at random from the document text, cut "
    f"to its first {MAX_WORDS} words"
)
VECTOR_RULE = "the sampled document's own precomputed vector (no model to embed a passage with --embeddings)"


def sample_rows(n_docs: int, n: int, seed: int) -> np.ndarray:
    """`n` distinct corpus rows, seeded, in corpus order."""
    if n < 1:
        raise UsageError(f"--queries-from-corpus {n}: sample at least 1 document")
    if n > n_docs:
        raise UsageError(f"--queries-from-corpus {n}: the corpus has only {n_docs:,} documents; pass at most that")
    return np.sort(np.random.default_rng(seed).choice(n_docs, size=n, replace=False))


def passage(text: str, rng: np.random.Generator) -> str:
    """A sentence of `text` (see the module docstring), or its first words when it has no sentence break."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    if not sentences:
        return ""
    long_enough = [s for s in sentences if len(s.split()) >= MIN_WORDS] or sentences
    chosen = long_enough[int(rng.integers(len(long_enough)))]
    return " ".join(chosen.split()[:MAX_WORDS])


def info(n: int, seed: int, source: str) -> dict:
    """What the report says about the queries: that they are pseudo-queries, how many, how they were made."""
    return {
        "kind": "pseudo",
        "label": "pseudo-queries",
        "n": n,
        "seed": seed,
        "source": source,
        "rule": PASSAGE_RULE if source == "passage" else VECTOR_RULE,
        "self_excluded": True,
    }


def from_collection(collection: Collection, n: int, seed: int, *, embed: bool = True) -> tuple[Collection, dict]:
    """The collection with its queries replaced by passages of `n` sampled documents (ids: the doc ids), to be
    embedded; with `embed` False (precomputed vectors: `from_vectors` makes the queries) only without its queries
    and qrels."""
    sources = {k: v for k, v in collection.sources.items() if k == "corpus"}
    if not embed:
        return replace(collection, query_ids=[], query_texts=[], qrels={}, sources=sources), {}
    rows = sample_rows(len(collection.doc_ids), n, seed)
    rng = np.random.default_rng([seed, 1])  # a stream of its own: the sample does not move if the rule changes
    ids = [collection.doc_ids[i] for i in rows]
    texts = [passage(collection.doc_texts[i], rng) for i in rows]
    empty = [doc_id for doc_id, text in zip(ids, texts) if not text]
    if empty:
        raise UsageError(
            f"--queries-from-corpus: {len(empty)} sampled documents have no text (e.g. {empty[:3]}); "
            "check --doc-text-column"
        )
    return replace(collection, query_ids=ids, query_texts=texts, qrels={}, sources=sources), info(n, seed, "passage")


def from_vectors(vectors: Vectors, n: int, seed: int) -> tuple[Vectors, dict]:
    """Precomputed vectors with the queries replaced by `n` sampled documents' own vectors."""
    rows = sample_rows(len(vectors.doc_ids), n, seed)
    ids = [vectors.doc_ids[i] for i in rows]
    queries = np.asarray(vectors.docs[rows], np.float32)
    return Vectors(list(vectors.doc_ids), vectors.docs, ids, queries), info(n, seed, "document vector")
