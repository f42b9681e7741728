"""Validate `--growth` before anyone trusts it: run it on part of a real corpus, project to the whole, measure the
error.

    PYTHONPATH=. .venv/bin/python scripts/make_growth_validation.py

On ../shared/datasets/{scifact,cranfield,cacm} with both models' precomputed vectors, for the drop from the full dim
of nDCG@10 (with qrels: every judged document kept, as `--growth` keeps them) and of overlap@10 (label-free: no
qrels, so nothing kept), with mrl-eval's own functions (growth.score_subsamples, growth.fit_growth):

- a "user corpus" is drawn, `HALVES` times per collection and model: every judged document (nDCG@10 only) plus a
  random half of the rest (the 2x check) or a quarter (4x); `--growth` runs on it exactly as on a user's corpus
  (nested subsamples 1/16 .. 1, 5 seeds, the line on the largest three sizes, the backtest one size lower) and
  projects the drop to the size of the whole corpus, where it is then measured;
- the baseline is "no growth": the drop measured on the user corpus itself;
- the widening factor (growth.py: the bootstrap interval widened by `widen` x the run's backtest error, scaled to
  the distance) is calibrated per metric on the 2x cases: the smallest factor, at least 1, whose intervals hold the
  measured drop in `CALIBRATION_COVERAGE` of the cases. It is validated holding out whole collections: each
  collection's cases are scored with the factor calibrated on the other collections' cases alone.

Writes the results into docs/growth.md (between the markers) and the calibration and summary the CLI quotes into
mrl_eval/evaluate/growth_validation.json. No number in either is typed by hand.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.vectors import Vectors, load_vectors
from mrl_eval.evaluate.dims import resolve_dims
from mrl_eval.evaluate.growth import GrowthSettings, fit_growth, nested_subsamples, score_subsamples, widened
from mrl_eval.evaluate.growth_calibration import times

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MRL_EVAL_SHARED", ROOT.parent / "shared")) / "datasets"  # a worktree: set it
DOC = ROOT / "docs" / "growth.md"
SUMMARY = ROOT / "mrl_eval" / "evaluate" / "growth_validation.json"
COLLECTIONS = ("scifact", "cranfield", "cacm")
MODELS = {"all-minilm-l6-v2": "32,64,128,192", "embeddinggemma-300m": "32,64,128,256,384"}
METRICS = {"ndcg@10": True, "overlap@10": False}  # metric -> with qrels (judged documents kept)
USER_CORPUS = {"2x": 1 / 2, "4x": 1 / 4}  # the share of the unjudged documents the user corpus holds
HALVES = 5  # user corpora drawn per collection, model and share
SEEDS = 5
CALIBRATION_COVERAGE = 0.9  # the widening is the smallest factor (at least 1) holding this share of the 2x cases
MIN_COVERAGE = 0.8  # the bar, fixed before the numbers were seen: held-out coverage at 2x
START, END = "<!-- growth-validation:start -->", "<!-- growth-validation:end -->"


def measure() -> list[dict]:
    cases = []
    for name in COLLECTIONS:
        collection = load_collection(SHARED / name, require_texts=False)
        for model, dim_spec in MODELS.items():
            vectors = load_vectors(SHARED / name / "embeddings" / model)
            dims = resolve_dims(dim_spec, vectors.full_dim)
            for metric, with_qrels in METRICS.items():
                qrels = collection.qrels if with_qrels else {}
                cases += _cases(vectors, qrels, dims, metric, where=(name, model))
            print(f"{name} {model}: done", flush=True)
    return cases


def _cases(vectors: Vectors, qrels: dict, dims: list[int], metric: str, *, where: tuple[str, str]) -> list[dict]:
    """One case per (user corpus, dim below full) of one collection, model and metric."""
    whole = GrowthSettings(seeds=1, fractions=(1.0,))
    values, _, query_ids = score_subsamples(vectors, qrels, dims, [metric], whole)
    measured = (values[metric][0, 0, -1:] - values[metric][0, 0]).mean(axis=1)  # the drop on the whole corpus
    n_docs = len(vectors.doc_ids)
    queries = np.asarray(vectors.queries, np.float32)
    position = {d: i for i, d in enumerate(vectors.doc_ids)}
    kept = np.array(sorted({position[d] for q in query_ids for d in qrels.get(q, {}) if d in position}), np.int64)
    settings = GrowthSettings(seeds=SEEDS, scale=str(n_docs), widen=0.0).check()
    out = []
    for label, share in USER_CORPUS.items():
        for half in range(HALVES):
            rows = nested_subsamples(n_docs, kept, (share,), 1000 + half)[0]
            user = Vectors(
                [vectors.doc_ids[i] for i in rows], np.asarray(vectors.docs[rows]), vectors.query_ids, queries
            )
            v, sizes, _ = score_subsamples(user, qrels, dims, [metric], settings)
            fit = fit_growth(v[metric], sizes, dims, settings, metric=metric, n_queries=len(query_ids))
            curve = (v[metric][:, :, -1:] - v[metric]).mean(axis=(0, 3))
            every = np.polyfit(np.log(np.asarray(sizes, np.float64)), curve, 1)  # the line on all sizes, for contrast
            for i, d in enumerate(fit.dims[:-1]):
                p = next(iter(d.projection.values()))
                out.append(
                    {
                        "collection": where[0],
                        "model": where[1],
                        "metric": metric,
                        "label": label,
                        "half": half,
                        "dim": d.dim,
                        "sizes": sizes,
                        "n_docs": n_docs,
                        "measured": float(measured[i]),
                        "projected": float(p["drop"]),
                        "noise_ci": p["noise_ci"],
                        "model_error": float(p["model_error"]),
                        "flat": float(curve[-1, i]),
                        "all_sizes": float(every[1, i] + every[0, i] * np.log(n_docs)),
                    }
                )
    return out


def _interval(case: dict, widen: float) -> list[float]:
    return widened(tuple(case["noise_ci"]), case["model_error"], widen)


def _coverage(cases: list[dict], widen: float) -> float:
    return float(np.mean([lo <= c["measured"] <= hi for c in cases for lo, hi in [_interval(c, widen)]]))


def calibrate(cases: list[dict]) -> float:
    """The smallest widening (at least 1, in steps of 0.05) holding CALIBRATION_COVERAGE of the cases."""
    for widen in np.arange(1.0, 50.0, 0.05):
        if _coverage(cases, widen) >= CALIBRATION_COVERAGE:
            return round(float(widen), 2)
    return 50.0


def summary(cases: list[dict], metric: str, label: str, folds: dict[str, float]) -> dict:
    """The errors of one metric and extrapolation; coverage with each collection's widening from the others."""
    chosen = [c for c in cases if c["label"] == label and c["metric"] == metric]
    errors = np.array([c["projected"] - c["measured"] for c in chosen])
    flat = np.array([c["flat"] - c["measured"] for c in chosen])
    every = np.array([c["all_sizes"] - c["measured"] for c in chosen])
    by_collection = {name: [c for c in chosen if c["collection"] == name] for name in COLLECTIONS}
    held = {name: _coverage(inside, folds[name]) for name, inside in by_collection.items()}
    ratios = [c["n_docs"] / c["sizes"][-1] for c in chosen]
    low, high = times(min(ratios)), times(max(ratios))
    return {
        "extrapolation": low if low == high else f"{low} to {high}",
        "largest_ratio": float(max(ratios)),
        "cases": len(chosen),
        "loco_coverage": float(sum(held[n] * len(inside) for n, inside in by_collection.items()) / len(chosen)),
        "coverage_by_collection": held,
        "widen_by_collection": folds,
        "median_width": float(np.median([np.diff(_interval(c, folds[c["collection"]]))[0] for c in chosen])),
        "median_abs_error": float(np.median(np.abs(errors))),
        "max_abs_error": float(np.max(np.abs(errors))),
        "mean_signed_error": float(np.mean(errors)),
        "flat_median_abs_error": float(np.median(np.abs(flat))),
        "flat_max_abs_error": float(np.max(np.abs(flat))),
        "all_sizes_median_abs_error": float(np.median(np.abs(every))),
        "better_than_flat": bool(np.median(np.abs(errors)) < np.median(np.abs(flat))),
    }


def validate(cases: list[dict], metric: str) -> dict:
    """The calibrated widening (all collections) and its held-out validation at 2x and 4x."""
    two = [c for c in cases if c["metric"] == metric and c["label"] == "2x"]
    folds = {name: calibrate([c for c in two if c["collection"] != name]) for name in COLLECTIONS}
    setup = "its judged documents and half of the others" if METRICS[metric] else "a random half of it"
    return {
        **summary(cases, metric, "2x", folds),
        "setup": setup,
        "widen": calibrate(two),
        "farther": summary(cases, metric, "4x", folds),
    }


def verdict(metric: str, v: dict) -> list[str]:
    held = ", ".join(f"{n} {c:.0%}" for n, c in v["coverage_by_collection"].items())
    passed = v["loco_coverage"] >= MIN_COVERAGE
    lines = [
        f"**{metric}**: with each collection held out and the widening calibrated on the other two, the interval held "
        f"the measured drop in {v['loco_coverage']:.0%} of the {v['extrapolation']} cases ({held}; bar "
        f"{MIN_COVERAGE:.0%}: {'met' if passed else 'NOT met'}); its median width was {v['median_width']:.3f}. "
        f"Calibrated on all {len(COLLECTIONS)} collections (the smallest factor, at least 1, whose intervals hold "
        f"{CALIBRATION_COVERAGE:.0%} of the 2x cases), the widening `--growth` uses for {metric} is {v['widen']:.2f}.",
        "",
    ]
    if v["better_than_flat"]:
        lines.append(
            f"The projected value was closer to the measured drop than assuming no growth (median error "
            f"{v['median_abs_error']:.4f} against {v['flat_median_abs_error']:.4f})."
        )
    else:
        lines.append(
            f"The projected value was **no better than assuming no growth** (median error "
            f"{v['median_abs_error']:.4f} against {v['flat_median_abs_error']:.4f}): `--growth` says so in every "
            "output, the interval is the message, and the recommendation does not use the projection."
        )
    f = v["farther"]
    lines += [
        "",
        f"Farther ({f['extrapolation']}, a quarter of the unjudged documents, the widening from the other "
        f"collections): the interval held {f['loco_coverage']:.0%}, median error {f['median_abs_error']:.4f} against "
        f"{f['flat_median_abs_error']:.4f} for assuming no growth.",
    ]
    return lines


def case_table(cases: list[dict], results: dict[str, dict]) -> list[str]:
    """Per (metric, collection, model, dim) at 2x: means over the user corpora and how many intervals held."""
    lines = [
        "| metric | collection | model | dim | user corpus → whole | measured drop on the whole corpus | "
        "projected (mean) | intervals holding it | no growth (mean) |",
        "|---|---|---|---:|---|---:|---:|---:|---:|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for c in cases:
        if c["label"] == "2x":
            groups.setdefault((c["metric"], c["collection"], c["model"], c["dim"]), []).append(c)
    for (metric, name, model, dim), group in groups.items():
        widen = results[metric]["widen_by_collection"][name]
        held = sum(lo <= c["measured"] <= hi for c in group for lo, hi in [_interval(c, widen)])
        lines.append(
            f"| {metric} | {name} | {model} | {dim} | {group[0]['sizes'][-1]:,} → {group[0]['n_docs']:,} | "
            f"{group[0]['measured']:.3f} | {np.mean([c['projected'] for c in group]):.3f} | {held} of {len(group)} | "
            f"{np.mean([c['flat'] for c in group]):.3f} |"
        )
    return lines


def main() -> None:
    cases = measure()
    results = {metric: validate(cases, metric) for metric in METRICS}
    lines = [
        START,
        "",
        f"Generated by `scripts/make_growth_validation.py`: {len(COLLECTIONS)} collections ({', '.join(COLLECTIONS)}) "
        f"x {len(MODELS)} models, {HALVES} user corpora each, {SEEDS} seeds, every swept dim below full "
        f"({results[next(iter(METRICS))]['cases']} cases per metric and extrapolation).",
        "",
        "| metric | user corpus | projected to the whole corpus | cases | interval held, each collection held out "
        "| median width | median abs error: line on the 3 largest sizes | line on all 5 sizes | no growth |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for metric, v in results.items():
        for s, share in ((v, "1/2"), (v["farther"], "1/4")):
            user = f"judged + {share} of the rest" if METRICS[metric] else f"{share} of the corpus"
            lines.append(
                f"| {metric} | {user} | {s['extrapolation']} | {s['cases']} | {s['loco_coverage']:.0%} | "
                f"{s['median_width']:.3f} | {s['median_abs_error']:.4f} | {s['all_sizes_median_abs_error']:.4f} | "
                f"{s['flat_median_abs_error']:.4f} |"
            )
    for metric, v in results.items():
        lines += ["", *verdict(metric, v)]
    lines += [
        "",
        "Nothing here validates an extrapolation of 100x or 1,000x, and three collections say little about how a "
        "fourth will behave: read a projection that far as a trend, with its interval.",
        "",
        "### Every dim (the 2x check; means over the user corpora)",
        "",
        *case_table(cases, results),
        "",
        END,
    ]
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC}: no {START} ... {END} block")
    DOC.write_text(pattern.sub(lambda _: "\n".join(lines), text), encoding="utf-8")
    document = {
        "collections": ", ".join(COLLECTIONS),
        "n_collections": len(COLLECTIONS),
        "models": len(MODELS),
        "largest_validated": max(v["farther"]["largest_ratio"] for v in results.values()),
        "by_metric": results,
    }
    SUMMARY.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {DOC} and {SUMMARY}")


if __name__ == "__main__":
    main()
