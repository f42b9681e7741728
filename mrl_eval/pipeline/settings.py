"""A sweep's settings, grouped by the part of the pipeline that reads them.

`DataSettings` says where the collection comes from (files, a BEIR folder, an MTEB task, pseudo-queries),
`ModelSettings` where the vectors come from (precomputed, or a provider through the cache), and `SweepConfig` holds
both with what the sweep does with them (dims, metrics, statistics, the grid, an engine, Ray, growth). Each part of
the pipeline gets only its own group; the groups of the parts below (`StatsSettings`, `GridSettings`,
`EngineSettings`, `RaySettings`, `GrowthSettings`) live beside the code that reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mrl_eval import defaults
from mrl_eval.engines import EngineSettings
from mrl_eval.evaluate.growth import GrowthSettings
from mrl_eval.evaluate.ray_search import RaySettings
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.methods.grid import GridSettings


@dataclass(frozen=True)
class DataSettings:
    """Where the collection comes from: a BEIR folder and/or files, or an MTEB task; pseudo-queries optional."""

    folder: Path | None = None  # the DATA argument; None with no files: the bundled sample
    corpus: Path | None = None
    queries: Path | None = None
    qrels: Path | None = None
    split: str = defaults.SPLIT
    # each file's fields (None: the first of the common names found; doc_title_column "": no title)
    doc_id_column: str | None = None
    doc_text_column: str | None = None
    doc_title_column: str | None = None
    query_id_column: str | None = None
    query_text_column: str | None = None
    unknown_docs: str = defaults.UNKNOWN_DOCS  # qrels naming a document the corpus lacks: error, or ignore (dropped)
    mteb_task: str | None = None  # an MTEB retrieval task instead of DATA (data/mteb_tasks.py)
    mteb_subset: str | None = None
    mteb_data: Path | None = None  # a local copy of the task's dataset repo, for offline use
    queries_from_corpus: int | None = None  # pseudo-queries: passages of N sampled documents (pseudo_queries.py)

    @property
    def is_mteb(self) -> bool:
        return self.mteb_task is not None or self.mteb_subset is not None or self.mteb_data is not None

    @property
    def is_pseudo(self) -> bool:
        return self.queries_from_corpus is not None


# DataSettings fields by their old names, from when one set of names applied to the corpus and the queries alike:
# still taken, as the corpus's (`sweep(id_column=...)`, `--id-column`).
OLD_DATA_NAMES = {"id_column": "doc_id_column", "text_column": "doc_text_column", "title_column": "doc_title_column"}


@dataclass(frozen=True)
class ModelSettings:
    """Where the full-size vectors come from: precomputed (`embeddings`), or a provider through the cache."""

    embeddings: Path | None = None
    provider: str = defaults.PROVIDER
    model: str | None = None
    query_prompt: str | None = None
    doc_prompt: str | None = None
    query_prompt_name: str | None = None
    doc_prompt_name: str | None = None
    batch_size: int | None = None
    device: str | None = None
    trust_remote_code: bool = False  # run the model folder's own Python code (sentence-transformers)
    backend: str | None = None  # sentence-transformers: torch (None), onnx or openvino
    # --provider openai (None: not given, the provider's default); the key itself is never a setting
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int | None = None
    max_retries: int | None = None
    timeout: float | None = None  # seconds to wait for an answer
    on_long_input: str | None = None
    max_cost: float | None = None
    price_per_1m_tokens: tuple[str, ...] | None = None  # "MODEL=PRICE": US dollars per million input tokens
    pre_truncate: str = (
        defaults.PRE_TRUNCATE
    )  # "layernorm": nomic-embed-text-v1.5's layer norm before the prefix (pre_truncate.py)
    cache_dir: Path | None = None
    cache_dtype: str = defaults.CACHE_DTYPE

    def provider_options(self) -> dict[str, Any]:
        """The providers' keyword arguments (None: not given, the provider's default; a flag that is off is not
        given, so an OpenAI model leaves --trust-remote-code off without a complaint)."""
        options = {name: getattr(self, name) for name in PROVIDER_OPTIONS}
        options["trust_remote_code"] = self.trust_remote_code or None
        options["price_per_1m_tokens"] = tuple(self.price_per_1m_tokens or ()) or None
        return options


# ModelSettings fields that are the providers' own options, passed to `providers.get_provider` as they are.
PROVIDER_OPTIONS = (
    "query_prompt",
    "doc_prompt",
    "query_prompt_name",
    "doc_prompt_name",
    "batch_size",
    "device",
    "trust_remote_code",
    "backend",
    "base_url",
    "api_key_env",
    "concurrency",
    "max_retries",
    "timeout",
    "on_long_input",
    "max_cost",
    "price_per_1m_tokens",
)


@dataclass(frozen=True)
class SweepConfig:
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    dims: str | None = None
    metrics: tuple[str, ...] = ()  # () = the mode's defaults: metrics.DEFAULT_METRICS with qrels, label-free without
    ignore_identical_ids: bool = False
    stats: StatsSettings = field(default_factory=StatsSettings)
    loss_metric: str = ""  # "" = the first metric; a recommend rule's metric is always computed
    grid: GridSettings = field(default_factory=GridSettings)
    ray: RaySettings = field(default_factory=RaySettings)
    save_runs: Path | None = None  # written by report.trec_runs; here only to check the ids before any work
    engine: EngineSettings = field(default_factory=EngineSettings)
    growth: GrowthSettings | None = None  # nested corpus subsamples, fit, projection (growth.py)

    def flat(self) -> dict[str, Any]:
        """Every setting by its option name (`data` is the folder), as the report's `settings` section shows them:
        paths as strings, the settings objects of the parts below as dicts. The corpus's columns keep the keys
        reports have always had (`id_column`, `text_column`, `title_column`), which their readers know."""
        out: dict[str, Any] = {}
        report_names = {"folder": "data"} | {new: old for old, new in OLD_DATA_NAMES.items()}
        for group in (self.data, self.model):
            for f in fields(group):
                out[report_names.get(f.name, f.name)] = getattr(group, f.name)
        for f in fields(self):
            if f.name not in ("data", "model"):
                value = getattr(self, f.name)
                out[f.name] = asdict(value) if hasattr(value, "__dataclass_fields__") else value
        out["engine"] = self.engine.shown()  # never a password
        out["metrics"] = list(self.metrics)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}
