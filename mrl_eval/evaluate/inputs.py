"""What every scoring path (the sweep's own dims, the grid's cells, an engine's indexes) scores against: the
corpus, the evaluated queries, their judgments and the metrics, with the tie rule and the excluded documents."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mrl_eval.evaluate import metric_registry as M


@dataclass(frozen=True)
class ScoringInputs:
    docs: np.ndarray  # full-size corpus rows, one per doc id (a memory map is fine)
    queries: np.ndarray  # full-size float32 rows of the evaluated queries, one per query id
    doc_ids: list[str]
    query_ids: list[str]
    qrels: dict[str, dict[str, int]]
    metric_names: list[str]
    doc_key: np.ndarray = field(repr=False)  # retrieval.tie_key(doc_ids): higher wins a score tie
    exclude: np.ndarray | None = field(default=None, repr=False)  # per query, a corpus row it must not retrieve

    @property
    def k(self) -> int:
        """How deep every ranking goes: the largest cutoff among the metrics."""
        return M.max_depth(self.metric_names)

    @property
    def full_dim(self) -> int:
        return int(self.docs.shape[1])

    @property
    def n_docs(self) -> int:
        return int(self.docs.shape[0])
