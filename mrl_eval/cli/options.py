"""Every flag of mrl-eval, declared once: its type and help (a typer `Annotated` alias), then its parameter
(`Param`: the name, that alias, the default from `mrl_eval.defaults`, and the check a config file's value gets).
A command is built from the groups of parameters it takes (`params.command`), so `sweep` and `recommend` share
one declaration of each sweep option."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from mrl_eval import defaults as D
from mrl_eval.limits import (
    MAX_BATCH_SIZE,
    MAX_CONCURRENCY,
    MAX_CONFIDENCE,
    MAX_RESAMPLES,
    MAX_RETRIES,
    MAX_SEED,
    MAX_TIMEOUT_S,
    MIN_CONFIDENCE,
    MIN_RESAMPLES,
    MIN_TAIL_RESAMPLES,
)

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
    typer.Option(
        help="Qrels: BEIR TSV, TREC (qid 0 docid rel), CSV or Parquet. None given and none in DATA: label-free "
        "(each dim against the full-dim ranking), with a warning; stops if a file beside the data looks like qrels.",
        rich_help_panel=DATA,
    ),
]
SplitOpt = Annotated[
    str,
    typer.Option(
        help="Qrels split inside DATA (qrels/<split>.tsv), or --mteb-task's eval split.", rich_help_panel=DATA
    ),
]


def _names(names: tuple[str, ...]) -> str:
    return f"(default: the first found of {', '.join(names)})"


DocIdColOpt = Annotated[
    str | None,
    typer.Option(
        "--doc-id-column",
        help=f"Id column/field of the corpus file. {_names(D.DOC_ID_COLUMNS)}",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DocTextColOpt = Annotated[
    str | None,
    typer.Option(
        "--doc-text-column",
        help=f"Text column/field of the corpus file. {_names(D.DOC_TEXT_COLUMNS)}",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DocTitleColOpt = Annotated[
    str | None,
    typer.Option(
        "--doc-title-column",
        help=f'Title column/field of the corpus file, joined before the text; "" for none. (default: '
        f"{D.DOC_TITLE_COLUMN}, if present)",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
# The corpus's columns before each file had its own (then they applied to the queries too): still read, as the
# corpus's, but not shown in the help (a config file's id-column etc. are read as doc-id-column etc.: config.py).
OldIdColOpt = Annotated[str | None, typer.Option("--id-column", hidden=True)]
OldTextColOpt = Annotated[str | None, typer.Option("--text-column", hidden=True)]
OldTitleColOpt = Annotated[str | None, typer.Option("--title-column", hidden=True)]
QueryIdColOpt = Annotated[
    str | None,
    typer.Option(help=f"Id column/field of the queries file. {_names(D.QUERY_ID_COLUMNS)}", rich_help_panel=DATA),
]
QueryTextColOpt = Annotated[
    str | None,
    typer.Option(help=f"Text column/field of the queries file. {_names(D.QUERY_TEXT_COLUMNS)}", rich_help_panel=DATA),
]
UnknownDocsOpt = Annotated[
    str,
    typer.Option(
        help="Qrels that judge a document the corpus lacks: error (stop, naming each id) or ignore (drop those "
        "judgments, with one warning saying how many; a relevant one then counts in no metric, where trec_eval "
        "would count it as relevant and never retrieved).",
        rich_help_panel=DATA,
    ),
]
MtebTaskOpt = Annotated[
    str | None,
    typer.Option(
        help="Evaluate an MTEB retrieval task (e.g. SciFact) instead of DATA: its corpus, queries and qrels are "
        "loaded by the mteb package from the Hugging Face Hub (or --mteb-data). --split picks the eval split.",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
MtebSubsetOpt = Annotated[
    str | None,
    typer.Option(
        help="The MTEB task's subset (hf_subset), e.g. a language of a multilingual task. (default: its only subset)",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
MtebDataOpt = Annotated[
    Path | None,
    typer.Option(
        help="A local copy of the MTEB task's Hugging Face dataset repo (hf download mteb/scifact --repo-type dataset "
        "--local-dir DIR), read by mteb's loader instead of the Hub: works offline.",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
MtebResultsOpt = Annotated[
    Path | None,
    typer.Option(
        help="Also write one MTEB result file per dim (needs --mteb-task), laid out as mteb's results folder: "
        "DIR/<model>-dim<d>/<model revision>/<Task>.json.",
        rich_help_panel="Output",
        show_default=False,
    ),
]
EmbeddingsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        metavar="DIR",
        help="Evaluate precomputed vectors instead of running a model: a folder with corpus.npy, corpus_ids.txt, "
        "queries.npy, queries_ids.txt. Give it more than once (and/or --model) to compare models.",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
ModelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        "-m",
        metavar="NAME",
        help="sentence-transformers hub id or local folder. Default: the bundled all-MiniLM-L6-v2 (offline). "
        "With --provider openai: the API's model name (default: text-embedding-3-small); openai:NAME names that "
        "provider for one model. Give it more than once (and/or --embeddings) to compare models on the same "
        "queries.",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
ReferenceOpt = Annotated[
    str | None,
    typer.Option(
        help="With several models: the model every cell is compared with (its full size), and the one a relative "
        "bar (--max-drop) is relative to. (default: the best model at full size on the bar's metric)",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
ProviderOpt = Annotated[
    str, typer.Option(help="Embedding back-end: sentence-transformers or openai.", rich_help_panel=MODEL)
]
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
        metavar="N",
        min=1,
        max=MAX_BATCH_SIZE,
        help=f"Texts per model batch, 1 to {MAX_BATCH_SIZE:,}. (default: about 8k tokens per batch on CPU, 32k on GPU, from the model max length; "
        "with --provider openai, inputs per request: 2048 to OpenAI, 32 to other servers)",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(help="torch device: cpu, cuda, cuda:1, mps. Default: auto.", rich_help_panel=MODEL),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        help="Where a sentence-transformers model runs: torch, onnx (ONNX Runtime) or openvino, both on the CPU, "
        "from an export of the model made locally once and kept beside the embedding cache. Each backend has a "
        "cache of its own (the vectors differ slightly). A list (torch,onnx) runs each model on each backend in "
        "one run, compared on the same queries, with the agreement of their vectors. Needs mrl-eval\\[onnx] / "
        "mrl-eval\\[openvino]. (default: torch)",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
TrustRemoteCodeOpt = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code",
        help="Load a model that ships its own Python code (nomic-embed-text-v1.5, for one): that code, from "
        "the model's repository, RUNS ON THIS MACHINE. Only for models you trust. (default: off)",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        help="Embedding cache. Default: mrl-eval in $XDG_CACHE_HOME, else ~/.cache/mrl-eval.",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
DimsOpt = Annotated[
    str | None,
    typer.Option(
        help=f"Dims to sweep: sizes and percentages, e.g. 64,128,25%,50%. The full dim is always added. (default: "
        f"{', '.join(D.DIMS.split(','))})",
        rich_help_panel=SWEEP,
        show_default=False,
    ),
]
MetricsOpt = Annotated[
    str | None,
    typer.Option(
        help=f"Metrics: ndcg@k, recall@k, mrr@k, map@k, precision@k. (default: {', '.join(D.METRICS)})",
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
NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="The name of this run's files: NAME.json, NAME.csv, NAME.md, ... in --out, and NAME.d<dim>.trec with "
        "--save-runs. (default: <data>__<model>, from their base names)",
        rich_help_panel=OUTPUT,
        show_default=False,
    ),
]
OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace the files of that name even when another run (other data or another model) wrote them; "
        "without it such a write is refused and nothing is written.",
        rich_help_panel=OUTPUT,
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print the JSON result on stdout and nothing else there.", rich_help_panel=OUTPUT),
]

WideOpt = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="Print every column of every table, and the recommendation at length. (default: the key columns, "
        "which fit 80 columns; the reports always hold everything)",
        rich_help_panel=OUTPUT,
    ),
]


STATS = "Statistics"
ConfidenceOpt = Annotated[
    float,
    typer.Option(
        help=f"Confidence level of the bootstrap intervals, {MIN_CONFIDENCE} to {MAX_CONFIDENCE}, with (1 - level) x "
        f"--resamples at least {MIN_TAIL_RESAMPLES}.",
        rich_help_panel=STATS,
    ),
]
ResamplesOpt = Annotated[
    int,
    typer.Option(
        metavar="N",
        min=MIN_RESAMPLES,
        max=MAX_RESAMPLES,
        help=f"Bootstrap resamples and randomization-test resamples, {MIN_RESAMPLES} to {MAX_RESAMPLES:,} (memory: "
        "16 bytes per resample per dim and metric).",
        rich_help_panel=STATS,
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option(
        metavar="N",
        min=0,
        max=MAX_SEED,
        help="Random seed for resampling and --holdout (recorded in the JSON), 0 to 2^63-1.",
        rich_help_panel=STATS,
    ),
]
CiMethodOpt = Annotated[str, typer.Option(help="Bootstrap interval: bca or percentile.", rich_help_panel=STATS)]
RuleOpt = Annotated[
    str,
    typer.Option(
        help="What must clear the bar: point (the mean), lower-bound (the CI's lower end: the score's for --min, "
        "the paired delta's for --max-drop; the safe choice for CI gates), non-inferior (the drop from full dim, "
        "with the stated confidence, is at most --max-drop).",
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
        help="Precision of cached vectors: float32 (exact) or float16 (half the disk; its effect is measured in docs/performance.md).",
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

GRID = "Precision, PCA, two-stage, cost"
PrecisionsOpt = Annotated[
    str,
    typer.Option(
        help="Storage precisions to score at every dim, as FAISS scores them: float32, float16 (QT_fp16), int8 "
        "(QT_8bit: per-dim ranges from the corpus, float query), binary (sign bits, Hamming). float32 is always in.",
        rich_help_panel=GRID,
    ),
]
ComparePcaOpt = Annotated[
    str | None,
    typer.Option(
        "--compare",
        help="pca: also score each dim as PCA to d dims (basis fitted on the corpus) and state down to which dim "
        "truncation is safe.",
        rich_help_panel=GRID,
        show_default=False,
    ),
]
PcaFitSampleOpt = Annotated[
    str | None,
    typer.Option(
        help="Fit the PCA basis on a random part of the corpus: a fraction (0.2) or a number of documents. "
        "(default: the whole corpus, which flatters PCA slightly)",
        rich_help_panel=GRID,
        show_default=False,
    ),
]
SafetyMarginOpt = Annotated[
    float,
    typer.Option(help="Margin of the truncation-safety statement, in the first metric.", rich_help_panel=GRID),
]
TwoStageOpt = Annotated[
    str | None,
    typer.Option(
        help="Simulate shortlist-then-rerank: first stages as dims, optionally :precision (64,128,binary,256:int8); "
        "the shortlist is reranked with the full vectors.",
        rich_help_panel=GRID,
        show_default=False,
    ),
]
ShortlistOpt = Annotated[
    str,
    typer.Option(help="Shortlist sizes for --two-stage.", rich_help_panel=GRID),
]
ScaleOpt = Annotated[
    str | None,
    typer.Option(
        help="Project storage to these corpus sizes (10M, 250k,1.5B). (default: the evaluated corpus, 1M and 10M)",
        rich_help_panel=GRID,
        show_default=False,
    ),
]

RAY = "Ray cluster (needs the ray extra)"
RayOpt = Annotated[
    bool,
    typer.Option(
        "--ray",
        help="Score on a Ray cluster: one task per corpus shard, the same rankings as one machine. Without "
        "--ray-address, a local cluster on 127.0.0.1 is started for the run and stopped after it.",
        rich_help_panel=RAY,
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        help="An existing Ray cluster to score on (implies --ray): auto, HOST:PORT, or ray://HOST:10001.",
        rich_help_panel=RAY,
    ),
]
RayCpusOpt = Annotated[
    int | None,
    typer.Option(
        help="CPUs of the local cluster that --ray starts (default: all of this machine's).", rich_help_panel=RAY
    ),
]
RayWorkersOpt = Annotated[
    int | None,
    typer.Option(
        help="Embedding workers (model actors) on the cluster (default: one per GPU share with "
        "--ray-gpus-per-worker, else one per CPU).",
        rich_help_panel=RAY,
    ),
]
RayGpusOpt = Annotated[
    float,
    typer.Option(
        help="GPUs per embedding worker (0: workers on CPUs; 0.5: two workers share a GPU).", rich_help_panel=RAY
    ),
]
RayShardRowsOpt = Annotated[
    int | None,
    typer.Option(
        help="Corpus rows per Ray task (default: about two tasks per CPU of the cluster).", rich_help_panel=RAY
    ),
]
API = "OpenAI-compatible API (--provider openai)"
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        help="An OpenAI-compatible server, e.g. http://localhost:11434/v1 (Ollama), http://localhost:8000/v1 (vLLM). "
        "(default: $OPENAI_BASE_URL, else https://api.openai.com/v1)",
        rich_help_panel=API,
        show_default=False,
    ),
]
ApiKeyEnvOpt = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="The environment variable that holds the API key. Keys are never taken from a flag. "
        "(default: OPENAI_API_KEY; optional for a custom --base-url)",
        rich_help_panel=API,
        show_default=False,
    ),
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        min=1,
        max=MAX_CONCURRENCY,
        help=f"Requests in flight at once, 1 to {MAX_CONCURRENCY}. (default: 4)",
        rich_help_panel=API,
        show_default=False,
    ),
]
MaxRetriesOpt = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        min=0,
        max=MAX_RETRIES,
        help=f"Retries (0 to {MAX_RETRIES}) of a request after a 429, a 5xx, a timeout or a dropped connection, with exponential backoff "
        "and Retry-After. (default: 6)",
        rich_help_panel=API,
        show_default=False,
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        min=0.001,
        max=MAX_TIMEOUT_S,
        metavar="S",
        help="The longest wait for an answer to one request (and at most 10 s to connect) before the try counts as "
        "failed; a slow local server may need more. (default: 60)",
        rich_help_panel=API,
        show_default=False,
    ),
]
OnLongInputOpt = Annotated[
    str | None,
    typer.Option(
        help="A text over the API's 8,192 tokens per input: error (stop before any request) or truncate (cut it "
        "to the limit, with a warning). (default: error)",
        rich_help_panel=API,
        show_default=False,
    ),
]
MaxCostOpt = Annotated[
    float | None,
    typer.Option(
        min=0,
        metavar="USD",
        help="Stop before any request if embedding the texts not yet cached would cost more than this (estimated "
        "from the token count and the model's price).",
        rich_help_panel=API,
        show_default=False,
    ),
]
PricePer1mTokensOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="M=USD",
        help="A model's price in US dollars per million input tokens, as MODEL=USD (repeat for more models): the "
        "report's cost of embedding the corpus and per query, and --max-cost, use it. "
        "(default: none; mrl-eval keeps no price list, so without a price the report counts tokens only)",
        rich_help_panel=API,
        show_default=False,
    ),
]
PreTruncateOpt = Annotated[
    str,
    typer.Option(
        help="Post-process the full vectors before the prefix is cut: none, or layernorm (nomic-embed-text-v1.5: "
        "layer norm over the full vector, then truncate, then L2 normalise).",
        rich_help_panel=MODEL,
    ),
]

ENGINE = "Engine: measure inside FAISS or pgvector (docs/engines.md)"
EngineOpt = Annotated[
    str,
    typer.Option(
        help="Where every cell is searched: exact (brute force, the reference), faiss (an embedded index; "
        "pip install 'mrl-eval\\[faiss]') or pgvector (PostgreSQL; pip install 'mrl-eval\\[pgvector]').",
        rich_help_panel=ENGINE,
    ),
]
IndexKindOpt = Annotated[
    str,
    typer.Option("--index", help="Index kinds to build per cell: hnsw, flat, or hnsw,flat.", rich_help_panel=ENGINE),
]
HnswMOpt = Annotated[int, typer.Option(help="HNSW links per node (FAISS M, pgvector m).", rich_help_panel=ENGINE)]
EfConstructionOpt = Annotated[
    int, typer.Option(help="HNSW candidate list while building (efConstruction).", rich_help_panel=ENGINE)
]
EfSearchOpt = Annotated[
    str,
    typer.Option(
        help="HNSW candidate lists to sweep at query time (FAISS efSearch, pgvector hnsw.ef_search).",
        rich_help_panel=ENGINE,
    ),
]
PgDsnOpt = Annotated[
    str | None,
    typer.Option(
        help="Your PostgreSQL (with pgvector) as postgresql://user@host/db; put the password in PGPASSWORD or "
        "~/.pgpass. (default: a throwaway local server, started and stopped by mrl-eval)",
        rich_help_panel=ENGINE,
        show_default=False,
    ),
]
RerankOpt = Annotated[
    int,
    typer.Option(
        help="pgvector: also run the shortlist-then-rerank query, this many rows from the index reranked by the "
        "full-size cosine. 0: off.",
        rich_help_panel=ENGINE,
    ),
]
LABEL_FREE = "Without relevance judgments; growth"
QueriesFromCorpusOpt = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        min=1,
        help="No query log: sample N documents (seeded by --seed) and use a passage of each (one sentence, at most "
        "32 words) as a pseudo-query, the document itself removed from its own results; measured label-free "
        "against the full-dim ranking. With --embeddings: each document's own vector is the query.",
        rich_help_panel=LABEL_FREE,
        show_default=False,
    ),
]
GrowthOpt = Annotated[
    bool,
    typer.Option(
        "--growth",
        help="Also score every dim on nested subsamples of the corpus (every judged document kept, the rest at "
        "1/16 .. 1), fit the drop against log(corpus size) on the largest three and extrapolate it to the --scale "
        "sizes (default 1M, 10M), with an interval that carries the noise and the fit's own backtest error, and the "
        "growth chart.",
        rich_help_panel=LABEL_FREE,
    ),
]
GrowthSeedsOpt = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        min=1,
        help="Subsample seeds for --growth. (default: 5)",
        rich_help_panel=LABEL_FREE,
        show_default=False,
    ),
]

MinNdcgOpt = Annotated[float | None, typer.Option(help="Bar: nDCG@10 at or above this.", rich_help_panel=BAR)]
BarMetricOpt = Annotated[
    str | None,
    typer.Option(
        "--metric", help=f"Metric the bar applies to. (default: {D.METRIC})", rich_help_panel=BAR, show_default=False
    ),
]
MinValueOpt = Annotated[
    float | None, typer.Option("--min", help="Bar: the metric at or above this.", rich_help_panel=BAR)
]
MaxDropOpt = Annotated[
    str | None,
    typer.Option(
        help="Bar: at most this drop from the full-dim score (with several models: from the reference's), "
        "absolute (0.02) or relative (2%).",
        rich_help_panel=BAR,
    ),
]
OptimizeOpt = Annotated[
    str,
    typer.Option(
        help="What to minimise among the cells that meet the bar: dim (float32, the smallest dim) or bytes "
        "(bytes per vector over every --precisions cell); with --engine faiss|pgvector also memory (index plus "
        "table, measured) or latency (median, measured), over the engine's cells.",
        rich_help_panel=BAR,
    ),
]
MethodsOpt = Annotated[
    str,
    typer.Option(
        help="Which methods may be chosen: prefix (truncation), pca, or prefix,pca (PCA is then scored too).",
        rich_help_panel=BAR,
    ),
]
PlotOpt = Annotated[
    bool | None,
    typer.Option(
        "--plot/--no-plot",
        help="Draw the PNG/SVG charts. (default: yes when sweeping; no with --from, which then stays fast and "
        "never imports matplotlib)",
        rich_help_panel=OUTPUT,
        show_default=False,
    ),
]
FromOpt = Annotated[
    Path | None,
    typer.Option(
        "--from",
        help="Use a saved sweep report (reports/<run>.json) instead of sweeping: no model calls.",
        rich_help_panel=BAR,
    ),
]
RunsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="BASELINE CURRENT",
        help="Two saved runs (JSON reports of sweep or recommend), the baseline first. With one, it is the "
        "current run and the baseline is --baseline (or the config file's).",
        show_default=False,
    ),
]
GatedMetricOpt = Annotated[str, typer.Option("--metric", help="The gated metric.", rich_help_panel=BAR)]
GateMaxDropOpt = Annotated[
    str,
    typer.Option(
        "--max-drop",
        help="Largest allowed fall below the baseline at any dim: absolute (0.01) or relative to the baseline's "
        "score (1%).",
        rich_help_panel=BAR,
    ),
]
GateRuleOpt = Annotated[
    str,
    typer.Option(
        "--rule",
        help="What must stay within --max-drop: point (the mean delta) or non-inferior / lower-bound (the lower "
        "end of the delta's CI; the mean when no paired test is possible).",
        rich_help_panel=BAR,
    ),
]


# The commands' parameters: each declared once, with its default and the check a config file's value gets (the
# core's own parser, so a file and a flag are refused alike; imported when a file sets the key).


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any  # Annotated[type, typer.Option(...)] or typer.Argument
    default: Any = None
    check: Callable[[Any], object] | None = None  # raises UsageError on a bad value
    alias_of: str | None = None  # an old, hidden name of the parameter named here


def _dims(value: Any) -> None:
    from mrl_eval.evaluate.dims import parse_dims

    parse_dims(value)


def _metrics(value: Any) -> None:
    from mrl_eval.evaluate.metric_registry import parse_metrics

    parse_metrics(value)


def _stats(**field: Any) -> None:
    from mrl_eval.evaluate.stats import StatsSettings

    StatsSettings(**field).check()


def _confidence(value: Any) -> None:
    from mrl_eval.evaluate.stats import check_confidence

    check_confidence(value)  # the level alone: whether --resamples can resolve it is checked with both known


def _name(value: Any) -> None:
    from mrl_eval.report.ownership import check_name

    check_name(value)


def _max_drop(flag: str) -> Callable[[Any], object]:
    def check(value: Any) -> object:
        from mrl_eval.decide.recommend import parse_max_drop

        return parse_max_drop(value, flag)

    return check


def _rule(value: Any) -> None:
    from mrl_eval.decide.recommend import make_rule

    make_rule(D.METRIC, None, "0", value) if value == "non-inferior" else make_rule(D.METRIC, 0.0, None, value)


def _optimize(value: Any) -> None:
    from mrl_eval.decide.across_models import COSTS
    from mrl_eval.errors import UsageError

    if value not in COSTS:
        raise UsageError(f"--optimize {value!r}: choose one of {', '.join(COSTS)}")


def _methods(value: Any) -> None:
    from mrl_eval.methods.grid import parse_methods

    parse_methods(value)


def _compare(value: Any) -> None:
    from mrl_eval.errors import UsageError

    if str(value).strip().lower() not in ("", "pca"):
        raise UsageError(f"--compare {value!r}: the one comparison is pca")


def _precisions(value: Any) -> None:
    from mrl_eval.methods.precision import parse_precisions

    parse_precisions(value)


def _two_stage(value: Any) -> None:
    from mrl_eval.methods.two_stage import parse_stages

    parse_stages(value, 1 << 30)  # the syntax; dims against the full dim once the model is known


def _shortlist(value: Any) -> None:
    from mrl_eval.methods.two_stage import parse_shortlists

    parse_shortlists(value)


def _scale(value: Any) -> None:
    from mrl_eval.evaluate.scales import parse_scales

    parse_scales(value)


def _pca_fit_sample(value: Any) -> None:
    from mrl_eval.methods.pca import parse_fit_sample

    parse_fit_sample(value)


def _unit_interval(flag: str, open_ends: bool = False) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        import math

        from mrl_eval.errors import UsageError

        inside = 0 < value < 1 if open_ends else 0 <= value <= 1
        if not (isinstance(value, (int, float)) and math.isfinite(value) and inside):
            raise UsageError(f"{flag} {value!r}: give a number in {'(0, 1)' if open_ends else '[0, 1]'}")

    return check


def _non_negative(flag: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        from mrl_eval.errors import UsageError

        if not (isinstance(value, (int, float)) and value == value and value >= 0):
            raise UsageError(f"{flag} {value!r}: give a number of 0 or more")

    return check


def _unknown_docs(value: Any) -> None:
    from mrl_eval.data.collection_files import check_unknown_docs

    check_unknown_docs(value)


def _pre_truncate(value: Any) -> None:
    from mrl_eval.data.pre_truncate import check_pre_truncate

    check_pre_truncate(value)


def _cache_dtype(value: Any) -> None:
    from mrl_eval.data.cache import DTYPES
    from mrl_eval.errors import UsageError

    if value not in DTYPES:
        raise UsageError(f"--cache-dtype {value!r}: choose one of {', '.join(DTYPES)}")


def _on_long_input(value: Any) -> None:
    from mrl_eval.errors import UsageError
    from mrl_eval.providers.openai_limits import ON_LONG_INPUT

    if value not in ON_LONG_INPUT:
        raise UsageError(f"--on-long-input {value!r}: choose one of {', '.join(ON_LONG_INPUT)}")


def _prices(value: Any) -> None:
    from mrl_eval.providers.openai_limits import parse_prices

    parse_prices(value)


def _backend(value: Any) -> None:
    from mrl_eval.errors import UsageError
    from mrl_eval.providers.st_backends import BACKENDS

    for name in str(value).split(","):
        if name.strip() not in BACKENDS:
            raise UsageError(f"--backend {value!r}: choose from {', '.join(BACKENDS)} (a list compares them)")


def _provider(value: Any) -> None:
    from mrl_eval.errors import UsageError
    from mrl_eval.providers import PROVIDERS

    if value not in PROVIDERS:
        raise UsageError(f"--provider {value!r}: choose one of {', '.join(PROVIDERS)}")


def _ray(**field: Any) -> None:
    from mrl_eval.evaluate.ray_search import RaySettings

    RaySettings(**field).check()


DATA_PARAMS = (
    Param("data", DataArg),
    Param("corpus", CorpusOpt),
    Param("queries", QueriesOpt),
    Param("qrels", QrelsOpt),
    Param("split", SplitOpt, D.SPLIT),
    Param("doc_id_column", DocIdColOpt),
    Param("doc_text_column", DocTextColOpt),
    Param("doc_title_column", DocTitleColOpt),
    Param("id_column", OldIdColOpt, alias_of="doc_id_column"),
    Param("text_column", OldTextColOpt, alias_of="doc_text_column"),
    Param("title_column", OldTitleColOpt, alias_of="doc_title_column"),
    Param("query_id_column", QueryIdColOpt),
    Param("query_text_column", QueryTextColOpt),
    Param("unknown_docs", UnknownDocsOpt, D.UNKNOWN_DOCS, _unknown_docs),
    Param("mteb_task", MtebTaskOpt),
    Param("mteb_subset", MtebSubsetOpt),
    Param("mteb_data", MtebDataOpt),
    Param("embeddings", EmbeddingsOpt),
)
MODEL_PARAMS = (
    Param("model", ModelOpt),
    Param("reference", ReferenceOpt),
    Param("provider", ProviderOpt, D.PROVIDER, _provider),
    Param("query_prompt", QueryPromptOpt),
    Param("doc_prompt", DocPromptOpt),
    Param("query_prompt_name", QueryPromptNameOpt),
    Param("doc_prompt_name", DocPromptNameOpt),
    Param("batch_size", BatchOpt),
    Param("device", DeviceOpt),
    Param("trust_remote_code", TrustRemoteCodeOpt, False),
    Param("backend", BackendOpt, None, _backend),
    Param("base_url", BaseUrlOpt),
    Param("api_key_env", ApiKeyEnvOpt),
    Param("concurrency", ConcurrencyOpt),
    Param("max_retries", MaxRetriesOpt),
    Param("timeout", TimeoutOpt),
    Param("on_long_input", OnLongInputOpt, None, _on_long_input),
    Param("max_cost", MaxCostOpt, None, _non_negative("--max-cost")),
    Param("price_per_1m_tokens", PricePer1mTokensOpt, None, _prices),
    Param("pre_truncate", PreTruncateOpt, D.PRE_TRUNCATE, _pre_truncate),
    Param("cache_dir", CacheOpt),
    Param("cache_dtype", CacheDtypeOpt, D.CACHE_DTYPE, _cache_dtype),
)
SWEEP_PARAMS = (
    Param("dims", DimsOpt, None, _dims),
    Param("metrics", MetricsOpt, None, _metrics),
    Param("ignore_identical_ids", IgnoreIdsOpt, False),
    Param("precisions", PrecisionsOpt, D.PRECISIONS, _precisions),
    Param("compare", ComparePcaOpt, None, _compare),
    Param("pca_fit_sample", PcaFitSampleOpt, None, _pca_fit_sample),
    Param("safety_margin", SafetyMarginOpt, D.SAFETY_MARGIN, _unit_interval("--safety-margin")),
    Param("two_stage", TwoStageOpt, None, _two_stage),
    Param("shortlist", ShortlistOpt, D.SHORTLISTS, _shortlist),
    Param("scale", ScaleOpt, None, _scale),
    Param("ray", RayOpt, False),
    Param("ray_address", RayAddressOpt),
    Param("ray_cpus", RayCpusOpt, None, lambda v: _ray(num_cpus=v)),
    Param("ray_shard_rows", RayShardRowsOpt, None, lambda v: _ray(shard_rows=v)),
    Param("ray_workers", RayWorkersOpt, None, lambda v: _ray(workers=v)),
    Param("ray_gpus_per_worker", RayGpusOpt, 0.0, lambda v: _ray(gpus_per_worker=v)),
    Param("engine", EngineOpt, D.ENGINE),
    Param("index_kind", IndexKindOpt, D.INDEX_KIND),
    Param("hnsw_m", HnswMOpt, D.HNSW_M),
    Param("ef_construction", EfConstructionOpt, D.EF_CONSTRUCTION),
    Param("ef_search", EfSearchOpt, D.EF_SEARCH),
    Param("pg_dsn", PgDsnOpt),
    Param("rerank", RerankOpt, D.RERANK),
    Param("queries_from_corpus", QueriesFromCorpusOpt),
    Param("growth", GrowthOpt, False),
    Param("growth_seeds", GrowthSeedsOpt),
)
STATS_PARAMS = (
    Param("confidence", ConfidenceOpt, D.CONFIDENCE, _confidence),
    Param("resamples", ResamplesOpt, D.RESAMPLES, lambda v: _stats(resamples=v)),
    Param("seed", SeedOpt, D.SEED, lambda v: _stats(seed=v)),
    Param("ci_method", CiMethodOpt, D.CI_METHOD, lambda v: _stats(method=v)),
)
OUTPUT_PARAMS = (
    Param("out_dir", OutOpt, Path(D.OUT)),
    Param("name", NameOpt, None, _name),
    Param("overwrite", OverwriteOpt, False),
    Param("save_runs", SaveRunsOpt),
    Param("mteb_results", MtebResultsOpt),
    Param("as_json", JsonOpt, False),
    Param("wide", WideOpt, False),
)
BAR_PARAMS = (
    Param("min_ndcg", MinNdcgOpt, None, _unit_interval("--min-ndcg")),
    Param("metric", BarMetricOpt, None, _metrics),
    Param("min_value", MinValueOpt, None, _unit_interval("--min")),
    Param("max_drop", MaxDropOpt, None, _max_drop("--max-drop")),
    Param("rule", RuleOpt, D.RULE, _rule),
    Param("optimize", OptimizeOpt, D.OPTIMIZE, _optimize),
    Param("methods", MethodsOpt, D.METHODS, _methods),
    Param("holdout", HoldoutOpt, None, _unit_interval("--holdout", open_ends=True)),
    Param("plot", PlotOpt),
    Param("from_json", FromOpt),
)
BASELINE_PARAMS = (
    Param("baseline", BaselineOpt),
    Param("baseline_max_drop", BaselineMaxDropOpt, D.MAX_DROP_VS_BASELINE, _max_drop("--baseline-max-drop")),
    Param("junit_xml", JunitOpt),
)
CONFIG_PARAM = Param("config", ConfigOpt)
COMPARE_PARAMS = (
    Param("runs", RunsArg),
    Param("baseline", BaselineOpt),
    Param("metric", GatedMetricOpt, D.METRIC, _metrics),
    Param("max_drop", GateMaxDropOpt, D.MAX_DROP_VS_BASELINE, _max_drop("--max-drop")),
    Param("rule", GateRuleOpt, D.RULE, _rule),
    *STATS_PARAMS,
    Param("junit_xml", JunitOpt),
    Param("as_json", JsonOpt, False),
    CONFIG_PARAM,
)
SWEEP_COMMAND = (*DATA_PARAMS, *MODEL_PARAMS, *SWEEP_PARAMS, *STATS_PARAMS, *OUTPUT_PARAMS, CONFIG_PARAM)
RECOMMEND_COMMAND = (
    DATA_PARAMS[0],
    *BAR_PARAMS,
    *DATA_PARAMS[1:],
    *MODEL_PARAMS,
    *SWEEP_PARAMS,
    *STATS_PARAMS,
    *OUTPUT_PARAMS,
    *BASELINE_PARAMS,
    CONFIG_PARAM,
)
COMMAND_PARAMS = {"sweep": SWEEP_COMMAND, "recommend": RECOMMEND_COMMAND, "compare": COMPARE_PARAMS}
# old parameter name -> its new name (`--id-column` -> `--doc-id-column`)
ALIASES = {p.name: p.alias_of for params in COMMAND_PARAMS.values() for p in params if p.alias_of}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")
