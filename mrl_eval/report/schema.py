"""Reading a saved report back (`recommend --from`, `compare`, `--baseline`): every field the reader uses is checked
against the schema, and the result is the typed, read-only `Report` (`mrl_eval.report.model`). This is the one
place the report's JSON dict is read; `Report.to_dict()` is the one place it is written.

A wrong-typed field (`"model": "x"`, `"data": null`), an empty `per_query`, a NaN or infinite value, a whole number
past 2^63-1, a metric outside [0, 1] and an unknown schema version are refused with a `MrlEvalError` naming the file
and the field, never a traceback; the numbers are then checked against each other (`schema_numbers`: the per-query
values are the source of every mean). Schema versions
this code reads: `SCHEMA_VERSIONS` (a report without the field predates it and is read as version 1).
"""

from __future__ import annotations

import json
from pathlib import Path

from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.results import DimResult
from mrl_eval.evaluate.stats import MIN_QUERIES_FOR_INTERVALS, StatsSettings
from mrl_eval.report.model import (
    PAIRED_TEST,
    SCHEMA,
    DataInfo,
    LabelFree,
    Losses,
    ModelInfo,
    QueriesInfo,
    QueryLoss,
    Report,
    Statistics,
    plain,
)
from mrl_eval.report.schema_numbers import check_sizes, read_means
from mrl_eval.report.schema_reader import Reader as _Reader
from mrl_eval.report.schema_sections import baseline, engine, grid, growth, holdout, recommendation, two_stage

SCHEMA_VERSIONS = (SCHEMA,)
SavedReport = Report  # the name readers of a saved report used before the report model
_FIX = "rerun mrl-eval sweep to write a fresh report"


def parse_document(doc: object, path: Path) -> Report:
    """Check `doc` (a parsed JSON report) against the schema and type it: the one reader of the report dict."""

    r = _Reader(path)
    if not isinstance(doc, dict) or "results" not in doc:
        raise MrlEvalError(f"{path}: not an mrl-eval report (missing results); {_FIX}")
    required = ("full_dim", "n_docs", "data", "model", "queries_evaluated")
    missing = [k for k in required if k not in doc]
    if missing:
        raise MrlEvalError(f"{path}: not an mrl-eval report (missing {', '.join(missing)}); {_FIX}")
    version = doc.get("schema", 1)
    if version not in SCHEMA_VERSIONS or isinstance(version, bool):
        known = ", ".join(map(str, SCHEMA_VERSIONS))
        raise MrlEvalError(
            f"{path}: schema version {json.dumps(version)[:20]} is not one this mrl-eval reads ({known}); "
            "upgrade mrl-eval, or rerun the sweep with this one"
        )
    meta = {key: r.optional_text(doc.get(key), key) for key in ("command", "created", "mrl_eval_version")}
    full_dim = r.integer(doc["full_dim"], "full_dim", 1)
    results = _results(r, doc["results"], full_dim)
    names = set(results[0].metrics)
    per_query = _per_query(r, doc.get("per_query"), results, full_dim)
    report = Report(
        **meta,
        schema=version,
        settings=_settings(r, doc.get("settings")),
        data=_data(r, doc["data"]),
        model=_model(r, doc["model"]),
        full_dim=full_dim,
        n_docs=r.integer(doc["n_docs"], "n_docs"),
        queries_evaluated=r.integer(doc["queries_evaluated"], "queries_evaluated"),
        queries_skipped=r.integer(doc.get("queries_skipped", 0), "queries_skipped"),
        embedded_now=None if doc.get("embedded_now") is None else r.integer(doc["embedded_now"], "embedded_now"),
        results=results,
        per_query=per_query,
        losses=_losses(r, doc.get("losses")),
        queries=_queries(r, doc.get("queries")),
        label_free=_label_free(r, doc.get("label_free")),
        growth=growth(r, doc.get("growth")),
        statistics=_statistics(r, doc.get("statistics")),
        grid=grid(r, doc.get("grid"), names),
        pca=_pca(r, doc.get("pca")),
        two_stage=two_stage(r, doc.get("two_stage"), names),
        engine=engine(r, doc.get("engine")),
        recommendation=recommendation(r, doc.get("recommendation")),
        holdout=holdout(r, doc.get("holdout")),
        baseline=baseline(r, doc.get("baseline")),
    )
    check_sizes(r, report)
    return read_means(r, report)  # the per-query values are the source of every mean: one reading for every command


def _results(r: _Reader, value: object, full_dim: int) -> tuple[DimResult, ...]:
    results = []
    for i, entry in enumerate(r.items(value, "results")):
        at = f"results[{i}]"
        e = r.obj(entry, at)
        results.append(
            DimResult(
                r.integer(e.get("dim"), f"{at}.dim", 1),
                r.number(e.get("fraction"), f"{at}.fraction"),
                r.integer(e.get("bytes_per_vector"), f"{at}.bytes_per_vector"),
                r.metrics(e.get("metrics"), f"{at}.metrics"),
                r.stats(e.get("stats") or {}, f"{at}.stats"),
            )
        )
    dims = [x.dim for x in results]
    repeated = sorted({d for d in dims if dims.count(d) > 1})
    if repeated:
        raise r.fail("results", f"has dim {repeated[0]} more than once")
    if full_dim not in dims:
        raise MrlEvalError(f"{r.path}: no result at the full dim {full_dim} (field results); {_FIX}")
    if any(set(x.metrics) != set(results[0].metrics) for x in results):
        raise r.fail("results", "has dims with different metrics")
    return tuple(results)


def _per_query(
    r: _Reader, value: object, results: tuple[DimResult, ...], full_dim: int
) -> dict[int, dict[str, dict[str, float]]] | None:
    if value is None:
        return None
    raw = r.per_query(value, "per_query")
    try:
        per_query = {int(d): v for d, v in raw.items()}
    except ValueError as err:
        raise r.fail("per_query", f"has a key that is not a dim ({err})") from err
    dims = sorted(x.dim for x in results)
    if sorted(per_query) != dims:
        raise r.fail("per_query", f"has dims {sorted(per_query)}, the results {dims}")
    if any(set(v) != set(results[0].metrics) for v in per_query.values()):
        raise r.fail("per_query", "lacks a metric of the results")
    return per_query


def _settings(r: _Reader, value: object) -> dict | None:
    if value is None:
        return None
    shown = r.obj(value, "settings", empty=True)
    for key in ("dims", "metrics", "split", "ignore_identical_ids", "cache_dtype"):  # the ones the reports print
        setting = shown.get(key)
        if isinstance(setting, list):
            for i, v in enumerate(setting):
                r.text(v, f"settings.{key}[{i}]")
        elif isinstance(setting, dict):
            raise r.wrong(f"settings.{key}", "a value or a list", setting)
    return plain(shown)


def _data(r: _Reader, value: object) -> DataInfo:
    data = r.obj(value, "data")
    name = r.text(data.get("name"), "data.name")
    files = {}
    for role, info in data.items():
        if role != "name":
            files[role] = None if info is None else plain(r.obj(info, f"data.{role}", empty=True))
    return DataInfo(name, files)


def _model(r: _Reader, value: object) -> ModelInfo:
    model = r.obj(value, "model")
    r.text(model.get("name"), "model.name")
    for key in ("provider", "fingerprint", "path"):
        r.optional_text(model.get(key), f"model.{key}")
    for role, prompt in r.obj(model.get("prompts") or {}, "model.prompts", empty=True).items():
        r.optional_text(prompt, f"model.prompts.{role}")
    return ModelInfo(plain(model))


def _losses(r: _Reader, value: object) -> Losses | None:
    """The per-query losses the reports list: every field they print."""
    if value is None:
        return None
    losses = r.obj(value, "losses", empty=True)
    if not losses.get("by_dim"):
        k = r.integer(losses.get("k", 10), "losses.k", 1)
        return Losses(r.optional_text(losses.get("metric"), "losses.metric"), k, {})
    by_dim = {}
    for dim, entries in r.obj(losses["by_dim"], "losses.by_dim").items():
        if not isinstance(entries, list):
            raise r.wrong(f"losses.by_dim.{dim}", "a list", entries)
        if not dim.isdigit():
            raise r.fail("losses.by_dim", f"has a key that is not a dim ({dim!r})")
        rows = []
        for i, e in enumerate(entries):
            at = f"losses.by_dim.{dim}[{i}]"
            e = r.obj(e, at)
            lost = e.get("lost_relevant")
            if not isinstance(lost, list):
                raise r.wrong(f"{at}.lost_relevant", "a list", lost)
            rows.append(
                QueryLoss(
                    r.text(e.get("query_id"), f"{at}.query_id"),
                    r.text(e.get("text"), f"{at}.text"),
                    *(r.number(e.get(key), f"{at}.{key}") for key in ("full", "value", "delta")),
                    tuple(r.text(doc_id, f"{at}.lost_relevant[{j}]") for j, doc_id in enumerate(lost)),
                )
            )
        by_dim[int(dim)] = tuple(rows)
    return Losses(r.text(losses.get("metric"), "losses.metric"), r.integer(losses.get("k"), "losses.k", 1), by_dim)


def _queries(r: _Reader, value: object) -> QueriesInfo | None:
    if value is None:
        return None
    info = r.obj(value, "queries", empty=True)
    r.optional_text(info.get("label"), "queries.label")
    if info.get("kind") == "pseudo":
        r.integer(info.get("n"), "queries.n")
        r.integer(info.get("seed"), "queries.seed")
        r.text(info.get("rule"), "queries.rule")
    return QueriesInfo(plain(info))


def _label_free(r: _Reader, value: object) -> LabelFree | None:
    if value is None:
        return None
    lf = r.obj(value, "label_free")
    texts = [r.text(lf.get(k), f"label_free.{k}") for k in ("reference", "overlap", "shortlist_recall", "rbo")]
    metrics = r.strings(lf.get("metrics"), "label_free.metrics")
    return LabelFree(metrics, *texts, r.flag(lf.get("with_qrels_metrics"), "label_free.with_qrels_metrics"))


def _statistics(r: _Reader, value: object) -> Statistics | None:
    """How the statistics were computed; a field an older report lacks reads as this version's default."""

    if value is None:
        return None
    st = r.obj(value, "statistics")
    default = StatsSettings()
    settings = StatsSettings(
        r.number(st.get("confidence", default.confidence), "statistics.confidence"),
        r.integer(st.get("resamples", default.resamples), "statistics.resamples"),
        r.integer(st.get("seed", default.seed), "statistics.seed"),
        r.text(st.get("method", default.method), "statistics.method"),
    )
    return Statistics(
        settings,
        r.text(st.get("interval", f"bootstrap over queries ({settings.method})"), "statistics.interval"),
        r.text(st.get("test", PAIRED_TEST), "statistics.test"),
        r.integer(st.get("min_queries", MIN_QUERIES_FOR_INTERVALS), "statistics.min_queries"),
        r.flag(st.get("intervals_reliable", True), "statistics.intervals_reliable"),
        r.optional_text(st.get("warning"), "statistics.warning"),
    )


def _pca(r: _Reader, value: object) -> dict | None:
    if value is None:
        return None
    pca = r.obj(value, "pca")
    r.text(r.obj(pca.get("safety"), "pca.safety").get("statement"), "pca.safety.statement")
    fit = r.obj(pca.get("fit"), "pca.fit")
    r.text(fit.get("fit_on"), "pca.fit.fit_on")
    r.integer(fit.get("n_fit"), "pca.fit.n_fit")
    r.integer(fit.get("n_docs"), "pca.fit.n_docs")
    return plain(pca)
