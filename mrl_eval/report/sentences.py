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


def decision(rec: Choice, confidence: float | None = None) -> Decision:
    """The recommendation at a glance (the terminal leads with it; `explain` says the same at length)."""
    level = f"{confidence:.0%}" if confidence else ""  # "95%", as in "95% CI"
    metric = rec.metric
    if rec.dim is None:
        return Decision(explain(rec, confidence)[0], advice=(("Warning: " + rec.warning,) if rec.warning else ()))
    key = rec.label or str(rec.dim)
    e = rec.evidence.get(key, {})
    s = rec.storage
    if rec.label:
        headline = f"Recommended: {rec.method} {rec.dim} d at {rec.precision}"
    else:
        headline = f"Recommended dim: {rec.dim} of {rec.full_dim}"
    facts = [
        (
            "bytes/vector",
            f"{s['bytes_per_vector']:,} instead of {s['full_bytes_per_vector']:,} "
            f"({s['saved_fraction']:.0%} saved; {human_bytes(s['bytes']['1M'])} instead of "
            f"{human_bytes(s['full_bytes']['1M'])} for 1M docs)",
        ),
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
    return Decision(headline, tuple(facts), (("Warning: " + rec.warning,) if rec.warning else ()))


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
        return (
            f"{e['value']:.4f}, {level}CI {interval(e['ci'])}, delta from full {e['delta']:+.4f} "
            f"{interval(e['delta_ci'])}, p = {e['p_value']:.4f}"
        )

    s = rec.storage
    if rec.label:  # chosen among grid cells
        by_bytes = rec.optimize == "bytes"
        lines = [
            f"Recommended: {rec.method} {rec.dim} d at {rec.precision}, {s['bytes_per_vector']:,} bytes/vector "
            f"({'the fewest bytes' if by_bytes else 'the smallest dim'} that meets the rule {kind}: {why}).",
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
            f"Recommended dim: {rec.dim} (rule {kind}: {why}).",
            f"  dim {rec.dim}: {metric} {numbers(rec.dim)}",
        ]
        if rec.smaller_dim is not None:
            lines.append(f"  dim {rec.smaller_dim} (next smaller, fails the rule): {metric} {numbers(rec.smaller_dim)}")
        else:
            lines.append("  It is the smallest dim swept.")
        if rec.dim != rec.full_dim:
            lines.append(f"  dim {rec.full_dim} (full): {metric} {rec.full_value:.4f}")
    lines.append(
        f"Storage ({rec.precision}): {s['bytes_per_vector']} bytes/vector instead of {s['full_bytes_per_vector']} "
        f"({s['saved_fraction']:.0%} saved): "
        + ", ".join(
            f"{human_bytes(s['bytes'][name])} vs {human_bytes(s['full_bytes'][name])} for "
            + (f"this corpus ({s['n_docs']:,} docs)" if name == "corpus" else f"{name} docs")
            for name in ("corpus", "1M", "10M")
        )
        + "."
    )
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
