"""MTEB retrieval tasks: load a task's corpus, queries and qrels through the mteb package (the scores go back as
MTEB result files in `pipeline/mteb_results.py`).

The data always comes through mteb's own loader (`task.load_data()`), so a user with a network gets exactly the
task MTEB evaluates: its Hugging Face dataset at the task's pinned revision. Offline, `--mteb-data DIR` points the
same loader at a local copy of that dataset repo (`hf download mteb/scifact --repo-type dataset --local-dir DIR`):
`datasets.load_dataset` reads a local folder with the repo's README configs (corpus, queries, default = qrels)
just as it reads the Hub repo.

mteb (and through it datasets and torch) is imported only inside these functions, so only runs that use the
`--mteb-*` options pay for it.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from mrl_eval.data.collection import Collection
from mrl_eval.data.collection_files import join_title_text
from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.extras import import_extra

SOURCE_PREFIX = "mteb:"  # Collection.sources of a task: "mteb:SciFact@<dataset revision>/default/test"
_LIST_TASKS = "list them with `mteb available-tasks --task-types Retrieval`"


def import_mteb() -> Any:
    return import_extra("mteb", extra="mteb", feature="an MTEB task (--mteb-*)")


def get_task(name: str) -> Any:
    """The MTEB task called `name`, checked to be a text retrieval task mrl-eval can evaluate the way MTEB does."""
    mteb = import_mteb()
    try:
        task = mteb.get_task(name)
    except KeyError:
        names = sorted({t.metadata.name for t in mteb.get_tasks(task_types=["Retrieval"])})
        by_case = [n for n in names if n.lower() == name.lower()]
        if len(by_case) != 1:
            close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise MrlEvalError(f"--mteb-task {name!r}: no MTEB task by that name{hint} ({_LIST_TASKS})") from None
        task = mteb.get_task(by_case[0])  # "scifact" is SciFact
    meta = task.metadata
    if meta.type != "Retrieval":
        raise MrlEvalError(
            f"--mteb-task {meta.name}: a {meta.type} task; mrl-eval evaluates Retrieval tasks (a corpus, queries and "
            f"qrels), e.g. SciFact or NFCorpus ({_LIST_TASKS})"
        )
    if list(meta.modalities) != ["text"]:
        raise MrlEvalError(
            f"--mteb-task {meta.name}: its data is {' and '.join(meta.modalities)}; mrl-eval embeds text only. "
            "Pick a text retrieval task."
        )
    if getattr(task, "skip_first_result", False):
        raise MrlEvalError(
            f"--mteb-task {meta.name}: MTEB scores it without each query's first result; "
            "mrl-eval does not. Pick another task."
        )
    return task


def resolve_split(task: Any, split: str) -> str:
    splits = list(task.metadata.eval_splits)
    if split not in splits:
        raise UsageError(
            f"--split {split!r}: MTEB task {task.metadata.name} is evaluated on {', '.join(splits)}; "
            f"pass --split {splits[0]}"
        )
    return split


def resolve_subset(task: Any, subset: str | None) -> str:
    """The hf_subset to evaluate: the one asked for, or the task's only one (e.g. "default")."""
    subsets = list(task.metadata.hf_subsets)
    if subset is None:
        if len(subsets) == 1:
            return subsets[0]
        shown = ", ".join(subsets[:30]) + (f", ... ({len(subsets)} in all)" if len(subsets) > 30 else "")
        raise UsageError(
            f"MTEB task {task.metadata.name} has {len(subsets)} subsets ({shown}); choose one with --mteb-subset"
        )
    if subset not in subsets:
        close = difflib.get_close_matches(subset, subsets, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; its subsets: {', '.join(subsets[:30])}"
        raise UsageError(f"--mteb-subset {subset!r}: not a subset of MTEB task {task.metadata.name}{hint}")
    return subset


def load_task_collection(
    task_name: str, *, split: str, subset: str | None, local_copy: Path | None = None
) -> tuple[Collection, str]:
    """The task's corpus, queries and qrels for one split and subset, loaded by mteb (from `local_copy`, a local
    copy of the task's dataset repo, when given), and the task's name."""
    task = get_task(task_name)
    split = resolve_split(task, split)
    subset = resolve_subset(task, subset)
    name = task.metadata.name
    dataset = dict(task.metadata.dataset)
    where = f"{dataset['path']}@{dataset.get('revision')}"
    source = f"{SOURCE_PREFIX}{name}@{dataset.get('revision')}/{subset}/{split}"
    if local_copy is not None:
        local = Path(local_copy).expanduser().resolve()
        if not local.is_dir():
            raise MrlEvalError(
                f"--mteb-data {local_copy}: not a folder; pass a local copy of the task's dataset repo "
                f"({_download_command(dataset)})"
            )
        # Only the path changes: the task's loader, configs, splits and revision in the result files stay MTEB's.
        task.metadata = task.metadata.model_copy(update={"dataset": {**dataset, "path": str(local)}})
        where = f"the local copy {local}"
        source += f" (local copy {local})"
    task.filter_eval_splits([split])
    if task.metadata.is_multilingual:
        task.filter_languages(None, hf_subsets=[subset])  # load one subset, not every language
    try:
        task.load_data()
        task.convert_v1_dataset_format_to_v2(num_proc=None)  # older tasks load into task.corpus / task.queries
        data = task.dataset[subset][split]
    except (OSError, ValueError, KeyError) as err:
        fix = (
            f"check that it holds the files of https://huggingface.co/datasets/{dataset['path']} "
            "(README.md with the corpus, queries and default configs, and their data files)"
            if local_copy is not None
            else "check the network (and `hf auth login` for a gated dataset), or pass --mteb-data DIR with a local "
            f"copy, made where the Hub is reachable: {_download_command(dataset)}"
        )
        raise MrlEvalError(
            f"cannot load MTEB task {name} ({subset}/{split}) from {where}: {type(err).__name__}: {err}; {fix}"
        ) from err
    if data.get("top_ranked") is not None:
        raise MrlEvalError(
            f"--mteb-task {name}: MTEB scores it by reranking given candidate lists; mrl-eval ranks the whole corpus"
        )
    collection = _to_collection(data, source, name)
    return collection, name


def _download_command(dataset: dict) -> str:
    revision = f" --revision {dataset['revision']}" if dataset.get("revision") else ""
    return f"hf download {dataset['path']} --repo-type dataset{revision} --local-dir DIR"


def _columns(dataset: Any, names: list[str]) -> dict[str, list[Any]]:
    present = [n for n in names if n in dataset.column_names]
    return dataset.select_columns(present).to_dict() if present else {}


def _to_collection(data: Any, source: str, name: str) -> Collection:
    corpus = _columns(data["corpus"], ["id", "title", "text"])
    queries = _columns(data["queries"], ["id", "text", "instruction"])
    doc_ids = [str(i) for i in corpus.get("id", [])]
    query_ids = [str(i) for i in queries.get("id", [])]
    texts = queries.get("text", [""] * len(query_ids))
    if any(isinstance(text, (list, dict)) for text in texts):
        raise MrlEvalError(f"--mteb-task {name}: its queries are conversations; mrl-eval embeds plain text queries")
    titles = corpus.get("title", [None] * len(doc_ids))
    doc_texts = [join_title_text(title, text) for title, text in zip(titles, corpus.get("text", []), strict=True)]
    # A query with an instruction is read as "query instruction", as MTEB feeds it to the model.
    instructions = queries.get("instruction", [None] * len(query_ids))
    query_texts = [
        f"{text or ''} {instruction}".strip() if instruction else (text or "")
        for text, instruction in zip(texts, instructions, strict=True)
    ]
    for what, ids in (("doc", doc_ids), ("query", query_ids)):
        if len(set(ids)) != len(ids):
            raise MrlEvalError(f"{source}: duplicate {what} ids in the task's data; it cannot be evaluated as is")
    qrels = {
        str(query_id): {str(doc_id): int(relevance) for doc_id, relevance in docs.items()}
        for query_id, docs in data["relevant_docs"].items()
        if docs
    }
    sources = {"corpus": source, "queries": source, "qrels": source}
    return Collection(doc_ids, doc_texts, query_ids, query_texts, qrels, sources)
