"""Whose files a set is: the name of a run's files (the stem), the run's identity (the fingerprints of its data and
its model), and the check made before a set of files is replaced.

Two runs share a stem by default when their data and model have the same base names (`--embeddings mA/emb` and
`mB/emb`, `BAAI/bge-small-en-v1.5` and `./ft/bge-small-en-v1.5`). A set is replaced only by the run that wrote it:
the same data files (sha256; an MTEB task by its pinned name) and the same model fingerprint, read from the set's
record (`<stem>.json` for reports, `<stem>.runs.json` for TREC run files). Otherwise the write is refused, naming
`--name`, `--out` and `--overwrite`, and nothing is touched. Rerunning the same run into the same folder replaces
its set, as it always did.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.files import read_limited
from mrl_eval.limits import MAX_REPORT_BYTES

# A set's files are `<stem><suffix>`; a stem whose last part is the first part of a two-part suffix ("x.losses" next
# to "x.losses.csv" of the set "x", "x.runs" next to "x.runs.json") would make one set's files look like another's.
RESERVED_ENDINGS = ("losses", "deltas", "pareto", "growth", "runs")
MAX_NAME = 200
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
CHART_SUFFIXES = (".png", ".svg")


def check_name(name: str) -> str:
    """A `--name` as the stem of a run's files: letters, digits, `.`, `_`, `-`, not hidden, not a suffix of a set."""
    last = name.rpartition(".")[2]
    if (
        not _NAME.fullmatch(name)
        or len(name) > MAX_NAME
        or name.endswith(".")
        or ("." in name and last in RESERVED_ENDINGS)
    ):
        raise UsageError(
            f"--name {name[:60]!r}: give a name of letters, digits, '.', '_' and '-' (at most {MAX_NAME}), not "
            f"starting with '.' and not ending in .{', .'.join(RESERVED_ENDINGS)}; e.g. --name scifact-ft-v2"
        )
    return name


def default_stem(data_name: str, model_name: str) -> str:
    """`<data>__<model>` from the base names, lower case, anything but `A-Z a-z 0-9 . _ -` made `-`."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{data_name}__{Path(model_name).name}").strip("-.").lower()
    head, dot, last = slug[:MAX_NAME].rpartition(".")
    return (f"{head}-{last}" if dot and last in RESERVED_ENDINGS else slug[:MAX_NAME]) or "run"


def run_identity(data: Mapping[str, Any], model: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run: each data file's fingerprint (its sha256, or its path where it has none, as
    an MTEB task's pinned name), and the model's fingerprint (its name where it has none)."""
    files = {
        role: str(info.get("sha256") or info.get("path"))
        for role, info in data.items()
        if isinstance(info, Mapping) and (info.get("sha256") or info.get("path"))
    }
    return {"data": files, "model": str(model.get("fingerprint") or model.get("name") or "")}


def models_identity(data: Mapping[str, Any], models: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The identity of a run of several models: the data, and each model's fingerprint in the run's order."""
    return {"data": run_identity(data, {})["data"], "model": [run_identity({}, m)["model"] for m in models]}


def _recorded_identity(record: Path) -> dict[str, Any] | None:
    """The identity a set's record (a report JSON, a run-files manifest, a several-models report) holds; None when
    it holds none."""
    try:
        doc = json.loads(read_limited(record, MAX_REPORT_BYTES, what="a saved report", fix="").decode("utf-8"))
    except (OSError, ValueError, RecursionError, MrlEvalError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        return None
    if isinstance(doc.get("model"), dict):
        return run_identity(doc["data"], doc["model"])
    models = doc.get("models")
    if isinstance(models, list) and all(isinstance(m, dict) and isinstance(m.get("report"), dict) for m in models):
        described = [m["report"].get("model") for m in models]
        if all(isinstance(d, dict) for d in described):
            return models_identity(doc["data"], described)
    return None


def _difference(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> str:
    parts = []
    for role in sorted(set(mine["data"]) | set(theirs["data"])):  # roles are the files' (corpus, queries, qrels)
        a, b = theirs["data"].get(role), mine["data"].get(role)
        if a != b:
            parts.append(f"{role} {_short(a)} there, {_short(b)} here")
    if mine["model"] != theirs["model"]:
        there, here = theirs["model"], mine["model"]
        if isinstance(here, list) or isinstance(there, list):
            parts.append(f"models {_models(there)} there, {_models(here)} here")
        else:
            parts.append(f"model {_short(there)} there, {_short(here)} here")
    return "; ".join(parts)


def _models(value: object) -> str:
    return "[" + ", ".join(_short(str(v)) for v in value) + "]" if isinstance(value, list) else _short(str(value))


def _short(value: str | None) -> str:
    if value is None:
        return "none"
    return value if len(value) <= 40 else value[:30] + "..." + value[-6:]


def claim(
    members: list[Path],
    *,
    record: Path,
    mine: Mapping[str, Any],
    overwrite: bool,
    what: str = "reports",
    charts_drawn: bool = True,
) -> None:
    """Refuse (MrlEvalError) to replace the existing `members` of a set unless they are this run's own: `record`
    (the set's report JSON or manifest) holds the same identity as `mine`. With `charts_drawn` False (a write from a
    saved report without --plot), the set's charts are not deleted either. `overwrite` (--overwrite) replaces
    whatever is there."""
    if not members or overwrite:
        return
    stem = record.name.removesuffix(".runs.json").removesuffix(".json")
    keep = "pass --name NAME or another --out DIR to keep both, or --overwrite to replace them"
    theirs = _recorded_identity(record)
    if theirs is None:
        shown = ", ".join(p.name for p in members[:3]) + (f" and {len(members) - 3} more" if len(members) > 3 else "")
        raise MrlEvalError(
            f"{record.parent}: holds {shown}, but {record.name} is missing or not one mrl-eval wrote, so these "
            f"{what} may not be this run's; nothing was written. Pass --name NAME or another --out DIR, or "
            "--overwrite to replace them"
        )
    if theirs != dict(mine):
        raise MrlEvalError(
            f"{record}: the {what} named {stem} there are another run's ({_difference(mine, theirs)}); nothing was "
            f"written. {keep[0].upper()}{keep[1:]}"
        )
    charts = [p.name for p in members if p.name.endswith(CHART_SUFFIXES)]
    if not charts_drawn and charts:
        raise MrlEvalError(
            f"{record.parent}: replacing the {stem} reports without charts would delete {', '.join(charts[:2])}"
            f"{' and more' if len(charts) > 2 else ''}; nothing was written. Pass --plot to redraw them, --name NAME "
            "for a set of its own, or --overwrite"
        )
