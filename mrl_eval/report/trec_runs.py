"""TREC run files of a sweep, one per dim, for trec_eval, ranx or ir_measures, named after the run (as its reports)
and replaced only by the run that wrote them (`report.ownership`)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mrl_eval.data.collection_files import check_trec_ids
from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.retrieval import Ranking
from mrl_eval.files import json_text
from mrl_eval.report.ownership import check_name, claim, default_stem, run_identity
from mrl_eval.report.report_set import ReportSet

TREC_SUFFIXES = re.compile(r"\.d[0-9]+\.trec|\.runs\.json")


def write_trec_runs(
    folder: Path,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    rankings: Mapping[int, Ranking],
    *,
    data: Mapping[str, Any],
    model: Mapping[str, Any],
    name: str | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """One TREC run file per dim, `<name>.d<dim>.trec` (`qid Q0 docid rank score tag`, the tag `<name>.d<dim>`), and
    `<name>.runs.json` saying which data and model made them. `data` is the report's data section (its `name`, and
    per role the file's path, sha256 and count), `model` the model's description; `name` defaults to the reports'
    `<data>__<model>`. The set is replaced whole or not at all, and only when it is this run's own (`overwrite`
    replaces another run's). `rankings` hold one row per query of `query_ids`."""
    check_trec_ids(query_ids, doc_ids)  # checked before the sweep too; kept for API callers
    stem = check_name(name) if name is not None else default_stem(str(data.get("name", "")), str(model.get("name", "")))
    manifest = {
        "data": dict(data),
        "model": {key: model[key] for key in ("provider", "name", "fingerprint", "path") if key in model},
        "dims": sorted(rankings),
        "queries": len(query_ids),
        "files": {str(dim): f"{stem}.d{dim}.trec" for dim in sorted(rankings)},
        "format": "qid Q0 docid rank score tag, ties by doc id descending (trec_eval's order)",
    }
    check = functools.partial(
        claim, record=folder / f"{stem}.runs.json", mine=run_identity(data, model), overwrite=overwrite
    )
    try:
        with ReportSet(folder, stem, TREC_SUFFIXES, claim=check) as files:
            files.write_text(f"{stem}.runs.json", json_text(manifest, what=f"{folder / stem}.runs.json"))
            for dim, ranking in rankings.items():
                tag = f"{stem}.d{dim}"
                with files.path(f"{stem}.d{dim}.trec").open("w", encoding="utf-8") as fh:
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
