"""Results to JSON / CSV / Markdown (plus the plot), TREC run files, and back from a saved JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from mrl_eval import __version__
from mrl_eval.errors import MrlEvalError
from mrl_eval.recommend import Recommendation
from mrl_eval.sweep import DimResult, SweepRun

SCHEMA = 1
_UMASK = os.umask(0)
os.umask(_UMASK)


def build_document(run: SweepRun, command: str, recommendation: Recommendation | None = None) -> dict:
    """The full machine-readable result: settings, model, data hashes, per-dim and per-query metrics."""
    sweep = run.sweep
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(run.config).items()}
    settings["metrics"] = list(run.config.metrics)
    doc = {
        "schema": SCHEMA,
        "mrl_eval_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "settings": settings,
        "data": {"name": run.data_name, **run.data},
        "model": run.model,
        "full_dim": sweep.full_dim,
        "n_docs": len(sweep.doc_ids),
        "queries_evaluated": sweep.queries_evaluated,
        "queries_skipped": sweep.queries_skipped,
        "embedded_now": run.embedded_now,
        "results": [asdict(r) for r in sweep.results],
        "per_query": {str(d): sweep.per_query[d] for d in sorted(sweep.per_query)},
    }
    if recommendation is not None:
        doc["recommendation"] = recommendation.to_dict()
    return doc


def read_document(path: Path) -> dict:
    """A saved run (`--from`), checked enough that recommend can trust it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise MrlEvalError(f"{path}: file not found; pass a JSON report written by mrl-eval sweep") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MrlEvalError(f"{path}: not a readable JSON report ({err}); rerun mrl-eval sweep to make one") from err
    missing = (
        [key for key in ("results", "full_dim", "n_docs", "data", "model", "queries_evaluated") if key not in doc]
        if isinstance(doc, dict)
        else ["results"]
    )
    if missing or not isinstance(doc["results"], list) or not doc["results"]:
        what = f"missing {', '.join(missing)}" if missing else "no results"
        raise MrlEvalError(f"{path}: not an mrl-eval report ({what}); rerun mrl-eval sweep to make one")
    return doc


def results_from_document(doc: dict, path: Path) -> list[DimResult]:
    try:
        results = [
            DimResult(int(r["dim"]), float(r["fraction"]), int(r["bytes_per_vector"]), dict(r["metrics"]))
            for r in doc["results"]
        ]
        full_dim = int(doc["full_dim"])
    except (KeyError, TypeError, ValueError) as err:
        raise MrlEvalError(f"{path}: a results entry is incomplete ({err}); rerun mrl-eval sweep") from err
    if full_dim not in {r.dim for r in results}:
        raise MrlEvalError(f"{path}: no result at the full dim {full_dim}; rerun mrl-eval sweep")
    return results


def report_stem(doc: dict) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{doc['data']['name']}__{Path(doc['model']['name']).name}")
    return slug.strip("-").lower()


def to_csv(doc: dict) -> str:
    metric_names = list(doc["results"][0]["metrics"]) if doc["results"] else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dim", "fraction", "bytes_per_vector", *metric_names])
    for r in doc["results"]:
        writer.writerow(
            [
                r["dim"],
                r["fraction"],
                r["bytes_per_vector"],
                *(f"{r['metrics'][m]:.6f}" for m in metric_names),
            ]
        )
    return buf.getvalue()


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def explain(rec: dict) -> list[str]:
    """The recommendation in sentences, shared by the terminal and the Markdown report."""
    metric, bar = rec["metric"], rec["threshold"]
    if rec["dim"] is None:
        return [
            f"No swept dim meets the bar ({rec['rule']}: {metric} >= {bar:.4f}); "
            f"even the full dim {rec['full_dim']} scores {rec['full_value']:.4f}."
        ]
    s = rec["storage"]
    lines = [f"Recommended dim: {rec['dim']} ({metric} = {rec['value']:.4f} >= bar {bar:.4f}; rule: {rec['rule']})."]
    if rec["smaller_dim"] is not None:
        lines.append(
            f"The next smaller swept dim, {rec['smaller_dim']}, scores {rec['smaller_value']:.4f}: below the bar."
        )
    else:
        lines.append("It is the smallest dim swept.")
    lines.append(
        f"Full dim {rec['full_dim']} scores {rec['full_value']:.4f}. Storage (float32): {s['bytes_per_vector']} bytes/vector "
        f"instead of {s['full_bytes_per_vector']} ({s['saved_fraction']:.0%} saved): "
        + ", ".join(
            f"{human_bytes(s['bytes'][name])} vs {human_bytes(s['full_bytes'][name])} for "
            + (f"this corpus ({s['n_docs']:,} docs)" if name == "corpus" else f"{name} docs")
            for name in ("corpus", "1M", "10M")
        )
        + "."
    )
    return lines


def to_markdown(doc: dict) -> str:
    metric_names = list(doc["results"][0]["metrics"])
    lines = [
        f"# mrl-eval {doc['command']}: {doc['data']['name']} with {doc['model']['name']}",
        "",
        f"- full dim: {doc['full_dim']}; documents: {doc['n_docs']:,}; queries evaluated: {doc['queries_evaluated']} "
        f"(skipped, no judgments: {doc['queries_skipped']})",
        f"- model: {doc['model']['provider']} `{doc['model']['name']}` ({doc['model']['fingerprint'][:23]})",
        f"- mrl-eval {doc['mrl_eval_version']}, {doc['created']}",
        "",
        "| dim | fraction | bytes/vector | " + " | ".join(metric_names) + " |",
        "|---:|---:|---:|" + "---:|" * len(metric_names),
    ]
    for r in doc["results"]:
        cells = " | ".join(f"{r['metrics'][m]:.4f}" for m in metric_names)
        lines.append(f"| {r['dim']} | {r['fraction']:.0%} | {r['bytes_per_vector']} | {cells} |")
    if "recommendation" in doc:
        lines += ["", "## Recommendation", "", *explain(doc["recommendation"])]
    lines += ["", f"![trade-off]({report_stem(doc)}.png)", ""]
    return "\n".join(lines)


class _AtomicFiles:
    """Write several files to temporary names, then rename them all into place; on error remove them all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pending: list[tuple[str, Path]] = []

    def path_for(self, name: str) -> Path:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=Path(name).suffix)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; reports should read like any other file
        self.pending.append((tmp, self.folder / name))
        return Path(tmp)

    def write_text(self, name: str, text: str) -> None:
        self.path_for(name).write_text(text, encoding="utf-8")

    def commit(self) -> list[Path]:
        for tmp, final in self.pending:
            os.replace(tmp, final)
        return [final for _, final in self.pending]

    def discard(self) -> None:
        for tmp, _ in self.pending:
            Path(tmp).unlink(missing_ok=True)


def write_reports(doc: dict, out_dir: Path, plot_metric: str | None = None) -> list[Path]:
    """JSON, CSV, Markdown, PNG and SVG into `out_dir`, all or nothing."""
    from mrl_eval.plot import plot_tradeoff

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MrlEvalError(f"cannot create the report folder {out_dir} ({err}); pass --out DIR") from err
    stem = report_stem(doc)
    files = _AtomicFiles(out_dir)
    try:
        files.write_text(f"{stem}.json", json.dumps(doc, indent=1) + "\n")
        files.write_text(f"{stem}.csv", to_csv(doc))
        files.write_text(f"{stem}.md", to_markdown(doc))
        plot_tradeoff(doc, [files.path_for(f"{stem}.png"), files.path_for(f"{stem}.svg")], plot_metric)
        return files.commit()
    except OSError as err:
        files.discard()
        raise MrlEvalError(f"cannot write reports to {out_dir} ({err}); pass --out DIR") from err
    except BaseException:
        files.discard()
        raise


def write_trec_runs(run: SweepRun, folder: Path) -> list[Path]:
    """One TREC run file per dim (`qid Q0 docid rank score tag`), for trec_eval, ranx or ir_measures."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MrlEvalError(f"cannot create {folder} ({err}); pass another --save-runs DIR") from err
    sweep = run.sweep
    files = _AtomicFiles(folder)
    try:
        for dim, ranking in sweep.rankings.items():
            tag = f"mrl-eval-d{dim}"
            with files.path_for(f"run.d{dim}.trec").open("w", encoding="utf-8") as fh:
                for row, qid in enumerate(sweep.query_ids):
                    rank = 0
                    for doc_index, score in zip(ranking.doc_index[row], ranking.score[row]):
                        if doc_index < 0:
                            continue
                        rank += 1
                        fh.write(f"{qid} Q0 {sweep.doc_ids[doc_index]} {rank} {float(score)!r} {tag}\n")
        return files.commit()
    except BaseException:
        files.discard()
        raise
