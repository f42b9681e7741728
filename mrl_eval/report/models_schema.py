"""Read a saved report of several models back: each model's report through the one-model schema, and the
comparison across them recomputed from their per-query values (the file's own comparison is a rendering of those;
a hand-edited one is not trusted). The saved recommendation and held-out check are dropped, as `--from` drops a
one-model report's: they were made under their own bar."""

from __future__ import annotations

from pathlib import Path

from mrl_eval.decide.across_models import SEPARATOR
from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.report.models_report import KIND, ModelsReport, cross_model
from mrl_eval.report.schema import parse_document
from mrl_eval.report.schema_reader import Reader

MAX_MODELS = 64


def parse_models_document(doc: object, path: Path, stats: StatsSettings | None = None) -> ModelsReport:
    """Check `doc` (a parsed JSON report of `kind` "models") and type it."""
    r = Reader(path)
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise MrlEvalError(f"{path}: not a report of several models (kind {KIND!r}); pass one written by mrl-eval")
    entries = doc.get("models")
    if not isinstance(entries, list) or not 2 <= len(entries) <= MAX_MODELS:
        raise r.fail("models", f"must list 2 to {MAX_MODELS} models")
    names, runs = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise r.fail(f"models[{i}]", "must be an object with a name and a report")
        names.append(entry["name"])
        runs.append(parse_document(entry.get("report"), Path(f"{path} (models[{i}]: {entry['name'][:80]})")))
    if len(set(names)) < len(names):
        raise r.fail("models", "names a model twice")
    ids = {tuple(run.query_ids) for run in runs}
    if len(ids) > 1:
        raise r.fail("models", "holds models evaluated on different queries; a run of several models shares them")
    comparison = doc.get("comparison") if isinstance(doc.get("comparison"), dict) else {}
    metric = comparison.get("metric") if isinstance(comparison.get("metric"), str) else runs[0].metrics[0]
    if metric not in runs[0].metrics:
        raise r.fail("comparison.metric", f"names {metric[:40]!r}, which the models' reports do not hold")
    reference = None
    if comparison.get("reference_how") == "--reference":
        reference = str(comparison.get("reference", "")).split(SEPARATOR)[0]
        if reference not in names:
            raise r.fail("comparison.reference", "names no model of the report")
    settings = stats if stats is not None else (runs[0].statistics.settings if runs[0].statistics else None)
    section, _ = cross_model(names, runs, metric, settings, reference)
    meta = {key: r.optional_text(doc.get(key), key) for key in ("command", "created", "mrl_eval_version")}
    return ModelsReport(
        command=meta["command"] or "sweep",
        data=runs[0].data,
        names=tuple(names),
        runs=tuple(runs),
        comparison=section,
        settings=doc.get("settings") if isinstance(doc.get("settings"), dict) else None,
        created=meta["created"],
        mrl_eval_version=meta["mrl_eval_version"],
    )
