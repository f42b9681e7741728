"""The flags shared by mrl-eval's commands, declared once as typer `Annotated` aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DATA, MODEL, SWEEP, OUTPUT, BAR = "Data", "Model", "Sweep", "Output", "Quality bar"
DataArg = Annotated[
    Path | None,
    typer.Argument(
        help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv). Default: the bundled Cranfield sample.",
        show_default=False,
    ),
]
CorpusOpt = Annotated[
    Path | None,
    typer.Option(help="Corpus file (.jsonl, .csv, .tsv, .parquet); overrides DATA's.", rich_help_panel=DATA),
]
QueriesOpt = Annotated[
    Path | None, typer.Option(help="Queries file (.jsonl, .csv, .tsv, .parquet).", rich_help_panel=DATA)
]
QrelsOpt = Annotated[
    Path | None,
    typer.Option(help="Qrels: BEIR TSV, TREC (qid 0 docid rel), CSV or Parquet.", rich_help_panel=DATA),
]
SplitOpt = Annotated[str, typer.Option(help="Qrels split inside DATA: qrels/<split>.tsv.", rich_help_panel=DATA)]
IdColOpt = Annotated[str, typer.Option(help="Id column/field of corpus and queries.", rich_help_panel=DATA)]
TextColOpt = Annotated[str, typer.Option(help="Text column/field.", rich_help_panel=DATA)]
TitleColOpt = Annotated[
    str, typer.Option(help="Title column/field (joined before the text; may be empty).", rich_help_panel=DATA)
]
EmbeddingsOpt = Annotated[
    Path | None,
    typer.Option(
        help="Evaluate precomputed vectors instead of running a model: a folder with corpus.npy, corpus_ids.txt, "
        "queries.npy, queries_ids.txt.",
        rich_help_panel=DATA,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="sentence-transformers hub id or local folder. Default: the bundled all-MiniLM-L6-v2 (offline).",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
ProviderOpt = Annotated[str, typer.Option(help="Embedding back-end.", rich_help_panel=MODEL)]
QueryPromptOpt = Annotated[
    str | None,
    typer.Option(
        help="Literal prefix for every query. Default: the model's 'query' prompt, if any.",
        rich_help_panel=MODEL,
    ),
]
DocPromptOpt = Annotated[
    str | None,
    typer.Option(
        help="Literal prefix for every document. Default: the model's 'document'/'passage' prompt, if any.",
        rich_help_panel=MODEL,
    ),
]
QueryPromptNameOpt = Annotated[
    str | None, typer.Option(help="Use this named prompt of the model for queries.", rich_help_panel=MODEL)
]
DocPromptNameOpt = Annotated[
    str | None, typer.Option(help="Use this named prompt of the model for documents.", rich_help_panel=MODEL)
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Texts per model batch. (default: about 8k tokens per batch on CPU, 32k on GPU, from the model max length)",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(help="torch device: cpu, cuda, cuda:1, mps. Default: auto.", rich_help_panel=MODEL),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        help="Embedding cache. Default: $XDG_CACHE_HOME/mrl-eval or ~/.cache/mrl-eval.",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
DimsOpt = Annotated[
    str | None,
    typer.Option(
        help="Dims to sweep: sizes and percentages, e.g. 64,128,25%,50%. The full dim is always added. (default: 25%,50%,100%)",
        rich_help_panel=SWEEP,
        show_default=False,
    ),
]
MetricsOpt = Annotated[
    str | None,
    typer.Option(
        help="Metrics: ndcg@k, recall@k, mrr@k, map@k, precision@k. (default: ndcg@10,recall@10,recall@100,mrr@10,map@100)",
        rich_help_panel=SWEEP,
        show_default=False,
    ),
]
IgnoreIdsOpt = Annotated[
    bool,
    typer.Option(
        "--ignore-identical-ids", help="Never retrieve a doc whose id equals the query id.", rich_help_panel=SWEEP
    ),
]
OutOpt = Annotated[
    Path,
    typer.Option("--out", "-o", help="Report folder (JSON, CSV, Markdown, PNG, SVG).", rich_help_panel=OUTPUT),
]
SaveRunsOpt = Annotated[
    Path | None,
    typer.Option(help="Also write one TREC run file per dim into this folder.", rich_help_panel=OUTPUT),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print the JSON result on stdout and nothing else there.", rich_help_panel=OUTPUT),
]


STATS = "Statistics"
ConfidenceOpt = Annotated[
    float, typer.Option(help="Confidence level of the bootstrap intervals.", rich_help_panel=STATS)
]
ResamplesOpt = Annotated[
    int, typer.Option(help="Bootstrap resamples and randomization-test resamples.", rich_help_panel=STATS)
]
SeedOpt = Annotated[
    int, typer.Option(help="Random seed for resampling and --holdout (recorded in the JSON).", rich_help_panel=STATS)
]
CiMethodOpt = Annotated[str, typer.Option(help="Bootstrap interval: bca or percentile.", rich_help_panel=STATS)]
RuleOpt = Annotated[
    str,
    typer.Option(
        help="What must clear the bar: point (the mean), lower-bound (the CI's lower end: the safe choice for CI "
        "gates), non-inferior (the drop from full dim, with the stated confidence, is at most --max-drop).",
        rich_help_panel=BAR,
    ),
]
HoldoutOpt = Annotated[
    float | None,
    typer.Option(
        help="Also choose the dim on this share of the queries (random, --seed) and report how it scores on the rest.",
        rich_help_panel=BAR,
        show_default=False,
    ),
]
CacheDtypeOpt = Annotated[
    str,
    typer.Option(
        help="Precision of cached vectors: float32 (exact) or float16 (half the disk; see the README for its effect).",
        rich_help_panel=MODEL,
    ),
]


CONFIG, BASELINE = "Config and CI", "Baseline"
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Settings file (TOML). Default: ./mrl-eval.toml, else \\[tool.mrl-eval] in ./pyproject.toml. "
        "Flags override it; see `mrl-eval config show`.",
        rich_help_panel=CONFIG,
        show_default=False,
    ),
]
JunitOpt = Annotated[
    Path | None,
    typer.Option(
        "--junit-xml",
        help="Also write the gated checks to this JUnit XML file (one test case per check), for CI test reports.",
        rich_help_panel=CONFIG,
        show_default=False,
    ),
]
BaselineOpt = Annotated[
    Path | None,
    typer.Option(
        help="A saved run (JSON report) to compare with, dim by dim: the gate also fails (exit 3) if the gated "
        "metric falls too far below it.",
        rich_help_panel=BASELINE,
        show_default=False,
    ),
]
BaselineMaxDropOpt = Annotated[
    str,
    typer.Option(
        help="Largest allowed fall below --baseline at any compared dim: absolute (0.01) or relative (1%).",
        rich_help_panel=BASELINE,
    ),
]
