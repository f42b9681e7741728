"""MTEB retrieval tasks: load a task's corpus, queries and qrels through the mteb package, and write a sweep's
scores back as MTEB result files, one per dim.

The data always comes through mteb's own loader (`task.load_data()`), so a user with a network gets exactly the
task MTEB evaluates: its Hugging Face dataset at the task's pinned revision. Offline, `--mteb-data DIR` points the
same loader at a local copy of that dataset repo (`hf download mteb/scifact --repo-type dataset --local-dir DIR`):
`datasets.load_dataset` reads a local folder with the repo's README configs (corpus, queries, default = qrels)
just as it reads the Hub repo.

mteb (and through it datasets and torch) is imported only inside these functions, so only runs that use the
`--mteb-*` options pay for it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrl_eval.data.collection import Collection
from mrl_eval.data.collections import join_title_text
from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.evaluate.metrics import DEFAULT_METRICS
from mrl_eval.extras import import_extra

if TYPE_CHECKING:
    from mrl_eval.evaluate.sweep import SweepConfig, SweepRun

SOURCE_PREFIX = "mteb:"  # Collection.sources of a task: "mteb:SciFact@<dataset revision>/default/test"
NO_REVISION = "no_revision_available"  # mteb's results folder name for a model without a known revision
_METRIC_NAME = re.compile(r"(ndcg|recall|mrr|map|precision)_at_([0-9]+)")
_LIST_TASKS = "list them with `mteb available-tasks --task-types Retrieval`"
_UMASK = os.umask(0)
os.umask(_UMASK)


def _import_mteb() -> Any:
    return import_extra("mteb", extra="mteb", feature="an MTEB task (--mteb-*)")


def get_task(name: str) -> Any:
    """The MTEB task called `name`, checked to be a text retrieval task mrl-eval can evaluate the way MTEB does."""
    mteb = _import_mteb()
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


def mrl_metric(mteb_name: str) -> str | None:
    """MTEB's "ndcg_at_10" -> mrl-eval's "ndcg@10"; None for a score mrl-eval does not compute (e.g. hit_rate_at_5)."""
    match = _METRIC_NAME.fullmatch(mteb_name)
    return f"{match.group(1)}@{match.group(2)}" if match else None


def mteb_metric(name: str) -> str:
    """mrl-eval's "ndcg@10" -> MTEB's "ndcg_at_10"."""
    metric, _, k = name.partition("@")
    return f"{metric}_at_{k}"


def apply_task_settings(config: SweepConfig) -> SweepConfig:
    """The sweep settings with what MTEB evaluates the task with: its main score among the metrics, and its rule
    for a doc whose id equals the query id. Checks the task, split and subset before any slow work."""
    if config.mteb_task is None:
        if config.mteb_subset is not None or config.mteb_data is not None:
            raise UsageError("--mteb-subset and --mteb-data go with --mteb-task NAME")
        return config
    explicit = {"DATA": config.data, "--corpus": config.corpus, "--queries": config.queries, "--qrels": config.qrels}
    given = [flag for flag, value in explicit.items() if value is not None]
    if given:
        raise UsageError(
            f"--mteb-task loads the task's own corpus, queries and qrels: drop {', '.join(given)} "
            "(or drop --mteb-task to evaluate your own data)"
        )
    task = get_task(config.mteb_task)
    resolve_split(task, config.split)
    resolve_subset(task, config.mteb_subset)
    metrics = list(config.metrics or DEFAULT_METRICS)  # () = the defaults; an MTEB task always has qrels
    main = mrl_metric(task.metadata.main_score)
    if main is not None and main not in metrics:
        metrics.append(main)
    return dataclasses.replace(
        config,
        metrics=tuple(metrics),
        ignore_identical_ids=config.ignore_identical_ids or bool(getattr(task, "ignore_identical_ids", False)),
    )


def load_task_collection(config: SweepConfig) -> tuple[Collection, str]:
    """The task's corpus, queries and qrels for one split and subset, loaded by mteb, and the task's name."""
    if config.mteb_task is None:  # the caller's contract
        raise MrlEvalError("no --mteb-task given")
    task = get_task(config.mteb_task)
    split = resolve_split(task, config.split)
    subset = resolve_subset(task, config.mteb_subset)
    name = task.metadata.name
    dataset = dict(task.metadata.dataset)
    where = f"{dataset['path']}@{dataset.get('revision')}"
    source = f"{SOURCE_PREFIX}{name}@{dataset.get('revision')}/{subset}/{split}"
    if config.mteb_data is not None:
        local = Path(config.mteb_data).expanduser().resolve()
        if not local.is_dir():
            raise MrlEvalError(
                f"--mteb-data {config.mteb_data}: not a folder; pass a local copy of the task's dataset repo "
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
            if config.mteb_data is not None
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


def check_results_target(task_name: str | None, folder: Path) -> str:
    """Before a sweep whose scores go to MTEB result files: the task must be given and its main score computable.
    Returns the main score as an mrl-eval metric name."""
    if task_name is None:
        raise UsageError(f"--mteb-results {folder}: MTEB result files are for an MTEB task; add --mteb-task NAME")
    task = get_task(task_name)
    main = mrl_metric(task.metadata.main_score)
    if main is None:
        raise MrlEvalError(
            f"--mteb-results: MTEB ranks {task.metadata.name} by {task.metadata.main_score}, which mrl-eval does not "
            "compute (it computes ndcg, recall, mrr, map and precision at k); drop --mteb-results"
        )
    return main


def results_model_name(model: dict, dim: int) -> str:
    """The model name of one dim's results: the model's name (a hub id stays whole, a folder gives its last part)
    with "-dim<d>" after it, so every dim is its own model to MTEB's tools and the leaderboard."""
    name = str(model.get("name") or "model")
    if name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name:
        name = Path(name).name or "model"
    return f"{name}-dim{dim}"


def _model_revision(model: dict) -> str:
    fingerprint = str(model.get("fingerprint") or "")
    if fingerprint.startswith("hub:") and "@" in fingerprint:
        return fingerprint.rpartition("@")[2]  # "hub:<id>@<commit>": the hub commit the weights came from
    return str(model.get("revision") or NO_REVISION)


def write_results(run: SweepRun, folder: Path, evaluation_time: float) -> list[Path]:
    """One MTEB result file per swept dim, laid out as mteb's results folder: folder/<model>-dim<d>/<revision>/<Task>.json
    (the model name with "/" written "__"). Scores are mrl-eval's, under MTEB's names; all files or none."""
    mteb = _import_mteb()
    config = run.config
    main = check_results_target(config.mteb_task, folder)
    task = get_task(str(config.mteb_task))
    split = resolve_split(task, config.split)
    subset = resolve_subset(task, config.mteb_subset)
    revision = _model_revision(run.model)
    date = datetime.now(timezone.utc)
    pending: list[tuple[Path, Path]] = []
    try:
        for result in run.sweep.results:
            if main not in result.metrics:
                raise MrlEvalError(
                    f"--mteb-results: the sweep did not compute {main}, {task.metadata.name}'s main score"
                )
            scores: dict[str, Any] = {mteb_metric(m): float(v) for m, v in result.metrics.items()}
            scores["main_score"] = float(result.metrics[main])
            task_result = mteb.TaskResult.from_task_results(
                task, {split: {subset: scores}}, evaluation_time=evaluation_time, date=date
            )
            model_dir = results_model_name(run.model, result.dim).replace("/", "__").replace(" ", "_")
            target = folder / model_dir / revision / f"{task.metadata.name}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            os.close(fd)
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results should read like any other file
            pending.append((Path(tmp), target))
            task_result.to_disk(Path(tmp))
        for tmp, target in pending:
            os.replace(tmp, target)
    except OSError as err:
        raise MrlEvalError(
            f"cannot write MTEB results under {folder} ({err}); pass another --mteb-results DIR"
        ) from err
    finally:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
    return [target for _, target in pending]
