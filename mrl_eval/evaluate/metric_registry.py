"""Every metric mrl-eval computes, by name, and the one function that scores a ranking with them.

A metric (`metric_base.Metric`) is written `<name>@<k>`. The qrels metrics (trec_eval's measures, `metrics.py`)
are evaluated on the queries that have judgments, as trec_eval skips a query with none; the label-free ones
(`fidelity.py`) on every query, against the full dim's ranking. This registry is the one list every part reads:
option parsing, the report schema, the MTEB result files (`mteb_name`) and the help. A new metric is a class in a
module plus its entry in `METRICS` below.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from mrl_eval import defaults
from mrl_eval.errors import UsageError
from mrl_eval.evaluate import fidelity, metrics
from mrl_eval.evaluate.metric_base import Metric, RankedQueries
from mrl_eval.limits import whole_number

METRICS: dict[str, Metric] = {m.name: m for m in (*metrics.METRICS, *fidelity.METRICS)}

DEFAULT_METRICS = defaults.METRICS
DEFAULT_LABEL_FREE_METRICS = fidelity.DEFAULT_LABEL_FREE_METRICS

_METRIC_RE = re.compile(r"^([a-z_]+)\s*@\s*([0-9]+)$")


def _valid_forms() -> str:
    judged = ", ".join(f"{m.name}@K" for m in METRICS.values() if m.needs_qrels)
    free = ", ".join(f"{m.name}@K" for m in METRICS.values() if not m.needs_qrels)
    return f"{judged} with K a positive integer, e.g. ndcg@10; without qrels (label-free): {free}"


def parse_metric(name: str) -> tuple[str, int]:
    """'ndcg@10' -> ('ndcg', 10). Case-insensitive, whitespace-stripped.

    Unknown name, missing/zero/negative/non-integer k -> UsageError (an MrlEvalError) naming the value and listing
    valid forms.
    """
    text = str(name).strip().lower()
    match = _METRIC_RE.match(text)
    if match is None:
        problem = "has no cutoff" if "@" not in text else "has a cutoff that is not a positive integer"
        raise UsageError(f"metric {name!r} {problem}: write it as one of {_valid_forms()}.")
    metric, k_text = match.group(1), match.group(2)
    if metric not in METRICS:
        raise UsageError(f"unknown metric {name!r}: use one of {_valid_forms()}.")
    k = whole_number(k_text, "--metrics")
    if k <= 0:
        raise UsageError(f"metric {name!r} has cutoff {k}: K must be at least 1; use one of {_valid_forms()}.")
    return metric, k


def parse_metrics(spec: str | Sequence[str]) -> list[str]:
    """Comma-separated or list -> canonical names ('ndcg@10'), de-duplicated, order kept."""
    items = [spec] if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in items:
        for part in str(item).split(","):
            if not part.strip():
                continue
            metric, k = parse_metric(part)
            canonical = f"{metric}@{k}"
            if canonical not in names:
                names.append(canonical)
    if not names:
        raise UsageError(f"no metrics given in {spec!r}: name at least one of {_valid_forms()}.")
    return names


def max_depth(names: Sequence[str]) -> int:
    """Largest k among the metrics: how deep the ranking must go."""
    if not names:
        raise UsageError(f"no metrics given: name at least one of {_valid_forms()}.")
    return max(parse_metric(name)[1] for name in names)


def is_label_free(name: str) -> bool:
    """True for a metric measured against the full-dim ranking rather than qrels ('overlap@10')."""
    metric = METRICS.get(name.split("@", 1)[0].strip().lower())
    return metric is not None and not metric.needs_qrels


def mteb_name(name: str) -> str | None:
    """mrl-eval's "ndcg@10" -> MTEB's "ndcg_at_10"; None for a metric MTEB does not report."""
    metric, k = parse_metric(name)
    stem = METRICS[metric].mteb_name
    return f"{stem}_at_{k}" if stem else None


def from_mteb_name(score: str) -> str | None:
    """MTEB's "ndcg_at_10" -> "ndcg@10"; None for a score mrl-eval does not compute (e.g. hit_rate_at_5)."""
    for metric in METRICS.values():
        if metric.mteb_name:
            match = re.fullmatch(re.escape(metric.mteb_name) + r"_at_([0-9]+)", score)
            if match:
                return f"{metric.name}@{int(match.group(1))}"
    return None


def computed_for_mteb() -> str:
    """The MTEB scores mrl-eval computes, in words."""
    return ", ".join(m.name for m in METRICS.values() if m.mteb_name) + " at k"


def choose_metrics(requested: Sequence[str], has_qrels: bool, required: str | None = None) -> list[str]:
    """The metrics a sweep computes: those requested, else the defaults of its mode (qrels metrics with qrels,
    label-free ones without), plus `required` (a recommend rule's metric). Raises when a metric needs qrels that
    the run does not have, naming the label-free metrics to use instead."""
    names = (
        parse_metrics(list(requested))
        if requested
        else list(DEFAULT_METRICS if has_qrels else DEFAULT_LABEL_FREE_METRICS)
    )
    if required and required not in names:
        names.append(required)
    needing = [m for m in names if not is_label_free(m)]
    if needing and not has_qrels:
        raise UsageError(
            f"{', '.join(needing)} need{'s' if len(needing) == 1 else ''} relevance judgments (qrels) and this run "
            f"has none; pass --qrels FILE, or measure against the full-dim ranking instead (label-free): "
            f"--metrics {','.join(DEFAULT_LABEL_FREE_METRICS)} (recommend: --metric overlap@10)"
        )
    return names


def _check_ranking(ranked: np.ndarray, n_queries: int, n_docs: int) -> np.ndarray:
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or ranked.shape[0] != n_queries:
        raise ValueError(f"ranked has shape {ranked.shape}; expected ({n_queries}, depth)")
    if ranked.size and not np.issubdtype(ranked.dtype, np.integer):
        raise ValueError(f"ranked must hold integer doc indices, not {ranked.dtype}")
    if ranked.size and ranked.max() >= n_docs:
        raise ValueError(f"ranked holds doc index {ranked.max()} but there are only {n_docs} doc_ids")
    return ranked


def score_ranking(
    query_ids: Sequence[str],
    ranked: np.ndarray,
    doc_ids: Sequence[str],
    qrels: dict[str, dict[str, int]],
    names: Sequence[str],
    reference: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Canonical metric name -> query_id -> value: every metric of one ranking, the one per-query function of a
    sweep.

    `ranked` is (n_queries, depth) indices into `doc_ids`, best first, -1 as padding (skipped: documents after it
    move up a rank). Qrels metrics are evaluated on the queries with judgments (trec_eval skips the others; a query
    whose judgments are all below 1 scores 0); label-free ones against `reference`, the full dim's ranking of the
    same queries, on the same queries as the qrels metrics when there are any, else on every query.
    """
    ranked = _check_ranking(ranked, len(query_ids), len(doc_ids))
    parsed = {f"{m}@{k}": (METRICS[m], k) for m, k in map(parse_metric, names)}
    judged_names = [n for n, (m, _) in parsed.items() if m.needs_qrels]
    rows = [i for i, q in enumerate(query_ids) if qrels.get(q)] if judged_names else list(range(len(query_ids)))
    evaluated = [query_ids[i] for i in rows]
    if not parsed:
        return {}
    judged = [qrels[q] for q in evaluated] if judged_names else []
    # Past the ranking's depth and past a query's number of judgments every cumulative sum is constant, so the
    # arrays stop there: a cutoff far beyond the corpus (recall@100000000000) costs no more than the corpus itself.
    deepest = max(k for _, k in parsed.values())
    longest = max(map(len, judged), default=0)
    width = max(1, min(deepest, max(ranked.shape[1], longest)))
    if any(not m.needs_qrels for m, _ in parsed.values()) and reference is None:
        raise ValueError("label-free metrics need the full dim's ranking as the reference")
    ranking = RankedQueries(
        ranked[rows],
        width,
        doc_ids=doc_ids,
        judged=judged,
        reference=np.asarray(reference)[rows] if reference is not None else None,
    )
    out: dict[str, dict[str, float]] = {}
    for canonical, (metric, k) in parsed.items():  # keys are canonical ('ndcg@10'), each once
        values = metric.score(ranking, k) if evaluated else np.empty(0)
        out[canonical] = dict(zip(evaluated, np.asarray(values, np.float64).tolist(), strict=True))
    return out


def mean(per_query: dict[str, float]) -> float:
    """Mean over evaluated queries (0.0 if none)."""
    if not per_query:
        return 0.0
    return float(np.mean(np.fromiter(per_query.values(), dtype=np.float64, count=len(per_query))))
