"""Every default a user can set, in one place: the settings objects of the core, the Python API's signatures and
the CLI's options all read them here (no imports: the CLI's option declarations read them at start-up)."""

from __future__ import annotations

# data: the fields of the corpus and of the queries when none is named, the first one found (data/text_columns.py)
SPLIT = "test"
DOC_ID_COLUMNS = ("_id", "id", "doc_id", "doc-id", "docid", "corpus_id", "corpus-id", "docno", "pid")
QUERY_ID_COLUMNS = ("_id", "id", "query_id", "query-id", "qid", "queryid")
DOC_TEXT_COLUMNS = ("text", "contents", "content", "body", "passage", "document")
QUERY_TEXT_COLUMNS = ("text", "query", "question", "query_text", "question_text")
DOC_TITLE_COLUMN = "title"
UNKNOWN_DOCS = "error"  # a judgment of a document the corpus lacks: error, or ignore (dropped, with a warning)

# model and cache
PROVIDER = "sentence-transformers"
PRE_TRUNCATE = "none"
CACHE_DTYPE = "float32"

# the sweep
DIMS = "25%,50%,100%"
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100")
LABEL_FREE_METRICS = ("overlap@10", "shortlist_recall@100", "rbo@100")

# statistics
CONFIDENCE = 0.95
RESAMPLES = 10_000
SEED = 0
CI_METHOD = "bca"

# the grid: precisions, PCA, two-stage, cost at scale
PRECISIONS = "float32"
SAFETY_MARGIN = 0.01
SHORTLISTS = "100,200,1000"

# engines
ENGINE = "exact"
INDEX_KIND = "hnsw"
HNSW_M = 16
EF_CONSTRUCTION = 64  # pgvector's default; FAISS's own default is 40
EF_SEARCH = "16,64,256"
RERANK = 0

# growth
GROWTH_SEEDS = 5

# decisions
METRIC = "ndcg@10"
RULE = "point"
OPTIMIZE = "dim"
METHODS = "prefix"
MAX_DROP_VS_BASELINE = "0.01"  # compare --max-drop and recommend --baseline-max-drop

# output
OUT = "reports"
