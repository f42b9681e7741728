"""Load a sweep's inputs: the collection (files, a BEIR folder, the bundled sample or an MTEB task), precomputed
vectors, and the fingerprints of what was read; every id checked before any slow work."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import replace
from pathlib import Path

from mrl_eval import defaults
from mrl_eval.data import mteb_tasks
from mrl_eval.data.collection import Collection
from mrl_eval.data.collection_files import (
    check_qrels,
    check_unknown_docs,
    drop_unknown_docs,
    load_collection,
    qrels_lookalikes,
)
from mrl_eval.data.text_columns import Columns
from mrl_eval.data.vectors import Vectors
from mrl_eval.errors import MrlEvalError, MrlEvalWarning, UsageError, raise_problems
from mrl_eval.pipeline.settings import DataSettings


def sample_data_dir() -> Path:
    """The bundled Cranfield collection: inside the installed package, or at the root of a source checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "sample_data" / "cranfield", package.parent / "sample_data" / "cranfield"):
        if (candidate / "corpus.jsonl").is_file():
            return candidate
    raise MrlEvalError("the bundled sample data is missing from this install; pass a data folder")


_FLAG_VALUES = {"true", "false", "yes", "no", "on", "off", "1", "0"}  # a value given to a flag that takes none


def check_data_settings(data: DataSettings) -> None:
    """Settings that contradict each other, or a value out of its choices, before any slow work."""
    check_unknown_docs(data.unknown_docs)
    folder = data.folder
    if folder is not None and str(folder).lower() in _FLAG_VALUES and not Path(folder).exists():
        raise UsageError(
            f"DATA {str(folder)!r}: no such folder. A flag (--json, --plot, --growth, --ray, --ignore-identical-ids) "
            f"takes no value, so {str(folder)!r} after one is read as DATA: drop it"
        )
    if data.mteb_task is None:
        if data.mteb_subset is not None or data.mteb_data is not None:
            raise UsageError("--mteb-subset and --mteb-data go with --mteb-task NAME")
        return
    explicit = {"DATA": data.folder, "--corpus": data.corpus, "--queries": data.queries, "--qrels": data.qrels}
    given = [flag for flag, value in explicit.items() if value is not None]
    if given:
        raise UsageError(
            f"--mteb-task loads the task's own corpus, queries and qrels: drop {', '.join(given)} "
            "(or drop --mteb-task to evaluate your own data)"
        )


def load_data(
    data: DataSettings, *, require_texts: bool, require_qrels: bool, label_free_chosen: bool = True
) -> tuple[Collection, str]:
    """The collection and its name; qrels optional in label-free mode, queries in pseudo-query mode.

    Without `label_free_chosen` (no label-free metric and no pseudo-queries asked for) a run that finds no qrels is
    label-free only when nothing beside the data looks like qrels (else an error saying where qrels are looked for
    and how to pass them), and it says so in a warning."""
    if data.mteb_task is not None:
        return mteb_tasks.load_task_collection(
            data.mteb_task, split=data.split, subset=data.mteb_subset, local_copy=data.mteb_data
        )
    explicit = data.corpus or data.queries or data.qrels
    folder = data.folder if (data.folder or explicit) else sample_data_dir()
    collection = load_collection(
        folder,
        corpus=data.corpus,
        queries=data.queries,
        qrels=data.qrels,
        split=data.split,
        doc_columns=Columns("corpus", data.doc_id_column, data.doc_text_column, data.doc_title_column),
        query_columns=Columns("queries", data.query_id_column, data.query_text_column),
        require_texts=require_texts,
        require_qrels=require_qrels,
        require_queries=not data.is_pseudo,
        unknown_docs=data.unknown_docs,
    )
    name = folder.name if folder else Path(next(iter(collection.sources.values()))).stem
    if not collection.qrels and not require_qrels and not label_free_chosen:
        _check_label_free(data, folder, collection)
    return collection, name


def _check_label_free(data: DataSettings, folder: Path | None, collection: Collection) -> None:
    """No qrels found and none asked to go without: stop if a file looks like misplaced qrels, else say that the run
    has no relevance judgments and what it measures instead."""
    expected = folder / "qrels" / f"{data.split}.tsv" if folder else None
    where = f"DATA/qrels/<split>.tsv ({expected})" if expected else "DATA/qrels/<split>.tsv (no DATA folder given)"
    used = [Path(collection.sources[role]) for role in ("corpus", "queries") if role in collection.sources]
    candidates = qrels_lookalikes([p for p in (folder, *(u.parent for u in used)) if p is not None], used)
    label_free = ",".join(defaults.LABEL_FREE_METRICS)
    if candidates:
        shown = ", ".join(map(str, candidates[:5])) + (
            f" and {len(candidates) - 5} more" if len(candidates) > 5 else ""
        )
        raise MrlEvalError(
            f"No qrels found, but {shown} look{'s' if len(candidates) == 1 else ''} like qrels. Qrels are read from "
            f"--qrels FILE, else from {where}. Pass --qrels {candidates[0]}"
            + (f" (or move it to {expected})" if expected else "")
            + f"; to run without relevance judgments on purpose, name label-free metrics: --metrics {label_free}"
        )
    warnings.warn(
        f"no qrels (no --qrels FILE, no {where}): a label-free run, every dim compared with the full-dim ranking "
        f"({label_free}): how much the results change, not how good they are. Pass --qrels FILE to score relevance, "
        f"or --metrics {label_free} to choose this mode",
        MrlEvalWarning,
        stacklevel=3,
    )


def check_vectors_match(
    collection: Collection, vectors: Vectors, folder: Path, unknown_docs: str = defaults.UNKNOWN_DOCS
) -> Collection:
    """Precomputed vectors must hold the collection's documents and the qrels' ids; with `unknown_docs` "ignore",
    judgments of documents the vectors lack are dropped (with a warning) from the collection returned."""
    source = collection.sources.get("qrels", "")
    if unknown_docs == "ignore":
        qrels, note = drop_unknown_docs(collection.qrels, vectors.doc_ids, source)
        if note:
            warnings.warn(note, MrlEvalWarning, stacklevel=2)
            collection = replace(collection, qrels=qrels)
    problems = check_qrels(collection.qrels, vectors.query_ids, vectors.doc_ids, source)
    vector_ids, corpus_ids = set(vectors.doc_ids), set(collection.doc_ids)
    if collection.doc_ids and corpus_ids != vector_ids:
        only_corpus = [d for d in collection.doc_ids if d not in vector_ids]
        only_vectors = sorted(vector_ids - corpus_ids)
        problems.append(
            f"{folder / 'corpus_ids.txt'}: does not list the same documents as {collection.sources['corpus']} "
            f"({len(only_corpus)} only in the corpus, e.g. {only_corpus[:3]}; {len(only_vectors)} only in the "
            f"vectors, e.g. {only_vectors[:3]})"
        )
    raise_problems(problems, "The vectors do not match the data", "Embed the same corpus and queries, or fix the ids.")
    return collection


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def source_fingerprint(source: str) -> dict[str, str]:
    """A data file's sha256; an MTEB task's data ("mteb:Task@revision/...") is pinned by the revision in its name."""
    return {} if source.startswith(mteb_tasks.SOURCE_PREFIX) else {"sha256": file_fingerprint(Path(source))}


def data_sources(collection: Collection, vectors: Vectors) -> dict[str, dict]:
    """role -> {"path", "sha256", "count"}: what the report says the run was made from."""
    counts = {
        "corpus": len(vectors.doc_ids),
        "queries": len(vectors.query_ids),
        "qrels": sum(map(len, collection.qrels.values())),
    }
    return {
        role: {"path": str(path), **source_fingerprint(str(path)), "count": counts[role]}
        for role, path in collection.sources.items()
        if path
    }
