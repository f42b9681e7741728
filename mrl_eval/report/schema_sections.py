"""The schema's readers of a report's method and decision sections: the grid, two-stage, growth, engine cells, the
recommendation and the baseline comparison (`mrl_eval.report.schema.parse_document` reads the rest). Each failure
names the file and the field."""

from __future__ import annotations

import dataclasses

from mrl_eval.decide.compare import (
    CheckedGate,
    DimComparison,
    GateCheck,
    MetricDelta,
    Pairing,
    RunComparison,
    RunDescription,
)
from mrl_eval.decide.engine_choice import EngineChoice
from mrl_eval.decide.holdout import HoldoutCheck
from mrl_eval.decide.recommend import Choice, TwoStageChoice
from mrl_eval.engines import EngineCell
from mrl_eval.evaluate.growth import DimGrowth, GrowthResult
from mrl_eval.methods.grid import Cell, TwoStageRow
from mrl_eval.report.engine_section import EngineSection
from mrl_eval.report.model import Grid, TwoStage, plain
from mrl_eval.report.schema_reader import Reader as _Reader


def _same_metrics(r: _Reader, what: str, entries: tuple, names: set[str]) -> None:
    if any(set(e.metrics) != names for e in entries):
        raise r.fail(what, f"has an entry whose metrics are not the results' ({', '.join(sorted(names))})")


def grid(r: _Reader, value: object, names: set[str]) -> Grid | None:

    if not value:
        return None
    g = r.obj(value, "grid")
    scales = {n: r.integer(v, f"grid.scales.{n}") for n, v in r.obj(g.get("scales"), "grid.scales").items()}
    latency = r.obj(g.get("latency"), "grid.latency")
    per_query = r.per_query(g["per_query"], "grid.per_query") if g.get("per_query") else {}
    r.obj(g.get("per_query", {}), "grid.per_query", empty=True)
    cells = []
    for i, c in enumerate(r.items(g.get("cells"), "grid.cells")):
        at = f"grid.cells[{i}]"
        c = r.obj(c, at)
        latency_ms = c.get("latency_ms")
        cells.append(
            Cell(
                r.text(c.get("method"), f"{at}.method"),
                r.integer(c.get("dim"), f"{at}.dim", 1),
                r.text(c.get("precision"), f"{at}.precision"),
                r.integer(c.get("bytes_per_vector"), f"{at}.bytes_per_vector"),
                r.metrics(c.get("metrics"), f"{at}.metrics"),
                r.stats(c.get("stats") or {}, f"{at}.stats"),
                None if latency_ms is None else r.number(latency_ms, f"{at}.latency_ms"),
            )
        )
        r.text(c.get("label"), f"{at}.label")
        r.number(c.get("fraction"), f"{at}.fraction")
        sizes = r.obj(c.get("storage_bytes"), f"{at}.storage_bytes")
        for n in scales:
            r.integer(sizes.get(n), f"{at}.storage_bytes.{n}")
    _same_metrics(r, "grid.cells", tuple(cells), names)
    return Grid(
        precisions=r.strings(g.get("precisions"), "grid.precisions"),
        methods=r.strings(g.get("methods"), "grid.methods"),
        reference=r.text(g.get("reference"), "grid.reference"),
        cells=tuple(cells),
        per_query=per_query,
        scales=scales,
        latency_note=r.text(latency.get("what"), "grid.latency.what"),
        machine=plain(r.obj(latency.get("machine") or {}, "grid.latency.machine", empty=True)),
        latency_unit=r.text(latency.get("unit", "ms per query"), "grid.latency.unit"),
    )


def two_stage(r: _Reader, value: object, names: set[str]) -> TwoStage | None:

    if not value:
        return None
    two = r.obj(value, "two_stage")
    if not isinstance(two.get("rows"), list):
        raise r.wrong("two_stage.rows", "a list", two.get("rows"))
    rows = []
    for i, t in enumerate(two["rows"]):
        at = f"two_stage.rows[{i}]"
        t = r.obj(t, at)
        cost = r.obj(t.get("cost"), f"{at}.cost")
        for key in ("first_stage_index_bytes", "full_vectors_fetched_per_query"):
            r.integer(cost.get(key), f"{at}.cost.{key}")
        rows.append(
            TwoStageRow(
                r.text(t.get("first_stage"), f"{at}.first_stage"),
                r.integer(t.get("dim"), f"{at}.dim", 1),
                r.text(t.get("precision"), f"{at}.precision"),
                r.integer(t.get("shortlist"), f"{at}.shortlist", 1),
                r.metrics(t.get("metrics"), f"{at}.metrics"),
                r.number(t.get("shortlist_recall"), f"{at}.shortlist_recall"),
                plain(cost),
                r.stats(t.get("stats") or {}, f"{at}.stats"),
            )
        )
    _same_metrics(r, "two_stage.rows", tuple(rows), names)
    chosen = two.get("recommendation")
    return TwoStage(
        tuple(rows),
        r.text(two.get("shortlist_recall", ""), "two_stage.shortlist_recall"),
        r.text(two.get("rerank", ""), "two_stage.rerank"),
        _two_stage_choice(r, chosen),
    )


def _two_stage_choice(r: _Reader, value: object) -> TwoStageChoice | None:

    if value is None:
        return None
    at = "two_stage.recommendation"
    c = _fields(r, TwoStageChoice, r.obj(value, at), at)
    r.text(c["rule"], f"{at}.rule")
    r.number(c["threshold"], f"{at}.threshold")
    if c.get("first_stage") is not None:
        r.text(c["first_stage"], f"{at}.first_stage")
        r.integer(c.get("shortlist"), f"{at}.shortlist", 1)
        r.number(c.get("value"), f"{at}.value")
        r.number(c.get("shortlist_recall"), f"{at}.shortlist_recall")
        cost = r.obj(c.get("cost"), f"{at}.cost")
        for key in ("first_stage_index_bytes", "full_vectors_fetched_per_query"):
            r.integer(cost.get(key), f"{at}.cost.{key}")
    return TwoStageChoice(**plain(c))


def _engine_choice(r: _Reader, value: object) -> EngineChoice | None:

    if value is None:
        return None
    at = "engine.recommendation"
    c = _fields(r, EngineChoice, r.obj(value, at), at)
    if c.get("label") is not None:
        r.text(c["label"], f"{at}.label")
        for key in ("value", "neighbour_recall"):
            r.number(c.get(key), f"{at}.{key}")
        r.integer(c.get("memory_bytes"), f"{at}.memory_bytes")
        ms = r.obj(c.get("latency_ms"), f"{at}.latency_ms")
        c["latency_ms"] = (
            r.number(ms.get("median"), f"{at}.latency_ms.median"),
            r.number(ms.get("p95"), f"{at}.latency_ms.p95"),
        )
        stats = c.get("stats")
        c["stats"] = None if stats is None else r.stats({"stats": stats}, at)["stats"]
        c["recipe"] = plain(r.obj(c.get("recipe"), f"{at}.recipe"))
    return EngineChoice(**c)


def _fields(r: _Reader, cls: type, value: dict, where: str) -> dict:
    """`value`'s entries that are fields of the dataclass `cls`, each required one present."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    required = [
        n for n, f in known.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [n for n in required if n not in value]
    if missing:
        raise r.fail(where, f"lacks {', '.join(missing)}")
    return {k: v for k, v in value.items() if k in known}


def growth(r: _Reader, value: object) -> GrowthResult | None:

    if value is None:
        return None
    g = r.obj(value, "growth")
    fields = _fields(r, GrowthResult, g, "growth")
    dims = []
    for i, d in enumerate(r.items(fields.get("dims"), "growth.dims")):
        at = f"growth.dims[{i}]"
        d = _fields(r, DimGrowth, r.obj(d, at), at)
        r.integer(d["dim"], f"{at}.dim", 1)
        for key in ("intercept", "slope"):
            r.number(d[key], f"{at}.{key}")
        for name, p in r.obj(d["projection"], f"{at}.projection", empty=True).items():
            p = r.obj(p, f"{at}.projection.{name}")
            r.number(p.get("drop"), f"{at}.projection.{name}.drop")
            r.pair(p.get("drop_ci"), f"{at}.projection.{name}.drop_ci")
        dims.append(DimGrowth(**plain(d)))
    r.text(fields["metric"], "growth.metric")
    r.number(fields["confidence"], "growth.confidence")
    for key in ("seeds", "queries"):
        r.integer(fields[key], f"growth.{key}")
    for name, n in r.obj(fields["targets"], "growth.targets", empty=True).items():
        r.integer(n, f"growth.targets.{name}")
    return GrowthResult(**{**plain(fields), "dims": dims})


def engine(r: _Reader, value: object) -> EngineSection | None:

    if not value:
        return None
    section = r.obj(value, "engine")
    fixed = ("server", "reference", "table_bytes", "n_docs", "neighbour_recall", "ties", "latency", "cells")
    fixed += ("per_query", "recommendation")
    latency = r.obj(section.get("latency"), "engine.latency")
    cells = []
    for i, row in enumerate(r.items(section.get("cells"), "engine.cells")):
        at = f"engine.cells[{i}]"
        row = r.obj(row, at)
        fields = _fields(r, EngineCell, row, at)
        ms = r.obj(row.get("latency_ms"), f"{at}.latency_ms")
        fields |= {
            "metrics": r.metrics(row.get("metrics"), f"{at}.metrics"),
            "latency_ms": (
                r.number(ms.get("median"), f"{at}.latency_ms.median"),
                r.number(ms.get("p95"), f"{at}.latency_ms.p95"),
            ),
            "stats": r.stats(row.get("stats") or {}, f"{at}.stats"),
            "recipe": plain(r.obj(row.get("recipe"), f"{at}.recipe")),
        }
        if "short_lists" in row:
            fields["short_lists"] = r.integer(row["short_lists"], f"{at}.short_lists", 0)
        cells.append(EngineCell(**fields))
    chosen = section.get("recommendation")
    return EngineSection(
        settings=plain({k: v for k, v in section.items() if k not in fixed}),
        server=plain(r.obj(section.get("server") or {}, "engine.server", empty=True)),
        reference=r.text(section.get("reference"), "engine.reference"),
        table_bytes=r.integer(section.get("table_bytes", 0), "engine.table_bytes"),
        n_docs=r.integer(section.get("n_docs"), "engine.n_docs"),
        neighbour_recall=r.text(section.get("neighbour_recall", ""), "engine.neighbour_recall"),
        ties=r.text(section.get("ties", ""), "engine.ties"),
        latency_note=r.text(latency.get("what"), "engine.latency.what"),
        machine=plain(r.obj(latency.get("machine") or {}, "engine.latency.machine", empty=True)),
        cells=tuple(cells),
        per_query=r.per_query(section.get("per_query"), "engine.per_query"),
        recommendation=_engine_choice(r, chosen),
        latency_unit=r.text(latency.get("unit", "ms per query"), "engine.latency.unit"),
    )


def recommendation(r: _Reader, value: object) -> Choice | None:

    if value is None:
        return None
    # a rule kind (reports before the interval rules lack it), and no value or smaller dim when nothing met the rule
    optional = {"rule_kind": "point", "value": None, "smaller_dim": None, "smaller_value": None}
    rec = {**optional, **r.obj(value, "recommendation")}
    fields = _fields(r, Choice, rec, "recommendation")
    r.text(fields["metric"], "recommendation.metric")
    r.number(fields["threshold"], "recommendation.threshold")
    r.number(fields["full_value"], "recommendation.full_value")
    r.obj(fields["storage"], "recommendation.storage", empty=True)
    r.obj(fields["evidence"], "recommendation.evidence", empty=True)
    return Choice(**plain(fields))


def holdout(r: _Reader, value: object) -> HoldoutCheck | None:

    if value is None:
        return None
    h = _fields(r, HoldoutCheck, r.obj(value, "holdout"), "holdout")
    for key in ("fraction", "select_threshold", "test_full_value"):
        r.number(h[key], f"holdout.{key}")
    for key in ("seed", "n_select", "n_test"):
        r.integer(h[key], f"holdout.{key}")
    if h["dim"] is not None:
        r.integer(h["dim"], "holdout.dim", 1)
        for key in ("test_value", "test_threshold"):
            r.number(h.get(key), f"holdout.{key}")
        h["test_ci"] = r.pair(h.get("test_ci"), "holdout.test_ci")
        r.flag(h.get("meets_rule_on_test"), "holdout.meets_rule_on_test")
    return HoldoutCheck(**h)


def baseline(r: _Reader, value: object) -> RunComparison | None:

    if value is None:
        return None
    c = r.obj(value, "baseline")
    fields = _fields(r, RunComparison, c, "baseline")
    by_dim = []
    for i, row in enumerate(r.items(fields["by_dim"], "baseline.by_dim")):
        at = f"baseline.by_dim[{i}]"
        row = r.obj(row, at)
        metrics = {}
        for m, v in r.obj(row.get("metrics"), f"{at}.metrics").items():
            v = r.obj(v, f"{at}.metrics.{m}")
            metrics[m] = MetricDelta(
                *(r.number(v.get(k), f"{at}.metrics.{m}.{k}") for k in ("baseline", "current", "delta")),
                r.interval(v.get("delta_ci"), f"{at}.metrics.{m}.delta_ci"),
                None if v.get("p_value") is None else r.number(v["p_value"], f"{at}.metrics.{m}.p_value"),
            )
        gate = r.obj(row.get("gate"), f"{at}.gate")
        by_dim.append(
            DimComparison(
                r.integer(row.get("dim"), f"{at}.dim", 1),
                metrics,
                GateCheck(**_fields(r, GateCheck, gate, f"{at}.gate")),
            )
        )
    sides = {
        side: RunDescription(**_fields(r, RunDescription, r.obj(fields[side], f"baseline.{side}"), f"baseline.{side}"))
        for side in ("baseline", "current")
    }
    gate = r.obj(fields["gate"], "baseline.gate")
    return RunComparison(
        **sides,
        gate=CheckedGate(**_fields(r, CheckedGate, gate, "baseline.gate")),
        dims=tuple(fields["dims"]),
        only_in_baseline=tuple(fields["only_in_baseline"]),
        only_in_current=tuple(fields["only_in_current"]),
        metrics=tuple(fields["metrics"]),
        paired=Pairing(**_fields(r, Pairing, r.obj(fields["paired"], "baseline.paired"), "baseline.paired")),
        by_dim=tuple(by_dim),
        failed_dims=tuple(fields["failed_dims"]),
        passed=r.flag(fields["passed"], "baseline.passed"),
        notes=tuple(fields["notes"]),
    )
