"""Validate `--growth` before anyone trusts it: fit on small subsamples, predict the full corpus, measure the error.

    PYTHONPATH=. .venv/bin/python scripts/make_growth_validation.py

On ../shared/datasets/{scifact,cranfield,cacm} with both models' precomputed vectors, every dim is scored on the
nested subsamples `--growth` uses (every judged document kept, the rest at 1/16 .. 1, 5 seeds), with mrl-eval's own
functions (growth.score_subsamples, growth.fit_growth). Then, per (collection, model, dim below full):

- log-linear (what `--growth` ships): fit the drop (nDCG@10, and label-free overlap@10) against ln(size) on the subsamples up to 1/2 (a 2x
  extrapolation) or up to 1/4 (4x) and predict the drop on the full corpus, with its bootstrap interval;
- flat (the baseline a user has without `--growth`): predict the drop measured at the largest fitted subsample.

Writes the measured errors into docs/growth.md (between the markers) and the summary the CLI quotes into
mrl_eval/evaluate/growth_validation.json. No number in either is typed by hand.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.vectors import load_vectors
from mrl_eval.evaluate.dims import resolve_dims
from mrl_eval.evaluate.growth import FRACTIONS, GrowthSettings, fit_growth, score_subsamples

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MRL_EVAL_SHARED", ROOT.parent / "shared")) / "datasets"  # a worktree: set it
DOC = ROOT / "docs" / "growth.md"
SUMMARY = ROOT / "mrl_eval" / "evaluate" / "growth_validation.json"
COLLECTIONS = ("scifact", "cranfield", "cacm")
MODELS = {"all-minilm-l6-v2": "32,64,128,192", "embeddinggemma-300m": "32,64,128,256,384"}
METRICS = ("ndcg@10", "overlap@10")  # a qrels metric and a label-free one
SEEDS = 5
FITS = {"2x": FRACTIONS[:4], "4x": FRACTIONS[:3]}  # fit on the sizes up to 1/2 (or 1/4), predict the full corpus
# Shipped when, on the 2x validation, its median absolute error is below the flat baseline's and its interval holds
# the measured drop in at least this share of the cases (fixed before the numbers were seen).
MIN_COVERAGE = 0.8
START, END = "<!-- growth-validation:start -->", "<!-- growth-validation:end -->"


def measure() -> list[dict]:
    cases = []
    for name in COLLECTIONS:
        for model, dim_spec in MODELS.items():
            folder = SHARED / name
            collection = load_collection(folder, require_texts=False)
            vectors = load_vectors(folder / "embeddings" / model)
            dims = resolve_dims(dim_spec, vectors.full_dim)
            settings = GrowthSettings(seeds=SEEDS).check()
            values, sizes, query_ids = score_subsamples(vectors, collection.qrels, dims, list(METRICS), settings)
            for metric in METRICS:
                cases += _cases(
                    values[metric],
                    sizes,
                    dims,
                    settings=settings,
                    metric=metric,
                    n_queries=len(query_ids),
                    where=(name, model),
                )
            print(f"{name} {model}: done", flush=True)
    return cases


def _cases(
    values: np.ndarray,
    sizes: list[int],
    dims: list[int],
    *,
    settings: GrowthSettings,
    metric: str,
    n_queries: int,
    where: tuple[str, str],
) -> list[dict]:
    """One case per (fit, dim below full) of one collection and model."""
    drop = values[:, :, -1:, :] - values  # (seeds, sizes, dims, queries)
    full_drop = drop[:, -1].mean(axis=(0, 2))  # the full corpus: the same for every seed
    out = []
    for label, fit_fractions in FITS.items():
        fit_settings = replace(settings, fit_fractions=fit_fractions, scale=f"{sizes[-1]}")
        fit = fit_growth(values, sizes, dims, fit_settings, metric=metric, n_queries=n_queries)
        last = len(fit_fractions) - 1
        for i, d in enumerate(fit.dims[:-1]):
            p = next(iter(d.projection.values()))
            out.append(
                {
                    "collection": where[0],
                    "model": where[1],
                    "metric": metric,
                    "dim": d.dim,
                    "fit": label,
                    "sizes": sizes,
                    "measured": float(full_drop[i]),
                    "first": float(drop[:, 0, i].mean()),
                    "loglinear": float(p["drop"]),
                    "ci": [float(x) for x in p["drop_ci"]],
                    "flat": float(drop[:, last, i].mean()),
                }
            )
    return out


def summary(cases: list[dict], metric: str, label: str) -> dict:
    chosen = [c for c in cases if c["fit"] == label and c["metric"] == metric]
    errors = np.array([c["loglinear"] - c["measured"] for c in chosen])
    flat = np.array([c["flat"] - c["measured"] for c in chosen])
    covered = np.mean([c["ci"][0] <= c["measured"] <= c["ci"][1] for c in chosen])
    return {
        "extrapolation": label,
        "cases": len(chosen),
        "median_abs_error": float(np.median(np.abs(errors))),
        "max_abs_error": float(np.max(np.abs(errors))),
        "mean_signed_error": float(np.mean(errors)),
        "flat_median_abs_error": float(np.median(np.abs(flat))),
        "flat_max_abs_error": float(np.max(np.abs(flat))),
        "coverage": float(covered),
    }


def verdict(metric: str, two: dict, four: dict) -> tuple[bool, list[str]]:
    ships = two["median_abs_error"] < two["flat_median_abs_error"] and two["coverage"] >= MIN_COVERAGE
    first = (
        f"**{metric}: the log-linear projection ships**: on the 2x validation its median error is below the flat "
        f"baseline's and its interval held the measured drop in {two['coverage']:.0%} of cases (bar: "
        f"{MIN_COVERAGE:.0%})."
        if ships
        else f"**{metric}: the log-linear projection is NOT shipped**: on the 2x validation it did not beat the flat "
        f"baseline's median error, or its interval held the measured drop in only {two['coverage']:.0%} of cases "
        f"(bar: {MIN_COVERAGE:.0%}). `--growth` shows the measured curve and says the projection is unvalidated."
    )
    farther = (
        f"Farther out: projected 4x (fitted on 1/16 .. 1/4), its median error is {four['median_abs_error']:.4f} "
        f"against {four['flat_median_abs_error']:.4f} for assuming no growth, and its largest error "
        f"{four['max_abs_error']:.4f} against {four['flat_max_abs_error']:.4f}"
        + (
            ": at 4x it is no better than assuming no growth."
            if four["median_abs_error"] >= four["flat_median_abs_error"]
            else "."
        )
        + f" Mean signed error {two['mean_signed_error']:+.4f} at 2x, {four['mean_signed_error']:+.4f} at 4x "
        "(positive: the line overstates the growth of the drop)."
    )
    return ships, [first, "", farther]


def main() -> None:
    cases = measure()
    rows = {m: {label: summary(cases, m, label) for label in FITS} for m in METRICS}
    lines = [
        START,
        "",
        f"Generated by `scripts/make_growth_validation.py`: {len(COLLECTIONS)} collections x {len(MODELS)} models, "
        f"{SEEDS} seeds, the drop from the full dim of {' and '.join(METRICS)}, every swept dim below full "
        f"({rows[METRICS[0]]['2x']['cases']} cases per metric).",
        "",
        "| metric | fitted on | extrapolation to the full corpus | cases | log-linear: median abs error | max abs error "
        "| mean signed error | 95% interval holds the measured drop | flat (no growth): median abs error | max |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for metric, by_fit in rows.items():
        for label, s in by_fit.items():
            upto = "1/16 .. 1/2" if label == "2x" else "1/16 .. 1/4"
            lines.append(
                f"| {metric} | {upto} | {label} | {s['cases']} | {s['median_abs_error']:.4f} | "
                f"{s['max_abs_error']:.4f} | {s['mean_signed_error']:+.4f} | {s['coverage']:.0%} | "
                f"{s['flat_median_abs_error']:.4f} | {s['flat_max_abs_error']:.4f} |"
            )
    summaries = {}
    for metric, by_fit in rows.items():
        ships, text = verdict(metric, by_fit["2x"], by_fit["4x"])
        lines += ["", *text]
        summaries[metric] = {**by_fit["2x"], "ships": bool(ships), "farther": by_fit["4x"]}
    lines += [
        "",
        "Nothing here validates an extrapolation of 100x or 1,000x: read such a projection as a trend.",
        "",
        "### Every case (fit on 1/16 .. 1/2)",
        "",
        "| metric | collection | model | dim | documents: smallest → full | drop at smallest | measured drop at full | "
        "log-linear prediction [95% interval] | flat prediction |",
        "|---|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for c in cases:
        if c["fit"] != "2x":
            continue
        lines.append(
            f"| {c['metric']} | {c['collection']} | {c['model']} | {c['dim']} | {c['sizes'][0]:,} → "
            f"{c['sizes'][-1]:,} | {c['first']:.3f} | {c['measured']:.3f} | {c['loglinear']:.3f} "
            f"[{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] | {c['flat']:.3f} |"
        )
    lines += ["", END]
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC}: no {START} ... {END} block")
    DOC.write_text(pattern.sub(lambda _: "\n".join(lines), text), encoding="utf-8")
    collections = ", ".join(COLLECTIONS) + f"; {len(MODELS)} models"
    document = {"collections": collections, "by_metric": summaries}
    SUMMARY.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {DOC} and {SUMMARY}")


if __name__ == "__main__":
    main()
