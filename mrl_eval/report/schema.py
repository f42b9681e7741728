"""Reading a saved report back (`recommend --from`, `compare`, `--baseline`): every field the reader uses is checked
against the schema, and the result is a typed, read-only `SavedReport`.

A wrong-typed field (`"model": "x"`, `"data": null`), an empty `per_query`, a NaN or infinite value and an unknown
schema version are refused with a `MrlEvalError` naming the file and the field, never a traceback. Schema versions
this code reads: `SCHEMA_VERSIONS` (a report without the field predates it and is read as version 1).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.stats import MetricStats
from mrl_eval.evaluate.sweep import DimResult
from mrl_eval.methods.grid import Cell, TwoStageRow

SCHEMA = 1
SCHEMA_VERSIONS = (1,)
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

    def integer(self, value: object, where: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.wrong(where, f"a whole number >= {minimum}", value)
        return value

    def number(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.wrong(where, "a number", value)
        if not math.isfinite(value):
            raise self.fail(where, f"is {value} (not a finite number)")
        return float(value)

    def pair(self, value: object, where: str) -> tuple[float, float]:
        if not isinstance(value, list) or len(value) != 2:
            raise self.wrong(where, "a [low, high] pair", value)
        return self.number(value[0], f"{where}[0]"), self.number(value[1], f"{where}[1]")

    def metrics(self, value: object, where: str) -> dict[str, float]:
        return {self.text(m, where): self.number(v, f"{where}.{m}") for m, v in self.obj(value, where).items()}

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

    def per_query(self, value: object, where: str) -> dict[str, dict[str, dict[str, float]]]:
        """label or dim -> metric -> query id -> value, every value finite, the same queries everywhere."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        ids: set[str] | None = None
        for key, metrics in self.obj(value, where).items():
            out[key] = {}
            for m, values in self.obj(metrics, f"{where}.{key}").items():
                at = f"{where}.{key}.{m}"
                out[key][m] = {q: self.number(v, f"{at}.{q}") for q, v in self.obj(values, at).items()}
                if ids is None:
                    ids = set(out[key][m])
                elif set(out[key][m]) != ids:
                    raise self.fail(at, f"holds other query ids than the rest ({len(out[key][m])} vs {len(ids)})")
        return out


@dataclass(frozen=True)
class SavedReport:
    """A report read back and checked. `document` is the file's JSON (a private copy) for the writers."""

    path: Path
    document: dict[str, Any] = field(repr=False)
    full_dim: int
    n_docs: int
    results: tuple[DimResult, ...]
    per_query: dict[int, dict[str, dict[str, float]]] | None  # dim -> metric -> query id -> value
    query_ids: tuple[str, ...]
    cells: tuple[Cell, ...] = ()
    two_stage: tuple[TwoStageRow, ...] = ()

    @property
    def metrics(self) -> list[str]:
        return list(self.results[0].metrics)

    @property
    def has_per_query(self) -> bool:
        return self.per_query is not None


def parse_document(doc: object, path: Path) -> SavedReport:
    """Check `doc` (a parsed JSON report) against the schema and type it."""
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
    for key in ("command", "created", "mrl_eval_version"):
        if key in doc:
            r.text(doc[key], key)
    data = r.obj(doc["data"], "data")
    r.text(data.get("name"), "data.name")
    for role, info in data.items():
        if role != "name" and info is not None:
            r.obj(info, f"data.{role}", empty=True)
    model = r.obj(doc["model"], "model")
    r.text(model.get("name"), "model.name")
    for key in ("provider", "fingerprint", "path"):
        if model.get(key) is not None:
            r.text(model[key], f"model.{key}")
    for role, prompt in r.obj(model.get("prompts") or {}, "model.prompts", empty=True).items():
        if prompt is not None:
            r.text(prompt, f"model.prompts.{role}")
    shown = r.obj(doc.get("settings") or {}, "settings", empty=True)
    for key in ("dims", "metrics", "split", "ignore_identical_ids", "cache_dtype"):  # the ones the reports print
        value = shown.get(key)
        if isinstance(value, list):
            for i, v in enumerate(value):
                r.text(v, f"settings.{key}[{i}]")
        elif isinstance(value, dict):
            raise r.wrong(f"settings.{key}", "a value or a list", value)
    full_dim = r.integer(doc["full_dim"], "full_dim", 1)
    n_docs = r.integer(doc["n_docs"], "n_docs")
    r.integer(doc["queries_evaluated"], "queries_evaluated")
    r.integer(doc.get("queries_skipped", 0), "queries_skipped")
    results = []
    for i, entry in enumerate(r.items(doc["results"], "results")):
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
    if full_dim not in dims:
        raise MrlEvalError(f"{path}: no result at the full dim {full_dim} (field results); {_FIX}")
    if any(set(x.metrics) != set(results[0].metrics) for x in results):
        raise r.fail("results", "has dims with different metrics")
    per_query, query_ids = None, ()
    if "per_query" in doc and doc["per_query"] is not None:
        raw = r.per_query(doc["per_query"], "per_query")
        try:
            per_query = {int(d): v for d, v in raw.items()}
        except ValueError as err:
            raise r.fail("per_query", f"has a key that is not a dim ({err})") from err
        if sorted(per_query) != sorted(dims):
            raise r.fail("per_query", f"has dims {sorted(per_query)}, the results {sorted(dims)}")
        if any(set(v) != set(results[0].metrics) for v in per_query.values()):
            raise r.fail("per_query", "lacks a metric of the results")
        query_ids = tuple(next(iter(per_query[full_dim].values())))
    cells, rows = _grid(r, doc)
    names = set(results[0].metrics)
    for what, entries in (("grid.cells", cells), ("two_stage.rows", rows)):
        if any(set(e.metrics) != names for e in entries):
            raise r.fail(what, f"has an entry whose metrics are not the results' ({', '.join(sorted(names))})")
    _losses(r, doc.get("losses"))
    if doc.get("pca") is not None:
        pca = r.obj(doc["pca"], "pca")
        r.text(r.obj(pca.get("safety"), "pca.safety").get("statement"), "pca.safety.statement")
        fit = r.obj(pca.get("fit"), "pca.fit")
        r.text(fit.get("fit_on"), "pca.fit.fit_on")
        r.integer(fit.get("n_fit"), "pca.fit.n_fit")
        r.integer(fit.get("n_docs"), "pca.fit.n_docs")
    return SavedReport(path, copy.deepcopy(doc), full_dim, n_docs, tuple(results), per_query, query_ids, cells, rows)


def _losses(r: _Reader, losses: object) -> None:
    """The per-query losses the reports list: every field they print."""
    if losses is None:
        return
    losses = r.obj(losses, "losses", empty=True)
    if not losses.get("by_dim"):
        return
    r.text(losses.get("metric"), "losses.metric")
    r.integer(losses.get("k"), "losses.k", 1)
    for dim, entries in r.obj(losses["by_dim"], "losses.by_dim").items():
        if not isinstance(entries, list):
            raise r.wrong(f"losses.by_dim.{dim}", "a list", entries)
        for i, e in enumerate(entries):
            at = f"losses.by_dim.{dim}[{i}]"
            e = r.obj(e, at)
            r.text(e.get("query_id"), f"{at}.query_id")
            r.text(e.get("text"), f"{at}.text")
            for key in ("full", "value", "delta"):
                r.number(e.get(key), f"{at}.{key}")
            lost = e.get("lost_relevant")
            if not isinstance(lost, list):
                raise r.wrong(f"{at}.lost_relevant", "a list", lost)
            for j, doc_id in enumerate(lost):
                r.text(doc_id, f"{at}.lost_relevant[{j}]")


def _strings(r: _Reader, value: object, where: str) -> list[str]:
    return [r.text(v, f"{where}[{i}]") for i, v in enumerate(r.items(value, where))]


def _grid(r: _Reader, doc: dict) -> tuple[tuple[Cell, ...], tuple[TwoStageRow, ...]]:
    if not doc.get("grid"):
        return (), ()
    grid = r.obj(doc["grid"], "grid")
    r.text(grid.get("reference"), "grid.reference")
    _strings(r, grid.get("precisions"), "grid.precisions")
    _strings(r, grid.get("methods"), "grid.methods")
    scales = {n: r.integer(v, f"grid.scales.{n}") for n, v in r.obj(grid.get("scales"), "grid.scales").items()}
    r.text(r.obj(grid.get("latency"), "grid.latency").get("what"), "grid.latency.what")
    if r.obj(grid.get("per_query", {}), "grid.per_query", empty=True):
        r.per_query(grid["per_query"], "grid.per_query")
    cells = []
    for i, c in enumerate(r.items(grid.get("cells"), "grid.cells")):
        at = f"grid.cells[{i}]"
        c = r.obj(c, at)
        latency = c.get("latency_ms")
        cells.append(
            Cell(
                r.text(c.get("method"), f"{at}.method"),
                r.integer(c.get("dim"), f"{at}.dim", 1),
                r.text(c.get("precision"), f"{at}.precision"),
                r.integer(c.get("bytes_per_vector"), f"{at}.bytes_per_vector"),
                r.metrics(c.get("metrics"), f"{at}.metrics"),
                r.stats(c.get("stats") or {}, f"{at}.stats"),
                None if latency is None else r.number(latency, f"{at}.latency_ms"),
            )
        )
        r.text(c.get("label"), f"{at}.label")
        r.number(c.get("fraction"), f"{at}.fraction")
        sizes = r.obj(c.get("storage_bytes"), f"{at}.storage_bytes")
        for n in scales:
            r.integer(sizes.get(n), f"{at}.storage_bytes.{n}")
    rows = []
    two = r.obj(doc.get("two_stage") or {"rows": []}, "two_stage")
    if not isinstance(two.get("rows"), list):
        raise r.wrong("two_stage.rows", "a list", two.get("rows"))
    for i, t in enumerate(two["rows"]):
        at = f"two_stage.rows[{i}]"
        t = r.obj(t, at)
        rows.append(
            TwoStageRow(
                r.text(t.get("first_stage"), f"{at}.first_stage"),
                r.integer(t.get("dim"), f"{at}.dim", 1),
                r.text(t.get("precision"), f"{at}.precision"),
                r.integer(t.get("shortlist"), f"{at}.shortlist", 1),
                r.metrics(t.get("metrics"), f"{at}.metrics"),
                r.number(t.get("shortlist_recall"), f"{at}.shortlist_recall"),
                _cost(r, t.get("cost"), f"{at}.cost"),
                r.stats(t.get("stats") or {}, f"{at}.stats"),
            )
        )
    return tuple(cells), tuple(rows)


def _cost(r: _Reader, value: object, where: str) -> dict:
    cost = r.obj(value, where)
    for key in ("first_stage_index_bytes", "full_vectors_fetched_per_query"):
        r.integer(cost.get(key), f"{where}.{key}")
    return cost
