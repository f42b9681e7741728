"""TREC run files of a sweep, one per dim, for trec_eval, ranx or ir_measures."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from mrl_eval.data.collection_files import check_trec_ids
from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.retrieval import Ranking
from mrl_eval.report.report_set import ReportSet

TREC_SUFFIXES = re.compile(r"\.d[0-9]+\.trec")


def write_trec_runs(
    folder: Path, query_ids: Sequence[str], doc_ids: Sequence[str], rankings: Mapping[int, Ranking]
) -> list[Path]:
    """One TREC run file per dim (`qid Q0 docid rank score tag`), for trec_eval, ranx or ir_measures; the set of
    `run.d<dim>.trec` files is replaced whole or not at all. `rankings` hold one row per query of `query_ids`."""
    check_trec_ids(query_ids, doc_ids)  # checked before the sweep too; kept for API callers
    try:
        with ReportSet(folder, "run", TREC_SUFFIXES) as files:
            for dim, ranking in rankings.items():
                tag = f"mrl-eval-d{dim}"
                with files.path(f"run.d{dim}.trec").open("w", encoding="utf-8") as fh:
                    for row, qid in enumerate(query_ids):
                        rank = 0
                        for doc_index, score in zip(ranking.doc_index[row], ranking.score[row]):
                            if doc_index < 0:
                                continue
                            rank += 1
                            fh.write(f"{qid} Q0 {doc_ids[doc_index]} {rank} {float(score)!r} {tag}\n")
    except OSError as err:
        raise MrlEvalError(f"cannot write run files to {folder} ({err}); pass another --save-runs DIR") from err
    return files.written
