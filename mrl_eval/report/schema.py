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
import math
from pathlib import Path

from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.stats import MetricStats, StatsSettings
from mrl_eval.evaluate.sweep import DimResult
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
from mrl_eval.report.schema_numbers import check_bounds, check_sizes, read_means

SCHEMA_VERSIONS = (SCHEMA,)
MAX_INTEGER = 2**63 - 1  # an int64, as every JSON reader of the report (pandas, DuckDB) holds it
SavedReport = Report  # the name readers of a saved report used before the report model
_FIX = "rerun mrl-eval sweep to write a fresh report"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")


class _Reader:
    """Typed access to one document; each failure names the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, what: str) -> MrlEvalError:
        return MrlEvalError(f"{self.path}: field {where} {what}; {_FIX}")

    def wrong(self, where: str, want: str, value: object) -> MrlEvalError:
        shown = json.dumps(value)[:40] if not isinstance(value, (dict, list)) else _kind(value)
        return self.fail(where, f"should be {want}, not {shown}")

    def obj(self, value: object, where: str, *, empty: bool = False) -> dict:
        if not isinstance(value, dict):
            raise self.wrong(where, "an object", value)
        if not value and not empty:
            raise self.fail(where, "is empty")
        return value

    def items(self, value: object, where: str) -> list:
        if not isinstance(value, list):
            raise self.wrong(where, "a non-empty list", value)
        if not value:
            raise self.fail(where, "is empty")
        return value

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise self.wrong(where, "a string", value)
        return value

    def optional_text(self, value: object, where: str) -> str | None:
        return None if value is None else self.text(value, where)

    def flag(self, value: object, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.wrong(where, "true or false", value)
        return value

    def strings(self, value: object, where: str) -> tuple[str, ...]:
        return tuple(self.text(v, f"{where}[{i}]") for i, v in enumerate(self.items(value, where)))

    def integer(self, value: object, where: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.wrong(where, f"a whole number >= {minimum}", value)
        if value > MAX_INTEGER:  # 10**400 documents would overflow every float computed from it
            digits = str(value)
            shown = digits if len(digits) <= 24 else f"{digits[:20]}... ({len(digits)} digits)"
            raise self.fail(where, f"is {shown}, more than 2^63-1")
        return value

    def number(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.wrong(where, "a number", value)
        try:
            number = float(value)
        except OverflowError:  # an integer past float range, 10**400
            raise self.fail(where, f"is a {len(str(value))}-digit number (not a finite number)") from None
        if not math.isfinite(number):
            raise self.fail(where, f"is {number} (not a finite number)")
        return number

    def pair(self, value: object, where: str) -> tuple[float, float]:
        if not isinstance(value, list) or len(value) != 2:
            raise self.wrong(where, "a [low, high] pair", value)
        return self.number(value[0], f"{where}[0]"), self.number(value[1], f"{where}[1]")

    def metrics(self, value: object, where: str) -> dict[str, float]:
        """metric -> mean, each finite and, for the metrics mrl-eval computes, within [0, 1]."""
        return {
            self.text(m, where): check_bounds(self, m, self.number(v, f"{where}.{m}"), f"{where}.{m}")
            for m, v in self.obj(value, where).items()
        }

    def stats(self, value: object, where: str) -> dict[str, MetricStats]:
        out = {}
        for m, st in self.obj(value, where, empty=True).items():
            at = f"{where}.{m}"
            st = self.obj(st, at)
            out[m] = MetricStats(
                self.pair(st.get("ci"), f"{at}.ci"),
                self.number(st.get("delta"), f"{at}.delta"),
                self.pair(st.get("delta_ci"), f"{at}.delta_ci"),
                self.number(st.get("p_value"), f"{at}.p_value"),
            )
        return out

    def interval(self, value: object, where: str) -> tuple[float, float] | None:
        return None if value is None else self.pair(value, where)

    def per_query(self, value: object, where: str) -> dict[str, dict[str, dict[str, float]]]:
        """label or dim -> metric -> query id -> value, every value finite, the same queries everywhere."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        ids: set[str] | None = None
        for key, metrics in self.obj(value, where).items():
            out[key] = {}
            for m, values in self.obj(metrics, f"{where}.{key}").items():
                at = f"{where}.{key}.{m}"
                out[key][m] = {
                    q: check_bounds(self, m, self.number(v, f"{at}.{q}"), f"{at}.{q}")
                    for q, v in self.obj(values, at).items()
                }
                if ids is None:
                    ids = set(out[key][m])
                elif set(out[key][m]) != ids:
                    raise self.fail(at, f"holds other query ids than the rest ({len(out[key][m])} vs {len(ids)})")
        return out


def parse_document(doc: object, path: Path) -> Report:
    """Check `doc` (a parsed JSON report) against the schema and type it: the one reader of the report dict."""
    from mrl_eval.report.schema_sections import baseline, engine, grid, growth, holdout, recommendation, two_stage

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
    from mrl_eval.evaluate.stats import MIN_QUERIES_FOR_INTERVALS

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
