"""The Collection type: a test collection's documents, queries and qrels, as every loader returns it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Collection:
    """A retrieval test collection: documents, queries and graded relevance judgments.

    `doc_texts` already joins title and text (see `collections.join_title_text`). `qrels` maps
    query_id -> doc_id -> integer relevance (0 or negative means judged non-relevant).
    `sources` maps "corpus" / "queries" / "qrels" to the file each part came from (for an MTEB task, to
    "mteb:<task>@<dataset revision>/<subset>/<split>"; see `mteb_tasks.py`).
    """

    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]
    sources: dict[str, str] = field(default_factory=dict)
