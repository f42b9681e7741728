from __future__ import annotations

import numpy as np
import pytest
import pytrec_eval

from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.vectors import Vectors, load_vectors
from mrl_eval.errors import UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.dims import parse_dims, resolve_dims
from mrl_eval.pipeline.score import score_vectors
from tests.conftest import brute_force_run, data_path, read_qrels_tsv


@pytest.mark.parametrize(
    ("spec", "full_dim", "expected"),
    [
        (None, 768, [192, 384, 768]),  # default 25%, 50%, 100%
        (None, 384, [96, 192, 384]),
        ("64,128,25%,50%", 768, [64, 128, 192, 384, 768]),  # the full dim is always added
        ("33%", 100, [33, 100]),
        ("0.5%", 100, [1, 100]),  # rounds to the nearest dim, never below 1
        ("768, 768", 768, [768]),
    ],
)
def test_dims_resolve(spec, full_dim, expected):
    assert resolve_dims(spec, full_dim) == expected


@pytest.mark.parametrize("spec", ["0", "-5", "abc", "64,,128", "150%", "12.5", "%"])
def test_bad_dims_are_usage_errors(spec):
    with pytest.raises(UsageError, match="--dims"):
        parse_dims(spec)


def test_dim_larger_than_full_is_a_usage_error():
    with pytest.raises(UsageError, match="larger than the model's full dim 384"):
        resolve_dims("512", 384)


def _pytrec(qrels, runs, query_ids, measures):
    run = {qid: {doc_id: score for doc_id, score in ranked} for qid, ranked in zip(query_ids, runs)}
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)


@pytest.mark.parametrize(
    ("model", "dims"), [("embeddinggemma-300m", "64,128,256,512"), ("all-minilm-l6-v2", "32,64,128,192")]
)
def test_scifact_sweep_agrees_with_pytrec_eval_on_the_same_vectors(model, dims):
    folder = data_path("scifact-subset")
    vectors = load_vectors(folder / "embeddings" / model)
    qrels = read_qrels_tsv(folder / "qrels" / "test.tsv")
    dims = resolve_dims(dims, vectors.full_dim)
    assert len(dims) == 5
    result = score_vectors(vectors, qrels, dims, ["ndcg@10", "recall@100"])
    assert result.queries_evaluated == 300 and result.queries_skipped == 0
    rows = [vectors.query_ids.index(q) for q in result.query_ids]
    for r in result.results:
        runs = brute_force_run(vectors.queries[rows], np.asarray(vectors.docs), vectors.doc_ids, r.dim, 100)
        ref = _pytrec(qrels, runs, result.query_ids, {"ndcg_cut.10", "recall.100"})
        ndcg = np.mean([ref[q]["ndcg_cut_10"] for q in result.query_ids])
        recall = np.mean([ref[q]["recall_100"] for q in result.query_ids])
        assert r.metrics["ndcg@10"] == pytest.approx(ndcg, abs=1e-6), r.dim
        assert r.metrics["recall@100"] == pytest.approx(recall, abs=1e-6), r.dim
    # The published figure of the full SciFact (MTEB's 64.51 for MiniLM) is scripts/check_published_figures.py's.


def test_queries_without_judgments_are_skipped_and_counted():
    folder = data_path("scifact-subset")
    vectors = load_vectors(folder / "embeddings" / "all-minilm-l6-v2")
    qrels = read_qrels_tsv(folder / "qrels" / "test.tsv")
    unjudged = sorted(qrels)[::25]  # 12 of the 300 queries lose their judgments
    for query_id in unjudged:
        del qrels[query_id]
    result = score_vectors(vectors, qrels, [384], list(M.DEFAULT_METRICS))
    assert (result.queries_evaluated, result.queries_skipped) == (300 - len(unjudged), len(unjudged)) == (288, 12)
    assert set(result.per_query[384]["ndcg@10"]) == set(qrels)


def test_metrics_stay_in_range_and_recall_grows_with_k():
    folder = data_path("cranfield")
    vectors = load_vectors(folder / "embeddings" / "embeddinggemma-300m")
    qrels = load_collection(folder).qrels
    result = score_vectors(vectors, qrels, [64, 768], ["recall@10", "recall@100", "ndcg@10", "map@100", "mrr@10"])
    for r in result.results:
        assert all(0.0 <= v <= 1.0 for v in r.metrics.values())
        assert r.metrics["recall@10"] <= r.metrics["recall@100"]


def test_ignore_identical_ids_drops_the_query_itself():
    docs = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], np.float32)
    vectors = Vectors(["q1", "d2", "d3"], docs, ["q1"], docs[:1].copy())
    qrels = {"q1": {"d2": 1}}
    kept = score_vectors(vectors, qrels, [2], ["mrr@10"])
    dropped = score_vectors(vectors, qrels, [2], ["mrr@10"], ignore_identical_ids=True)
    # doc "q1" is the query itself and ranks first: the relevant d2 is second (MRR 1/2) unless it is dropped
    assert kept.results[0].metrics["mrr@10"] == pytest.approx(0.5)
    assert dropped.results[0].metrics["mrr@10"] == pytest.approx(1.0)
