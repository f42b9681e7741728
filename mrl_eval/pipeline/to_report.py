"""A finished sweep as the typed report (`mrl_eval.report.model.Report`): settings, model, data hashes, per-dim and
per-query metrics, and the sections of the grid, the engine, label-free metrics and growth."""

from __future__ import annotations

from datetime import datetime, timezone

from mrl_eval.decide.recommend import Choice
from mrl_eval.methods.grid import GridResult
from mrl_eval.methods.precision import PRECISIONS
from mrl_eval.pipeline.models import ModelsOutcome
from mrl_eval.pipeline.run import SweepOutcome
from mrl_eval.pipeline.settings import ModelSettings
from mrl_eval.report.document import statistics_section
from mrl_eval.report.engine_section import engine_section
from mrl_eval.report.label_free import label_free_sections
from mrl_eval.report.model import SCHEMA, DataInfo, Grid, Losses, ModelInfo, QueryLoss, Report, TwoStage
from mrl_eval.report.models_report import ModelsReport, cross_model
from mrl_eval.version import __version__

LATENCY_NOTE = (
    "median time to score one query against the whole evaluated corpus by exact scan (plain numpy, one thread "
    "of work per query) plus top-k selection, measured on this machine; compare cells with each other, not with a "
    "production index"
)
SHORTLIST_RECALL = "share of the full dim's top 10 that the first stage's shortlist kept (mean over queries)"
RERANK = "exact float64 cosine of the full float32 vectors, ties by doc id descending"


def build_report(run: SweepOutcome, command: str, recommendation: Choice | None = None) -> Report:
    """The full result as a typed report: settings, model, data hashes, per-dim and per-query metrics."""
    sweep = run.sweep
    settings = run.config.flat()
    engine = None
    if sweep.engine is not None:
        engine = engine_section(sweep.engine, len(sweep.doc_ids))
    losses = {
        dim: tuple(QueryLoss(**{**row, "lost_relevant": tuple(row["lost_relevant"])}) for row in rows)
        for dim, rows in run.losses.items()
    }
    return Report(
        schema=SCHEMA,
        mrl_eval_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        command=command,
        settings=settings,
        data=DataInfo(run.data_name, dict(run.data)),
        model=ModelInfo(dict(run.model)),
        full_dim=sweep.full_dim,
        n_docs=len(sweep.doc_ids),
        queries_evaluated=sweep.queries_evaluated,
        queries_skipped=sweep.queries_skipped,
        embedded_now=run.embedded_now,
        per_query={d: sweep.per_query[d] for d in sorted(sweep.per_query)},
        losses=Losses(run.config.loss_metric, 10, losses),
        **label_free_sections(run.config.metrics, run.queries_info, run.growth),
        results=tuple(sweep.results),
        statistics=statistics_section(run.config.stats, sweep.queries_evaluated),
        **(grid_sections(sweep.grid, len(sweep.doc_ids)) if sweep.grid is not None else {}),
        engine=engine,
        recommendation=recommendation,
    )


def grid_sections(grid: GridResult, n_docs: int) -> dict:
    """The grid (every method x dim x precision cell), the PCA finding, the two-stage table, the cost at scale."""
    section = Grid(
        precisions=tuple(sorted({c.precision for c in grid.cells}, key=lambda p: PRECISIONS.index(p))),
        methods=tuple(sorted({c.method for c in grid.cells}, key=lambda m: ("prefix", "pca").index(m))),
        reference=grid.reference,
        cells=tuple(grid.cells),
        # per-query values of every cell except the float32 prefixes, which are the report's per_query
        per_query={
            label: values
            for label, values in grid.per_query.items()
            if not (label.startswith("prefix:") and label.endswith(":float32"))
        },
        scales={"corpus": n_docs, **grid.scales},
        latency_note=LATENCY_NOTE,
        machine=grid.machine,
    )
    two_stage = TwoStage(tuple(grid.two_stage), SHORTLIST_RECALL, RERANK) if grid.two_stage else None
    return {"grid": section, "pca": grid.pca, "two_stage": two_stage}


def build_models_report(
    outcome: ModelsOutcome, command: str, metric: str | None = None, reference: str | None = None
) -> ModelsReport:
    """A run of several models as one report: each model's report and the comparison across them on `metric`
    (default: the primary metric), every cell against `reference` (a model's name; default: the best at full size)."""
    runs = tuple(build_report(o, command) for o in outcome.outcomes)
    metric = metric or runs[0].metrics[0]
    comparison, _ = cross_model(outcome.names, runs, metric, outcome.config.stats, reference)
    settings = outcome.config.flat()
    for key in ModelSettings.__dataclass_fields__:
        settings.pop(key, None)  # each model's own settings are in its report
    settings["models"] = list(outcome.names)
    first = runs[0]
    return ModelsReport(
        command=command,
        data=first.data,
        names=outcome.names,
        runs=runs,
        comparison=comparison,
        settings=settings,
        created=first.created,
        mrl_eval_version=__version__,
    )
