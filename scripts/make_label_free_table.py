"""How far the label-free numbers can be trusted: on every shared collection with both models, the label-free
measures (overlap@10, shortlist_recall@100, rbo@100) next to the qrels measure (nDCG@10) at every dim.

    PYTHONPATH=. .venv/bin/python scripts/make_label_free_table.py   # rewrites the block between the markers

Sweeps ../shared/datasets/{scifact,cranfield,cacm} with the precomputed all-MiniLM-L6-v2 and EmbeddingGemma-300m
vectors through mrl-eval's own sweep (the same per-query functions the CLI uses), then writes into
docs/label-free.md: the per-dim table; the correlation between each label-free measure and the nDCG@10 drop across
dims and collections (Pearson and Spearman, scipy), with saturated points (a mean of fidelity.SATURATED or more)
left out and counted; and the reading of overlap@10 into the nDCG@10 drop that the label-free mode prints
(evaluate/overlap_reading.py), with its check on a held-out collection. It also writes the curves that reading is
made from into mrl_eval/evaluate/overlap_calibration.json. No number in either is typed by hand.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from mrl_eval.evaluate.fidelity import SATURATED
from mrl_eval.evaluate.overlap_reading import Curve, read, widening
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.pipeline.run import run
from mrl_eval.pipeline.settings import DataSettings, ModelSettings, SweepConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MRL_EVAL_SHARED", ROOT.parent / "shared")) / "datasets"  # a worktree: set it
DOC = ROOT / "docs" / "label-free.md"
CALIBRATION = ROOT / "mrl_eval" / "evaluate" / "overlap_calibration.json"
COLLECTIONS = ("scifact", "cranfield", "cacm")
MODELS = {"all-minilm-l6-v2": "16,32,64,96,128,192,256", "embeddinggemma-300m": "32,64,96,128,192,256,384,512"}
METRICS = ("ndcg@10", "overlap@10", "shortlist_recall@100", "rbo@100")
FREE = METRICS[1:]
LEVELS = tuple(round(0.9 - 0.05 * i, 2) for i in range(17))  # overlap@10 0.90, 0.85, .., 0.10
START, END = "<!-- label-free-table:start -->", "<!-- label-free-table:end -->"


def rows() -> list[dict]:
    out = []
    for name in COLLECTIONS:
        for model, dims in MODELS.items():
            folder = SHARED / name
            config = SweepConfig(
                data=DataSettings(folder=folder),
                model=ModelSettings(embeddings=folder / "embeddings" / model),
                dims=dims,
                metrics=METRICS,
                stats=StatsSettings(resamples=1000),
            )
            result = run(config).sweep
            full = next(r for r in result.results if r.dim == result.full_dim)
            for r in result.results:
                if r.dim == result.full_dim:
                    continue
                stats = r.stats["ndcg@10"]
                out.append(
                    {
                        "collection": name,
                        "model": model,
                        "dim": r.dim,
                        "full_dim": result.full_dim,
                        "queries": result.queries_evaluated,
                        "drop": full.metrics["ndcg@10"] - r.metrics["ndcg@10"],
                        "drop_ci": (-stats.delta_ci[1], -stats.delta_ci[0]),
                        **{m: r.metrics[m] for m in FREE},
                    }
                )
            print(f"{name} {model}: done", flush=True)
    return out


def curves(data: list[dict]) -> list[Curve]:
    """One curve per (collection, model): the nDCG@10 drop against overlap@10 over its dims."""
    out = []
    for name in COLLECTIONS:
        for model in MODELS:
            points = sorted(
                (r["overlap@10"], r["drop"]) for r in data if (r["collection"], r["model"]) == (name, model)
            )
            out.append(Curve(name, model, tuple(o for o, _ in points), tuple(d for _, d in points)))
    return out


def correlations(data: list[dict]) -> list[str]:
    from scipy.stats import pearsonr, spearmanr

    lines = [
        f"| label-free measure | Pearson r with the nDCG@10 drop | Spearman ρ | points used | saturated points left "
        f"out (a mean of {SATURATED} or more) |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in FREE:
        used = [r for r in data if r[m] < SATURATED]
        x, drop = np.array([r[m] for r in used]), np.array([r["drop"] for r in used])
        lines.append(
            f"| {m} | {pearsonr(x, drop).statistic:+.3f} | {spearmanr(x, drop).statistic:+.3f} | {len(used)} | "
            f"{len(data) - len(used)} |"
        )
    return lines


def readings(all_curves: list[Curve]) -> list[str]:
    lines = [
        "| overlap@10 | (collection, model) curves reaching it | nDCG@10 drop on them | the reading mrl-eval prints |",
        "|---:|---:|---|---|",
    ]
    widen = widening(all_curves)
    for level in LEVELS:
        r = read(all_curves, level, widen)
        if r is None:
            lines.append(f"| {level:.2f} | — | — | no reading: curves of fewer than two collections reach it |")
        else:
            lines.append(
                f"| {level:.2f} | {r.curves} | {r.seen_low:+.3f} to {r.seen_high:+.3f} | {r.low:+.3f} to "
                f"{r.high:+.3f} |"
            )
    return lines


def held_out(all_curves: list[Curve]) -> tuple[list[str], dict]:
    """The reading built from all collections but one (curves and widening), checked on the one left out."""
    lines = [
        "| collection left out | its points with a reading | inside the reading | outside: overlap@10 → drop, "
        "reading |",
        "|---|---:|---:|---|",
    ]
    result = {}
    for held in COLLECTIONS:
        others = [c for c in all_curves if c.collection != held]
        widen = widening(others)
        inside, outside, total = 0, [], 0
        for c in (c for c in all_curves if c.collection == held):
            for o, d in zip(c.overlap, c.drop):
                r = read(others, o, widen)
                if r is None:
                    continue
                total += 1
                if r.low <= d <= r.high:
                    inside += 1
                else:
                    outside.append(f"{o:.2f} → {d:+.3f}, {r.low:+.3f} to {r.high:+.3f}")
        result[held] = {"points": total, "inside": inside}
        lines.append(f"| {held} | {total} | {inside} | {'; '.join(outside) or '—'} |")
    return lines, result


def per_dim(data: list[dict]) -> list[str]:
    lines = [
        "| collection | model | dim | queries | nDCG@10 drop [95% CI] | overlap@10 | shortlist_recall@100 | rbo@100 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data:
        shortlist = f"{r['shortlist_recall@100']:.3f}" + (
            " (saturated)" if r["shortlist_recall@100"] >= SATURATED else ""
        )
        lines.append(
            f"| {r['collection']} | {r['model']} | {r['dim']} of {r['full_dim']} | {r['queries']} | {r['drop']:.3f} "
            f"[{r['drop_ci'][0]:.3f}, {r['drop_ci'][1]:.3f}] | {r['overlap@10']:.3f} | {shortlist} | "
            f"{r['rbo@100']:.3f} |"
        )
    return lines


def main() -> None:
    data = rows()
    all_curves = curves(data)
    below, above = widening(all_curves)
    check, result = held_out(all_curves)
    inside, points = sum(r["inside"] for r in result.values()), sum(r["points"] for r in result.values())
    gemma128 = next(
        r for r in data if (r["collection"], r["model"], r["dim"]) == ("scifact", "embeddinggemma-300m", 128)
    )
    n = len(COLLECTIONS)
    block = [
        START,
        "",
        f"Generated by `scripts/make_label_free_table.py` from {n} collections ({', '.join(COLLECTIONS)}) x "
        f"{len(MODELS)} models ({len(data)} (collection, model, dim) points, every dim below full).",
        "",
        f"For scale: on SciFact with EmbeddingGemma-300m, 128 dims keep nDCG@10 within {gemma128['drop']:.3f} of full "
        f"size, while only {gemma128['overlap@10']:.0%} of the full-size top 10 survives at 128 dims "
        f"(shortlist_recall@100 {gemma128['shortlist_recall@100']:.3f}).",
        "",
        f"### How the label-free measures tracked the nDCG@10 drop on these {n} collections",
        "",
        *correlations(data),
        "",
        f"### Reading overlap@10 into the nDCG@10 drop ({n} collections)",
        "",
        f"The spread of the {len(all_curves)} (collection, model) curves at each overlap, and the reading the "
        f"label-free mode prints: the spread widened by {below:.3f} below and {above:.3f} above per unit of "
        "(1 - overlap@10), the furthest one collection's points fell outside the other collections' spread.",
        "",
        *readings(all_curves),
        "",
        "### The reading on a collection it was not built from",
        "",
        f"Built from {n - 1} collections (their curves and their own widening) and checked on the one left out, the "
        f"reading held {inside} of {points} points ({inside / points:.0%}).",
        "",
        *check,
        "",
        "### Every point",
        "",
        *per_dim(data),
        "",
        END,
    ]
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC}: no {START} ... {END} block")
    DOC.write_text(pattern.sub(lambda _: "\n".join(block), text), encoding="utf-8")
    document = {
        "about": "nDCG@10 drop (full dim minus the dim) against overlap@10 per (collection, model), written by "
        "scripts/make_label_free_table.py; read by mrl_eval/evaluate/overlap_reading.py",
        "curves": [
            {"collection": c.collection, "model": c.model, "overlap": list(c.overlap), "drop": list(c.drop)}
            for c in all_curves
        ],
        "held_out": result,
    }
    CALIBRATION.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {DOC} and {CALIBRATION}")


if __name__ == "__main__":
    main()
