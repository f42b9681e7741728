"""An MTEB task's own evaluation settings for a sweep, and the sweep's scores written back as MTEB result files,
one per dim (the task itself is loaded by `data/mteb_tasks.py`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mrl_eval.data.mteb_tasks import get_task, import_mteb, resolve_split, resolve_subset
from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.results import DimResult

NO_REVISION = "no_revision_available"  # mteb's results folder name for a model without a known revision
_UMASK = os.umask(0)
os.umask(_UMASK)


def task_settings(
    task_name: str, *, split: str, subset: str | None, metrics: Sequence[str], ignore_identical_ids: bool
) -> tuple[tuple[str, ...], bool]:
    """What MTEB evaluates the task with: the metrics with its main score among them, and its rule for a doc whose
    id equals the query id. Checks the task, split and subset before any slow work."""
    task = get_task(task_name)
    resolve_split(task, split)
    resolve_subset(task, subset)
    names = list(metrics or M.DEFAULT_METRICS)  # () = the defaults; an MTEB task always has qrels
    main = M.from_mteb_name(task.metadata.main_score)
    if main is not None and main not in names:
        names.append(main)
    return tuple(names), ignore_identical_ids or bool(getattr(task, "ignore_identical_ids", False))


def check_results_target(task_name: str | None, folder: Path) -> str:
    """Before a sweep whose scores go to MTEB result files: the task must be given and its main score computable.
    Returns the main score as an mrl-eval metric name."""
    if task_name is None:
        raise UsageError(f"--mteb-results {folder}: MTEB result files are for an MTEB task; add --mteb-task NAME")
    task = get_task(task_name)
    main = M.from_mteb_name(task.metadata.main_score)
    if main is None:
        raise MrlEvalError(
            f"--mteb-results: MTEB ranks {task.metadata.name} by {task.metadata.main_score}, which mrl-eval does not "
            f"compute (it computes {M.computed_for_mteb()}); drop --mteb-results"
        )
    return main


def results_model_name(model: Mapping[str, Any], dim: int) -> str:
    """The model name of one dim's results: the model's name (a hub id stays whole, a folder gives its last part)
    with "-dim<d>" after it, so every dim is its own model to MTEB's tools and the leaderboard."""
    name = str(model.get("name") or "model")
    if name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name:
        name = Path(name).name or "model"
    return f"{name}-dim{dim}"


def _model_revision(model: Mapping[str, Any]) -> str:
    fingerprint = str(model.get("fingerprint") or "")
    if fingerprint.startswith("hub:") and "@" in fingerprint:
        return fingerprint.rpartition("@")[2]  # "hub:<id>@<commit>": the hub commit the weights came from
    return str(model.get("revision") or NO_REVISION)


def write_results(
    folder: Path,
    task_name: str | None,
    *,
    split: str,
    subset: str | None,
    model: Mapping[str, Any],
    results: Sequence[DimResult],
    evaluation_time: float,
) -> list[Path]:
    """One MTEB result file per swept dim, laid out as mteb's results folder: folder/<model>-dim<d>/<revision>/<Task>.json
    (the model name with "/" written "__"). Scores are mrl-eval's, under MTEB's names; all files or none."""
    mteb = import_mteb()
    main = check_results_target(task_name, folder)
    task = get_task(str(task_name))
    split = resolve_split(task, split)
    subset = resolve_subset(task, subset)
    revision = _model_revision(model)
    date = datetime.now(timezone.utc)
    pending: list[tuple[Path, Path]] = []
    try:
        for result in results:
            if main not in result.metrics:
                raise MrlEvalError(
                    f"--mteb-results: the sweep did not compute {main}, {task.metadata.name}'s main score"
                )
            scores: dict[str, Any] = {
                name: float(v) for m, v in result.metrics.items() if (name := M.mteb_name(m)) is not None
            }
            scores["main_score"] = float(result.metrics[main])
            task_result = mteb.TaskResult.from_task_results(
                task, {split: {subset: scores}}, evaluation_time=evaluation_time, date=date
            )
            model_dir = results_model_name(model, result.dim).replace("/", "__").replace(" ", "_")
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
