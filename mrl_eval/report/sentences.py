"""The recommendation, the held-out check, the PCA finding and the two-stage choice in sentences: built once here,
shown by the terminal, the Markdown report, the GitHub step summary, the JUnit file and the HTML page."""

from __future__ import annotations

from dataclasses import dataclass

from mrl_eval.decide.holdout import HoldoutCheck
from mrl_eval.decide.recommend import Choice
from mrl_eval.report.model import Report
from mrl_eval.report.table_model import NOTHING, human_bytes, interval, interval_header


@dataclass(frozen=True)
class Decision:
    """The recommendation at a glance: a headline, then short facts (a name and its value: the bytes, the bar's
    metric with its interval, the delta from the full dim with its interval, the rule, the next smaller dim), each
    short enough for a line of an 80-column terminal."""

    headline: str
    facts: tuple[tuple[str, str], ...] = ()
    advice: tuple[str, ...] = ()


def _why(rec: Choice, level: str) -> str:
    metric, bar = rec.metric, rec.threshold
    return {
        "point": f"mean {metric} >= bar {bar:.4f}",
        "lower-bound": f"lower ends of the {level}CIs: {rec.rule.partition(': ')[2]}",
        "non-inferior": f"lower end of the {level}CI of the drop >= -{rec.full_value - bar:.4f} "
        f"(the drop is at most {rec.full_value - bar:.4f} with {level}confidence)",
    }[rec.rule_kind]


def keeps_full_size(rec: Choice) -> bool:
    """The recommendation is the full size itself (at float32): nothing smaller met the rule."""
    return rec.dim == rec.full_dim and (rec.label is None or rec.label == rec.full_label)


def bar_is_relative(rec: Choice) -> bool:
    """The bar is only a drop from the full dim (`--max-drop`), with no absolute minimum (`--min`): the full dim
    always meets it. `CheckedRule.describe` writes an absolute part as `<metric> >= <value>`."""
    return f"{rec.metric} >= " not in rec.rule


def gate_verdict(rec: Choice) -> str:
    """The gate of a recommendation in a few words (the HTML badge, the step summary)."""
    if rec.dim is None:
        return "Gate failed: no swept dim meets the rule"
    if keeps_full_size(rec):
        return "Keep the full size: no smaller dim meets the rule"
    return "Gate passed"


def advice(rec: Choice) -> list[str]:
    """What the recommendation does not say by itself: that keeping the full size under a relative bar is no
    quality check, and that the smallest swept dim meeting the rule means smaller dims may do too."""
    if rec.dim is None:
        return []
    if keeps_full_size(rec):
        lines = [f"Keep the full size ({rec.full_dim} d): no smaller swept dim meets the rule."]
        if bar_is_relative(rec):
            lines.append(
                "A --max-drop bar is relative to the full dim, which always meets it: this gate only guards against "
                "regressions and cannot fail on low quality. For a quality floor, add --min-ndcg (or --metric M "
                "--min X)."
            )
        return lines
    smallest = rec.smaller_label is None if rec.label else rec.smaller_dim is None
    if not smallest:
        return []
    if rec.label:
        return [
            f"{rec.label} is the cheapest cell swept and it meets the rule: smaller dims or lower precisions may "
            "meet it too (sweep them with --dims and --precisions)."
        ]
    smaller = ",".join(str(d) for d in (rec.dim // 8, rec.dim // 4, rec.dim // 2) if d >= 1)
    how = f" (--dims {smaller},{rec.dim})" if smaller else ""
    return [
        f"Dim {rec.dim} is the smallest dim swept and it meets the rule: sweep smaller dims{how} to see whether "
        "fewer are enough."
    ]


def decision(rec: Choice, confidence: float | None = None) -> Decision:
    """The recommendation at a glance (the terminal leads with it; `explain` says the same at length)."""
    level = f"{confidence:.0%}" if confidence else ""  # "95%", as in "95% CI"
    metric = rec.metric
    if rec.dim is None:
        return Decision(explain(rec, confidence)[0], advice=(("Warning: " + rec.warning,) if rec.warning else ()))
    key = rec.label or str(rec.dim)
    e = rec.evidence.get(key, {})
    s = rec.storage
    full = keeps_full_size(rec)
    if full:
        headline = f"Keep the full size: dim {rec.full_dim}; no smaller swept dim meets the rule"
    elif rec.label:
        headline = f"Recommended: {rec.method} {rec.dim} d at {rec.precision}"
    else:
        headline = f"Recommended dim: {rec.dim} of {rec.full_dim}"
    saved = (
        "the full size, nothing saved"
        if full
        else f"{s['saved_fraction']:.0%} saved; {human_bytes(s['bytes']['1M'])} instead of "
        f"{human_bytes(s['full_bytes']['1M'])} for 1M docs"
    )
    bytes_text = f"{s['bytes_per_vector']:,}" + ("" if full else f" instead of {s['full_bytes_per_vector']:,}")
    facts = [
        ("bytes/vector", f"{bytes_text} ({saved})"),
        (
            metric,
            f"{e.get('value', rec.value or 0):.4f}"
            + (f", {level} CI {interval(e['ci'])}".replace(",  ", ", ") if "ci" in e else ""),
        ),
    ]
    if "delta" in e:
        is_full = key in (str(rec.full_dim), rec.full_label)
        facts.append(
            (
                "Δ vs full",
                NOTHING
                if is_full
                else f"{e['delta']:+.4f}, {interval_header(level, 'Δ')} "
                f"{interval(e['delta_ci'], True)}, p {e['p_value']:.4f}",
            )
        )
    facts.append(("rule", f"{rec.rule_kind}: {_why(rec, level + ' ' if level else '')}"))
    smaller = rec.smaller_label or (f"dim {rec.smaller_dim}" if rec.smaller_dim is not None else None)
    if smaller is not None:
        nxt = "next cheaper" if rec.label and rec.optimize == "bytes" else "next smaller"
        value = rec.evidence.get(rec.smaller_label or str(rec.smaller_dim), {}).get("value")
        facts.append((nxt, f"{smaller} fails the rule" + (f": {metric} {value:.4f}" if value is not None else "")))
    notes = advice(rec)[1:] if full else advice(rec)  # the headline already says to keep the full size
    return Decision(headline, tuple(facts), (*notes, *(("Warning: " + rec.warning,) if rec.warning else ())))


def explain(rec: Choice, confidence: float | None = None) -> list[str]:
    """The recommendation in sentences, shared by the terminal and the Markdown report."""
    metric, bar, kind = rec.metric, rec.threshold, rec.rule_kind
    level = f"{confidence:.0%} " if confidence else ""
    if rec.dim is None:
        return [
            f"No swept dim meets the rule ({rec.rule}; bar {metric} {bar:.4f}); "
            f"the full dim {rec.full_dim} scores {rec.full_value:.4f}."
        ] + (["Warning: " + rec.warning] if rec.warning else [])
    ev = rec.evidence
    why = _why(rec, level)

    def numbers(key: object) -> str:
        e = ev.get(str(key), {})
        if "ci" not in e:
            return f"{e.get('value', 0):.4f}"
        if str(key) in (str(rec.full_dim), rec.full_label):  # no delta from itself
            return f"{e['value']:.4f}, {level}CI {interval(e['ci'])}"
        return (
            f"{e['value']:.4f}, {level}CI {interval(e['ci'])}, delta from full {e['delta']:+.4f} "
            f"{interval(e['delta_ci'])}, p = {e['p_value']:.4f}"
        )

    s = rec.storage
    if rec.label:  # chosen among grid cells
        by_bytes = rec.optimize == "bytes"
        what = f"{rec.method} {rec.dim} d at {rec.precision}, {s['bytes_per_vector']:,} bytes/vector"
        lines = [
            f"Keep the full size: {what} (no {'cheaper cell' if by_bytes else 'smaller dim'} meets the rule "
            f"{kind}: {why})."
            if keeps_full_size(rec)
            else f"Recommended: {what} ({'the fewest bytes' if by_bytes else 'the smallest dim'} that meets the "
            f"rule {kind}: {why}).",
            f"  {rec.label}: {metric} {numbers(rec.label)}",
        ]
        if rec.smaller_label:
            nxt = "cheaper" if by_bytes else "smaller"
            lines.append(f"  {rec.smaller_label} (next {nxt}, fails the rule): {metric} {numbers(rec.smaller_label)}")
        if rec.label != rec.full_label:
            lines.append(f"  {rec.full_label} (full): {metric} {rec.full_value:.4f}")
        if rec.note:
            lines.append("  " + rec.note)
    else:
        lines = [
            f"Keep the full size: dim {rec.dim} (no smaller swept dim meets the rule {kind}: {why})."
            if keeps_full_size(rec)
            else f"Recommended dim: {rec.dim} (rule {kind}: {why}).",
            f"  dim {rec.dim}: {metric} {numbers(rec.dim)}",
        ]
        if rec.smaller_dim is not None:
            lines.append(f"  dim {rec.smaller_dim} (next smaller, fails the rule): {metric} {numbers(rec.smaller_dim)}")
        if rec.dim != rec.full_dim:
            lines.append(f"  dim {rec.full_dim} (full): {metric} {rec.full_value:.4f}")
    if keeps_full_size(rec):
        lines.append(
            f"Storage ({rec.precision}): {s['bytes_per_vector']:,} bytes/vector, the full size (nothing saved)."
        )
        lines += advice(rec)[1:]
        return lines + (["Warning: " + rec.warning] if rec.warning else [])
    lines.append(
        f"Storage ({rec.precision}): {s['bytes_per_vector']:,} bytes/vector instead of {s['full_bytes_per_vector']:,} "
        f"({s['saved_fraction']:.0%} saved): "
        + ", ".join(
            f"{human_bytes(s['bytes'][name])} vs {human_bytes(s['full_bytes'][name])} for "
            + (f"this corpus ({s['n_docs']:,} docs)" if name == "corpus" else f"{name} docs")
            for name in ("corpus", "1M", "10M")
        )
        + "."
    )
    lines += advice(rec)
    if rec.warning:
        lines.append("Warning: " + rec.warning)
    return lines


def explain_holdout(h: HoldoutCheck) -> str:
    if h.dim is None:
        return (
            f"Held-out check: on {h.n_select} queries chosen at random (seed {h.seed}) nothing meets the "
            f"rule; the other {h.n_test} were not needed."
        )
    verdict = "meets" if h.meets_rule_on_test else "does NOT meet"
    chosen = h.label if h.label else f"dim {h.dim}"
    return (
        f"Held-out check: chosen on {h.n_select} random queries (seed {h.seed}): {chosen} "
        f"({h.select_value:.4f}). On the other {h.n_test}: {h.test_value:.4f} {interval(h.test_ci or (0, 0))}, "
        f"full dim {h.test_full_value:.4f}; it {verdict} the rule there (bar {h.test_threshold:.4f})."
    )


def explain_grid(report: Report) -> list[str]:
    """The PCA finding and the two-stage recommendation in sentences."""
    lines = []
    if report.pca is not None:
        fit = report.pca["fit"]
        lines.append(report.pca["safety"]["statement"])
        lines.append(f"PCA basis fitted on {fit['fit_on']} ({fit['n_fit']:,} of {fit['n_docs']:,} documents).")
    rec = report.two_stage.recommendation if report.two_stage is not None else None
    if rec is not None:
        if rec.first_stage is None:
            lines.append(f"Two-stage: no configuration meets the rule ({rec.rule}; bar {rec.threshold:.4f}).")
        else:
            c = rec.cost or {}
            lines.append(
                f"Two-stage: the cheapest configuration that meets the rule is a {rec.first_stage} first stage "
                f"with a shortlist of {rec.shortlist} reranked at full size: {rec.metric} {rec.value:.4f} "
                f"(bar {rec.threshold:.4f}), shortlist recall@10 {rec.shortlist_recall:.3f}, a "
                f"{human_bytes(c['first_stage_index_bytes'])} first-stage index and {c['full_vectors_fetched_per_query']:,} "
                "full vectors fetched per query."
            )
    return lines
