"""What each model of a run costs beyond storage, as one table: its size, where it ran, how fast it embedded on
this machine (texts and tokens per second, over the texts embedded in this run; none on a fully cached rerun), and
for a priced API what embedding the corpus and one query costs (`--price-per-1m-tokens`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mrl_eval.report.models_report import ModelsReport
from mrl_eval.report.table_model import Table


def _rate(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) else "—"


def _usd(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return f"${value:,.4f}" if value >= 0.01 else f"${value:.2e}"


def _agreement(value: Any) -> str:
    """A backend's agreement with the torch run of the same model: the mean cosine of the vectors of the same texts."""
    if not isinstance(value, Mapping):
        return "—"
    docs, queries = value.get("documents_mean_cosine"), value.get("queries_mean_cosine")
    if not isinstance(docs, (int, float)) or not isinstance(queries, (int, float)):
        return "—"
    return f"{min(docs, queries):.6f} vs {value.get('with', 'torch')}"


def costs_table(report: ModelsReport) -> Table:
    """One row per model: full dim, provider and backend, throughput of this run, tokens and cost of the corpus."""
    rows = []
    for name, run in zip(report.names, report.runs):
        about: Mapping[str, Any] = run.model.about
        total = (about.get("throughput") or {}).get("total") or {}
        cost = about.get("corpus_cost") or {}
        where = str(about.get("provider") or "")
        if about.get("backend"):
            where += f" ({about['backend']})"
        rows.append(
            [
                name,
                f"{run.full_dim:,}",
                where,
                _rate(total.get("texts_per_second")),
                _rate(total.get("tokens_per_second")),
                f"{cost['document_tokens']:,}" if isinstance(cost.get("document_tokens"), int) else "—",
                _usd(cost.get("corpus_usd")),
                _usd(cost.get("usd_per_query")),
                _agreement(about.get("agreement")),
            ]
        )
    header = [
        "model",
        "full dim",
        "provider",
        "texts/s (this run)",
        "tokens/s",
        "corpus tokens",
        "corpus cost",
        "cost per query",
        "agreement (mean cosine)",
    ]
    title = "What each model costs beyond storage (throughput measured on this machine; — where not measured or priced)"
    return Table.of(title, header, rows, text_columns=frozenset({0, 2}))
