"""Beyond float32 prefixes, from the same full-size vectors: every (method, dim, precision) cell, the PCA baseline
with its truncation-safety finding, two-stage retrieval, and the cost of each choice at scale.

A cell is a way to store the corpus: `prefix` (the first d dims) or `pca` (the first d PCA coordinates), kept at
a precision (float32, float16, int8, binary; see `precision`, scored as FAISS scores them). The float32 prefix cells
are the sweep's own results, reused as they are, so the grid never changes a number the plain sweep reports.

Memory stays bounded at any corpus size: the codes of every quantised cell are made chunk by chunk during one pass
over the corpus (`cell_search`), and the PCA-projected corpus is written to a temporary file that is read chunk by
chunk and removed afterwards (`pca.projected_on_disk`); nothing corpus-sized is held beyond the vectors' memory map.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mrl_eval import defaults
from mrl_eval.errors import UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.inputs import ScoringInputs
from mrl_eval.evaluate.retrieval import search
from mrl_eval.evaluate.scales import parse_scales
from mrl_eval.evaluate.stats import MetricStats, StatsSettings, summarize
from mrl_eval.methods import pca as P
from mrl_eval.methods import precision as Q
from mrl_eval.methods import two_stage as T
from mrl_eval.methods.cell_search import search_cells
from mrl_eval.methods.latency import machine, scan_latency
from mrl_eval.methods.precision import fit_codecs
from mrl_eval.progress import ProgressFactory, no_progress

METHODS = ("prefix", "pca")


def cell_label(method: str, dim: int, precision: str) -> str:
    return f"{method}:{dim}:{precision}"


def parse_methods(spec: str | None) -> tuple[str, ...]:
    names = [m.strip().lower() for m in (spec or "prefix").split(",") if m.strip()]
    for name in names:
        if name not in METHODS:
            raise UsageError(f"--methods: {name!r} is not a method; choose from {', '.join(METHODS)}")
    return tuple(m for m in METHODS if m in names) or ("prefix",)


@dataclass(frozen=True)
class GridSettings:
    precisions: tuple[str, ...] = ("float32",)
    compare_pca: bool = False
    pca_fit_sample: str | None = None
    safety_margin: float = defaults.SAFETY_MARGIN
    two_stage: str | None = None
    shortlists: str | None = None
    scale: str | None = None

    @property
    def active(self) -> bool:
        """Whether anything beyond the plain sweep was asked for (the default output stays exactly as it was)."""
        return self.precisions != ("float32",) or self.compare_pca or bool(self.two_stage) or self.scale is not None

    def check(self) -> GridSettings:
        Q.parse_precisions(",".join(self.precisions))
        P.parse_fit_sample(self.pca_fit_sample)
        T.parse_shortlists(self.shortlists)
        if self.two_stage:
            T.parse_stages(self.two_stage, 1 << 30)  # the syntax now; dims against the full dim once it is known
        parse_scales(self.scale)
        if not 0 <= self.safety_margin <= 1:
            raise UsageError(f"--safety-margin {self.safety_margin:g}: a metric difference lies in [0, 1]")
        return self


@dataclass(frozen=True)
class Cell:
    method: str
    dim: int
    precision: str
    bytes_per_vector: int
    metrics: dict[str, float]
    stats: dict[str, MetricStats] = field(default_factory=dict)
    latency_ms: float | None = None  # median exact scan of the evaluated corpus for one query, measured here

    @property
    def label(self) -> str:
        return cell_label(self.method, self.dim, self.precision)


@dataclass(frozen=True)
class TwoStageRow:
    first_stage: str  # "64:float32"
    dim: int
    precision: str
    shortlist: int
    metrics: dict[str, float]
    shortlist_recall: float  # mean share of the full dim's top 10 that survived the first stage
    cost: dict
    stats: dict[str, MetricStats] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"two-stage:{self.first_stage}:{self.shortlist}"


@dataclass(frozen=True)
class GridResult:
    cells: list[Cell]
    per_query: dict[str, dict[str, dict[str, float]]]  # cell or two-stage label -> metric -> query_id -> value
    reference: str  # the label of the full-dim float32 prefix cell
    pca: dict | None  # the fit and the truncation-safety finding
    two_stage: list[TwoStageRow]
    scales: dict[str, int]
    machine: dict


def _means(values: dict[str, dict[str, float]], query_ids: list[str]) -> dict[str, float]:
    return {m: float(np.mean([v[q] for q in query_ids])) for m, v in values.items()}


def evaluate_grid(
    inputs: ScoringInputs,
    dims: list[int],
    settings: GridSettings,
    *,
    prefix_per_query: dict[int, dict[str, dict[str, float]]],
    reference: np.ndarray,
    stats: StatsSettings | None,
    progress: ProgressFactory = no_progress,
) -> GridResult:
    """Score every cell and two-stage configuration of `inputs` (the evaluated queries). `prefix_per_query` is the
    sweep's float32 prefix result, reused for those cells; `reference` is the full dim's ranking (label-free
    metrics compare with it; its top 10 is what shortlist recall counts)."""
    docs, queries, query_ids = inputs.docs, inputs.queries, inputs.query_ids
    doc_key, exclude = inputs.doc_key, inputs.exclude
    full_dim = inputs.full_dim
    k = inputs.k
    full_top = reference[:, : min(10, reference.shape[1])]
    per_query: dict[str, dict[str, dict[str, float]]] = {}
    bytes_of: dict[str, int] = {}
    latency: dict[str, float] = {}
    methods = ["prefix", "pca"] if settings.compare_pca else ["prefix"]
    precisions = Q.parse_precisions(",".join(("float32", *settings.precisions)))  # float32 is the reference
    n_cells = len(methods) * len(dims) * len(precisions)
    advance = progress(f"Scoring {n_cells} cells", n_cells)

    def evaluate(ranking_index: np.ndarray) -> dict[str, dict[str, float]]:
        return M.score_ranking(query_ids, ranking_index, inputs.doc_ids, inputs.qrels, inputs.metric_names, reference)

    quantised = [(dim, p) for dim in dims for p in precisions if p != "float32"]
    fit = None
    for method in methods:
        with contextlib.ExitStack() as scratch:
            if method == "pca":
                fit = P.fit(docs, P.parse_fit_sample(settings.pca_fit_sample), stats.seed if stats else 0)
                # the projected corpus goes to a temporary file read chunk by chunk: memory stays bounded
                space_docs, space_queries = (
                    scratch.enter_context(P.projected_on_disk(docs, fit)),
                    P.project(queries, fit),
                )
                rankings = search(space_queries, space_docs, dims, k, doc_key, exclude=exclude)
            else:
                space_docs, space_queries = docs, queries
            codecs = fit_codecs(space_docs, [(dim, p) for dim in dims for p in precisions])
            found = search_cells(space_queries, space_docs, [codecs[c] for c in quantised], k, doc_key, exclude)
            quantised_rankings = dict(zip(quantised, found))
            for dim in dims:
                for precision in precisions:
                    label = cell_label(method, dim, precision)
                    if method == "prefix" and precision == "float32":
                        per_query[label] = prefix_per_query[dim]
                    elif precision == "float32":
                        per_query[label] = evaluate(rankings[dim].doc_index)
                    else:
                        per_query[label] = evaluate(quantised_rankings[(dim, precision)].doc_index)
                    latency[label] = scan_latency(space_queries, space_docs, codecs[(dim, precision)]) * 1000
                    bytes_of[label] = Q.bytes_per_vector(dim, precision)
                    advance(1)

    reference_label = cell_label("prefix", full_dim, "float32")
    two_stage_rows, two_stage_values = _two_stage(inputs, full_top, settings, evaluate)
    all_values = {**per_query, **two_stage_values}
    cell_stats = summarize(all_values, reference_label, query_ids, stats) if stats else {}
    cells = [
        Cell(
            method=label.split(":")[0],
            dim=int(label.split(":")[1]),
            precision=label.split(":")[2],
            bytes_per_vector=bytes_of[label],
            metrics=_means(values, query_ids),
            stats=cell_stats.get(label, {}),
            latency_ms=latency[label],
        )
        for label, values in per_query.items()
    ]
    rows = [
        TwoStageRow(**row, metrics=_means(two_stage_values[label], query_ids), stats=cell_stats.get(label, {}))
        for label, row in two_stage_rows.items()
    ]
    pca_info = None
    if fit is not None:
        primary = inputs.metric_names[0]
        prefix_values = {c.dim: c.metrics[primary] for c in cells if c.method == "prefix" and c.precision == "float32"}
        pca_values = {c.dim: c.metrics[primary] for c in cells if c.method == "pca" and c.precision == "float32"}
        pca_info = {
            "fit": fit.describe(dims),
            "safety": P.safety(
                prefix_values, pca_values, prefix_values[full_dim], primary, settings.safety_margin, full_dim
            ),
        }
    return GridResult(cells, all_values, reference_label, pca_info, rows, parse_scales(settings.scale), machine())


def _two_stage(
    inputs: ScoringInputs,
    full_top: np.ndarray,
    settings: GridSettings,
    evaluate: Callable[[np.ndarray], dict[str, dict[str, float]]],
) -> tuple[dict[str, dict], dict[str, dict[str, dict[str, float]]]]:
    if not settings.two_stage:
        return {}, {}
    docs, queries, doc_key, exclude = inputs.docs, inputs.queries, inputs.doc_key, inputs.exclude
    full_dim, k = inputs.full_dim, inputs.k
    n_docs = docs.shape[0]
    stages = T.parse_stages(settings.two_stage, full_dim)
    shortlists = T.parse_shortlists(settings.shortlists)
    depth = min(max(shortlists), n_docs)
    rows: dict[str, dict] = {}
    values: dict[str, dict[str, dict[str, float]]] = {}
    quantised = [s for s in stages if s.precision != "float32"]
    codecs = fit_codecs(docs, [(s.dim, s.precision) for s in quantised])
    found = search_cells(queries, docs, [codecs[(s.dim, s.precision)] for s in quantised], depth, doc_key, exclude)
    firsts = dict(zip(quantised, found))
    for stage in stages:
        if stage.precision == "float32":
            first = search(queries, docs, [stage.dim], depth, doc_key, exclude=exclude)[stage.dim]
        else:
            first = firsts[stage]
        for size in shortlists:
            shortlist = first.doc_index[:, : min(size, n_docs)]
            final = T.rerank(queries, docs, shortlist, min(k, n_docs), doc_key)
            label = f"two-stage:{stage.label}:{size}"
            values[label] = evaluate(final.doc_index)
            rows[label] = {
                "first_stage": stage.label,
                "dim": stage.dim,
                "precision": stage.precision,
                "shortlist": size,
                "shortlist_recall": float(T.survival(full_top, shortlist).mean()),
                "cost": T.cost(stage, size, n_docs, full_dim),
            }
    return rows, values
