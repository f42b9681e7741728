"""Results as text for people: the recommendation in sentences, the CSV tables and the Markdown report."""

from __future__ import annotations

import csv
import io

STAT_COLUMNS = ("ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high", "p_value")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _stat_cells(stats: dict | None) -> list[float | str]:
    if not stats:
        return [""] * len(STAT_COLUMNS)
    return [*stats["ci"], stats["delta"], *stats["delta_ci"], stats["p_value"]]


def to_csv(doc: dict) -> str:
    from mrl_eval.methods.grid import cell_label

    """One row per cell: the float32 prefix dims first (the sweep), then any other method x precision cells of the
    grid; the mean of each metric, then its CI and paired comparison with the full dim at float32."""
    metric_names = list(doc["results"][0]["metrics"])
    has_stats = bool(doc["results"][0].get("stats"))
    grid = doc.get("grid")
    latency = {c["label"]: c.get("latency_ms") for c in grid["cells"]} if grid else {}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["dim", "precision", "method", "fraction", "bytes_per_vector"]
    for m in metric_names:
        header += [m] + ([f"{m}_{c}" for c in STAT_COLUMNS] if has_stats else [])
    writer.writerow(header + (["latency_ms"] if grid else []))
    rows = [
        {**r, "precision": "float32", "method": "prefix", "label": cell_label("prefix", r["dim"], "float32")}
        for r in doc["results"]
    ]
    if grid:
        rows += [c for c in grid["cells"] if not (c["method"] == "prefix" and c["precision"] == "float32")]
    for r in rows:
        row: list = [r["dim"], r["precision"], r["method"], r["fraction"], r["bytes_per_vector"]]
        for m in metric_names:
            row.append(r["metrics"][m])
            if has_stats:
                row += _stat_cells(r.get("stats", {}).get(m))
        if grid:
            row.append(latency.get(r["label"]))
        writer.writerow([f"{v:.6f}" if isinstance(v, float) else ("" if v is None else v) for v in row])
    return buf.getvalue()


def grid_tables(doc: dict, primary: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """The grid, PCA and two-stage results as (title, header, rows) of text, shared by the terminal, Markdown and
    HTML reports."""
    grid = doc.get("grid")
    if not grid:
        return []
    tables = []
    by_label = {c["label"]: c for c in grid["cells"]}
    precisions, methods = grid["precisions"], grid["methods"]
    dims = sorted({c["dim"] for c in grid["cells"]})
    header = ["method", "dim", *precisions]
    rows = []
    for method in methods:
        for dim in dims:
            cells = [by_label.get(f"{method}:{dim}:{p}") for p in precisions]
            rows.append(
                [method, str(dim)]
                + [f"{c['metrics'][primary]:.4f} ({c['bytes_per_vector']:,} B)" if c else "" for c in cells]
            )
    tables.append((f"{primary} (bytes per vector) for every method, dim and precision", header, rows))
    scales = grid["scales"]
    scale_names = list(scales)
    cost_header = [
        "cell",
        primary,
        "bytes/vec",
        *(f"storage, {'this corpus' if n == 'corpus' else n} ({scales[n]:,} docs)" for n in scale_names),
        "scan ms/query (here)",
    ]
    cost_rows = [
        [
            c["label"],
            f"{c['metrics'][primary]:.4f}",
            f"{c['bytes_per_vector']:,}",
            *(human_bytes(c["storage_bytes"][n]) for n in scale_names),
            f"{c['latency_ms']:.3f}" if c.get("latency_ms") is not None else "",
        ]
        for c in sorted(grid["cells"], key=lambda c: (c["bytes_per_vector"], -c["metrics"][primary]))
        if c["label"] in pareto_labels(grid["cells"], primary)
    ]
    tables.append(
        (
            "Cost of the Pareto-optimal cells (no other cell is both smaller and better); scan latency: "
            + grid["latency"]["what"],
            cost_header,
            cost_rows,
        )
    )
    two = doc.get("two_stage")
    if two:
        header = [
            "first stage",
            "shortlist",
            primary,
            "Δ vs full",
            "shortlist recall@10",
            "first-stage index",
            "full vectors fetched/query",
        ]
        rows = []
        for r in two["rows"]:
            st = (r.get("stats") or {}).get(primary)
            rows.append(
                [
                    r["first_stage"],
                    str(r["shortlist"]),
                    f"{r['metrics'][primary]:.4f}",
                    f"{st['delta']:+.4f}" if st else "",
                    f"{r['shortlist_recall']:.3f}",
                    human_bytes(r["cost"]["first_stage_index_bytes"]),
                    f"{r['cost']['full_vectors_fetched_per_query']:,}",
                ]
            )
        tables.append(("Two-stage: shortlist with the first stage, rerank with full float32 vectors", header, rows))
    return tables


def pareto_labels(cells: list[dict], metric: str) -> set[str]:
    """Cells that no other cell beats on both bytes per vector (fewer) and the metric (higher)."""
    best = -1.0
    keep = set()
    for c in sorted(cells, key=lambda c: (c["bytes_per_vector"], -c["metrics"][metric])):
        if c["metrics"][metric] > best:
            keep.add(c["label"])
            best = c["metrics"][metric]
    return keep


def explain_grid(doc: dict) -> list[str]:
    """The PCA finding and the two-stage recommendation in sentences."""
    lines = []
    if "pca" in doc:
        fit = doc["pca"]["fit"]
        lines.append(doc["pca"]["safety"]["statement"])
        lines.append(f"PCA basis fitted on {fit['fit_on']} ({fit['n_fit']:,} of {fit['n_docs']:,} documents).")
    rec = (doc.get("two_stage") or {}).get("recommendation")
    if rec:
        if rec["first_stage"] is None:
            lines.append(f"Two-stage: no configuration meets the rule ({rec['rule']}; bar {rec['threshold']:.4f}).")
        else:
            c = rec["cost"]
            lines.append(
                f"Two-stage: the cheapest configuration that meets the rule is a {rec['first_stage']} first stage "
                f"with a shortlist of {rec['shortlist']} reranked at full size: {rec['metric']} {rec['value']:.4f} "
                f"(bar {rec['threshold']:.4f}), shortlist recall@10 {rec['shortlist_recall']:.3f}, a "
                f"{human_bytes(c['first_stage_index_bytes'])} first-stage index and {c['full_vectors_fetched_per_query']:,} "
                "full vectors fetched per query."
            )
    return lines


def losses_csv(doc: dict) -> str:
    """Every query that scores lower than at the full dim, for every dim, worst first."""
    losses = doc["losses"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    metric = losses["metric"]
    writer.writerow(
        ["dim", "query_id", f"{metric}_full", metric, "delta", f"relevant_lost_from_top{losses['k']}", "text"]
    )
    for dim, rows in losses["by_dim"].items():
        for r in rows:
            writer.writerow(
                [
                    dim,
                    r["query_id"],
                    f"{r['full']:.6f}",
                    f"{r['value']:.6f}",
                    f"{r['delta']:.6f}",
                    " ".join(r["lost_relevant"]),
                    r["text"],
                ]
            )
    return buf.getvalue()


def _ci(pair: list[float] | tuple[float, float]) -> str:
    return f"[{pair[0]:.4f}, {pair[1]:.4f}]"


def explain(rec: dict, confidence: float | None = None) -> list[str]:
    """The recommendation in sentences, shared by the terminal and the Markdown report."""
    metric, bar, kind = rec["metric"], rec["threshold"], rec.get("rule_kind", "point")
    level = f"{confidence:.0%} " if confidence else ""
    if rec["dim"] is None:
        return [
            f"No swept dim meets the rule ({rec['rule']}; bar {metric} {bar:.4f}); "
            f"the full dim {rec['full_dim']} scores {rec['full_value']:.4f}."
        ] + (["Warning: " + rec["warning"]] if rec.get("warning") else [])
    ev = rec.get("evidence", {})

    def numbers(key: object) -> str:
        e = ev.get(str(key), {})
        if "ci" not in e:
            return f"{e.get('value', 0):.4f}"
        return (
            f"{e['value']:.4f}, {level}CI {_ci(e['ci'])}, delta from full {e['delta']:+.4f} "
            f"{_ci(e['delta_ci'])}, p = {e['p_value']:.4f}"
        )

    why = {
        "point": f"mean {metric} >= bar {bar:.4f}",
        "lower-bound": f"lower ends of the {level}CIs: {rec['rule'].partition(': ')[2]}",
        "non-inferior": f"lower end of the {level}CI of the drop >= -{rec['full_value'] - bar:.4f} "
        f"(the drop is at most {rec['full_value'] - bar:.4f} with {level}confidence)",
    }[kind]
    if rec.get("label"):  # chosen among grid cells
        s = rec["storage"]
        by_bytes = rec.get("optimize") == "bytes"
        lines = [
            f"Recommended: {rec['method']} {rec['dim']} d at {rec['precision']}, {s['bytes_per_vector']:,} bytes/vector "
            f"({'the fewest bytes' if by_bytes else 'the smallest dim'} that meets the rule {kind}: {why}).",
            f"  {rec['label']}: {metric} {numbers(rec['label'])}",
        ]
        if rec.get("smaller_label"):
            nxt = "cheaper" if by_bytes else "smaller"
            lines.append(
                f"  {rec['smaller_label']} (next {nxt}, fails the rule): {metric} {numbers(rec['smaller_label'])}"
            )
        if rec["label"] != rec.get("full_label"):
            lines.append(f"  {rec['full_label']} (full): {metric} {rec['full_value']:.4f}")
        if rec.get("note"):
            lines.append("  " + rec["note"])
    else:
        lines = [
            f"Recommended dim: {rec['dim']} (rule {kind}: {why}).",
            f"  dim {rec['dim']}: {metric} {numbers(rec['dim'])}",
        ]
        if rec["smaller_dim"] is not None:
            lines.append(
                f"  dim {rec['smaller_dim']} (next smaller, fails the rule): {metric} {numbers(rec['smaller_dim'])}"
            )
        else:
            lines.append("  It is the smallest dim swept.")
        if rec["dim"] != rec["full_dim"]:
            lines.append(f"  dim {rec['full_dim']} (full): {metric} {rec['full_value']:.4f}")
    s = rec["storage"]
    lines.append(
        f"Storage ({rec.get('precision', 'float32')}): {s['bytes_per_vector']} bytes/vector instead of {s['full_bytes_per_vector']} "
        f"({s['saved_fraction']:.0%} saved): "
        + ", ".join(
            f"{human_bytes(s['bytes'][name])} vs {human_bytes(s['full_bytes'][name])} for "
            + (f"this corpus ({s['n_docs']:,} docs)" if name == "corpus" else f"{name} docs")
            for name in ("corpus", "1M", "10M")
        )
        + "."
    )
    if rec.get("warning"):
        lines.append("Warning: " + rec["warning"])
    return lines


def explain_holdout(h: dict) -> str:
    if h["dim"] is None:
        return (
            f"Held-out check: on {h['n_select']} queries chosen at random (seed {h['seed']}) nothing meets the "
            f"rule; the other {h['n_test']} were not needed."
        )
    verdict = "meets" if h["meets_rule_on_test"] else "does NOT meet"
    chosen = h["label"] if h.get("label") else f"dim {h['dim']}"
    return (
        f"Held-out check: chosen on {h['n_select']} random queries (seed {h['seed']}): {chosen} "
        f"({h['select_value']:.4f}). On the other {h['n_test']}: {h['test_value']:.4f} {_ci(h['test_ci'])}, "
        f"full dim {h['test_full_value']:.4f}; it {verdict} the rule there (bar {h['test_threshold']:.4f})."
    )


def to_markdown(doc: dict, stem: str, plots: bool = True) -> str:
    metric_names = list(doc["results"][0]["metrics"])
    stats = doc.get("statistics")
    lines = [
        f"# mrl-eval {doc['command']}: {doc['data']['name']} with {doc['model']['name']}",
        "",
        f"- full dim: {doc['full_dim']}; documents: {doc['n_docs']:,}; queries evaluated: {doc['queries_evaluated']} "
        f"(skipped, no judgments: {doc['queries_skipped']})",
        f"- model: {doc['model']['provider']} `{doc['model']['name']}` ({doc['model']['fingerprint'][:23]})",
    ]
    if stats:
        lines.append(
            f"- intervals: {stats['confidence']:.0%} {stats['interval']}, {stats['resamples']:,} resamples, "
            f"seed {stats['seed']}; p-values: {stats['test']}"
        )
    lines += [
        f"- mrl-eval {doc['mrl_eval_version']}, {doc['created']}",
        "",
        "| dim | fraction | bytes/vector | " + " | ".join(metric_names) + " |",
        "|---:|---:|---:|" + "---:|" * len(metric_names),
    ]
    for r in doc["results"]:
        cells = " | ".join(
            f"{r['metrics'][m]:.4f}" + (f" {_ci(r['stats'][m]['ci'])}" if r.get("stats") else "") for m in metric_names
        )
        lines.append(f"| {r['dim']} | {r['fraction']:.0%} | {r['bytes_per_vector']} | {cells} |")
    primary = doc.get("recommendation", {}).get("metric") or metric_names[0]
    if stats:
        lines += [
            "",
            f"## Paired comparison with the full dim ({primary})",
            "",
            "| dim | mean delta | CI | p-value |",
            "|---:|---:|---:|---:|",
        ]
        for r in doc["results"]:
            st = r["stats"][primary]
            lines.append(f"| {r['dim']} | {st['delta']:+.4f} | {_ci(st['delta_ci'])} | {st['p_value']:.4f} |")
    if "recommendation" in doc:
        lines += ["", "## Recommendation", "", *explain(doc["recommendation"], stats and stats["confidence"])]
        if "holdout" in doc:
            lines += ["", explain_holdout(doc["holdout"])]
    lines += ["", f"![trade-off]({stem}.png)" if plots else "", ""]
    for title, header, rows in grid_tables(doc, primary):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    if doc.get("grid"):
        lines += [
            *explain_grid(doc),
            "",
            f"![quality against bytes per vector]({stem}.pareto.png)" if plots else "",
            "",
        ]
    losses = doc.get("losses", {})
    if losses.get("by_dim"):
        lines += [
            f"## Queries that lose the most ({losses['metric']}; all of them in `{stem}.losses.csv`)",
            "",
            f"![per-query deltas]({stem}.deltas.png)" if plots else "",
            "",
        ]
        for dim, rows in losses["by_dim"].items():
            lines += [
                f"### dim {dim}: {len(rows)} queries score lower than at full size",
                "",
                f"| query | text | full | dim {dim} | delta | relevant docs lost from the top {losses['k']} |",
                "|---|---|---:|---:|---:|---|",
            ]
            for r in rows[:10]:
                text = r["text"].replace("|", "/")
                text = text if len(text) <= 90 else text[:87] + "..."
                lost = ", ".join(r["lost_relevant"]) or "none (reordered)"
                lines.append(
                    f"| {r['query_id']} | {text} | {r['full']:.4f} | {r['value']:.4f} | {r['delta']:+.4f} | {lost} |"
                )
            lines.append("")
    return "\n".join(lines)
