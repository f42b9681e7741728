from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate.metric_registry import (
    DEFAULT_METRICS,
    METRICS,
    max_depth,
    mean,
    parse_metric,
    parse_metrics,
)
from mrl_eval.evaluate.metric_registry import score_ranking as evaluate
from tests.conftest import data_path

SUPPORTED = tuple(name for name, metric in METRICS.items() if metric.needs_qrels)

MODELS = ("all-minilm-l6-v2", "embeddinggemma-300m")
CROSS_CHECKED = ("ndcg@10", "ndcg@100", "recall@10", "recall@100", "mrr@10", "map@100", "precision@10")
# Our metric -> pytrec_eval result key (mrr@10 is recip_rank on the run cut to the top 10).
TREC_KEYS = {
    "ndcg@10": "ndcg_cut_10",
    "ndcg@100": "ndcg_cut_100",
    "recall@10": "recall_10",
    "recall@100": "recall_100",
    "map@100": "map_cut_100",
    "precision@10": "P_10",
}
TREC_MEASURES = {"ndcg_cut.10,100", "recall.10,100", "map_cut.100", "P.10"}

DOCS = ["a", "b", "c", "d", "x", "y"]
IDX = {doc_id: i for i, doc_id in enumerate(DOCS)}


def _eval_one(ranking: list[str | None], judgments: dict[str, int], metrics: list[str]) -> dict[str, float]:
    """Evaluate a single query 'q' whose ranking is given by doc id (None = padding)."""
    ranked = np.array([[IDX[d] if d is not None else -1 for d in ranking]], dtype=np.int64)
    result = evaluate(["q"], ranked, DOCS, {"q": judgments}, metrics)
    return {name: per_query["q"] for name, per_query in result.items()}


# ---------------------------------------------------------------- hand-made rankings


def test_graded_ndcg_uses_linear_gain_and_all_judgments_for_the_ideal():
    values = _eval_one(["c", "b", "a"], {"a": 3, "b": 2, "c": 0, "d": 1}, ["ndcg@2", "ndcg@3"])
    # DCG@2 = 0/log2(2) + 2/log2(3) = 1.2618595; IDCG@2 = 3 + 2/log2(3) = 4.2618595 -> 0.2960819
    assert values["ndcg@2"] == pytest.approx(0.2960819109658652, abs=1e-12)
    # DCG@3 = 1.2618595 + 3/log2(4) = 2.7618595
    # IDCG@3 uses d (rel 1, never retrieved): 3 + 2/log2(3) + 1/log2(4) = 4.7618595 -> 0.5799960
    assert values["ndcg@3"] == pytest.approx(0.5799960084920718, abs=1e-12)


def test_negative_relevance_counts_as_zero_gain():
    values = _eval_one(["a", "b"], {"a": -1, "b": 1}, ["ndcg@1", "ndcg@2", "precision@2"])
    # rank 1 has gain max(-1, 0) = 0; DCG@2 = 1/log2(3) = 0.6309298; IDCG@2 = 1 -> 0.6309298
    assert values["ndcg@1"] == 0.0
    assert values["ndcg@2"] == pytest.approx(0.6309297535714575, abs=1e-12)
    assert values["precision@2"] == pytest.approx(0.5)  # only b is relevant: 1/2


def test_map_divides_by_all_relevant_including_unretrieved():
    values = _eval_one(["a", "x", "b", "y"], {"a": 1, "b": 2, "c": 1}, ["map@4", "map@2", "recall@4"])
    # relevant a at rank 1 (P=1/1), b at rank 3 (P=2/3), c never retrieved: (1 + 2/3) / 3 = 0.5555556
    assert values["map@4"] == pytest.approx(5 / 9, abs=1e-12)
    # cut at 2: only a counts: 1/3
    assert values["map@2"] == pytest.approx(1 / 3, abs=1e-12)
    assert values["recall@4"] == pytest.approx(2 / 3, abs=1e-12)  # a, b of {a, b, c}


def test_mrr_is_zero_when_first_relevant_is_beyond_k():
    values = _eval_one(["x", "y", "a"], {"a": 1, "x": 0}, ["mrr@2", "mrr@3"])
    # first relevant (a) is at rank 3: mrr@2 = 0, mrr@3 = 1/3
    assert values["mrr@2"] == 0.0
    assert values["mrr@3"] == pytest.approx(1 / 3, abs=1e-12)


def test_precision_divides_by_k_when_fewer_docs_are_retrieved():
    values = _eval_one(["a", "b"], {"a": 1, "b": 1}, ["precision@10", "recall@10", "precision@2"])
    # 2 relevant retrieved, trec_eval P_10 divides by 10: 2/10 = 0.2
    assert values["precision@10"] == pytest.approx(0.2, abs=1e-12)
    assert values["precision@2"] == pytest.approx(1.0, abs=1e-12)
    assert values["recall@10"] == pytest.approx(1.0, abs=1e-12)


def test_padding_at_the_end_is_skipped():
    metrics = ["ndcg@4", "precision@4", "recall@4", "map@4", "mrr@4"]
    padded = _eval_one(["x", "a", None, None], {"a": 1, "b": 1}, metrics)
    # a at rank 2: precision 1/4, recall 1/2, MAP (1/2)/2 = 0.25, MRR 1/2,
    # nDCG (1/log2(3)) / (1 + 1/log2(3)) = 0.6309298 / 1.6309298 = 0.3868528
    assert padded["precision@4"] == pytest.approx(0.25, abs=1e-12)
    assert padded["recall@4"] == pytest.approx(0.5, abs=1e-12)
    assert padded["map@4"] == pytest.approx(0.25, abs=1e-12)
    assert padded["mrr@4"] == pytest.approx(0.5, abs=1e-12)
    assert padded["ndcg@4"] == pytest.approx(0.38685280723454163, abs=1e-12)
    # -1 is never looked up as a document, so it cannot pick up the judgment of the last doc id
    last = _eval_one([None], {DOCS[-1]: 1}, ["recall@1"])
    assert last["recall@1"] == 0.0


def test_padding_in_the_middle_moves_later_docs_up():
    metrics = ["ndcg@3", "mrr@3", "map@3"]
    assert _eval_one(["x", None, "a"], {"a": 1}, metrics) == _eval_one(["x", "a", None], {"a": 1}, metrics)
    assert _eval_one(["x", None, "a"], {"a": 1}, metrics)["mrr@3"] == pytest.approx(0.5)  # a at rank 2


def test_query_with_only_nonrelevant_judgments_is_evaluated_as_zero():
    values = _eval_one(["a", "b"], {"a": 0, "b": -1}, [f"{m}@5" for m in SUPPORTED])
    assert set(values) == {f"{m}@5" for m in SUPPORTED}
    assert all(v == 0.0 for v in values.values())


def test_query_without_judgments_is_not_returned():
    ranked = np.array([[IDX["a"]], [IDX["a"]], [IDX["a"]]])
    qrels = {"judged": {"a": 1}, "empty": {}, "other": {"b": 1}}
    result = evaluate(["judged", "empty", "unknown"], ranked, DOCS, qrels, ["ndcg@1", "recall@1"])
    # 'empty' has an empty judgment dict, 'unknown' is not in qrels: neither is evaluated
    assert result == {"ndcg@1": {"judged": 1.0}, "recall@1": {"judged": 1.0}}


def test_judged_doc_missing_from_corpus_still_counts_as_relevant():
    ranked = np.array([[IDX["a"]]])
    result = evaluate(["q"], ranked, DOCS, {"q": {"a": 1, "not-in-corpus": 1}}, ["recall@1", "ndcg@1"])
    assert result["recall@1"]["q"] == pytest.approx(0.5)  # 1 of 2 relevant
    assert result["ndcg@1"]["q"] == pytest.approx(1.0)  # ideal@1 is also one doc of gain 1


def test_all_padding_row_scores_zero_and_keys_are_canonical():
    ranked = np.full((1, 3), -1)
    result = evaluate(["q"], ranked, DOCS, {"q": {"a": 1}}, [" NDCG@3", "ndcg@3", "MRR@3"])
    assert result == {"ndcg@3": {"q": 0.0}, "mrr@3": {"q": 0.0}}


def test_rows_of_several_queries_do_not_mix():
    ranked = np.array([[IDX["a"], IDX["b"]], [IDX["b"], IDX["a"]]])
    qrels = {"q1": {"a": 1}, "q2": {"a": 1}}
    result = evaluate(["q1", "q2"], ranked, DOCS, qrels, ["mrr@2"])
    assert result["mrr@2"] == {"q1": 1.0, "q2": 0.5}


def test_ranked_with_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        evaluate(["q1", "q2"], np.zeros((1, 3), dtype=int), DOCS, {"q1": {"a": 1}}, ["ndcg@3"])


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ndcg@10", ("ndcg", 10)),
        ("  Recall@100 ", ("recall", 100)),
        ("MAP@1", ("map", 1)),
        ("mrr @ 5", ("mrr", 5)),
    ],
)
def test_parse_metric_accepts_canonical_and_sloppy_forms(text, expected):
    assert parse_metric(text) == expected


@pytest.mark.parametrize("bad", ["ndcg", "ndcg@0", "ndcg@x", "foo@10", "ndcg@-1", "ndcg@1.5", "@10", "recall@"])
def test_parse_metric_rejects_bad_names_naming_the_value(bad):
    with pytest.raises(MrlEvalError) as info:
        parse_metric(bad)
    message = str(info.value)
    assert bad in message
    assert "ndcg@K" in message  # lists the valid forms


def test_parse_metrics_canonicalises_dedupes_and_keeps_order():
    assert parse_metrics("ndcg@10, Recall@100,ndcg@10,,mrr@10") == ["ndcg@10", "recall@100", "mrr@10"]
    assert parse_metrics(["MAP@100", "map@100", "precision@5,ndcg@3"]) == ["map@100", "precision@5", "ndcg@3"]
    assert parse_metrics(DEFAULT_METRICS) == list(DEFAULT_METRICS)


@pytest.mark.parametrize("empty", ["", " , ", []])
def test_parse_metrics_rejects_an_empty_spec(empty):
    with pytest.raises(MrlEvalError, match="no metrics"):
        parse_metrics(empty)


def test_parse_metrics_reports_the_bad_entry():
    with pytest.raises(MrlEvalError, match="foo@3"):
        parse_metrics("ndcg@10,foo@3")


def test_max_depth_is_the_largest_k():
    assert max_depth(DEFAULT_METRICS) == 100
    assert max_depth(["mrr@7", "ndcg@3"]) == 7
    with pytest.raises(MrlEvalError):
        max_depth([])


def test_mean():
    assert mean({}) == 0.0
    assert mean({"a": 1.0, "b": 0.0, "c": 0.5}) == pytest.approx(0.5)


# ---------------------------------------------------------------- invariants and random cross-check


def _random_case(seed: int, n_queries: int = 40, n_docs: int = 60, depth: int = 30):
    rng = np.random.default_rng(seed)
    doc_ids = [f"d{i}" for i in rng.permutation(n_docs)]
    query_ids = [f"q{i}" for i in range(n_queries)]
    qrels: dict[str, dict[str, int]] = {}
    for query_id in query_ids[:-3]:  # the last 3 queries have no judgments
        judged = rng.choice(n_docs, size=rng.integers(1, 15), replace=False)
        qrels[query_id] = {doc_ids[j]: int(rng.integers(-1, 4)) for j in judged}
    ranked = np.stack([rng.permutation(n_docs)[:depth] for _ in query_ids])
    n_retrieved = rng.integers(0, depth + 1, size=n_queries)
    ranked[np.arange(depth)[None, :] >= n_retrieved[:, None]] = -1  # ragged tails of padding
    return query_ids, ranked, doc_ids, qrels


@pytest.mark.parametrize("seed", range(5))
def test_values_lie_in_unit_interval_and_recall_never_falls_with_k(seed):
    query_ids, ranked, doc_ids, qrels = _random_case(seed)
    ks = [1, 2, 3, 5, 10, 20, 30, 50]
    metrics = [f"{m}@{k}" for m in SUPPORTED for k in ks]
    result = evaluate(query_ids, ranked, doc_ids, qrels, metrics)
    assert set(result) == set(metrics)
    assert set(result["ndcg@10"]) == set(qrels)
    for per_query in result.values():
        values = np.array(list(per_query.values()))
        assert np.all((values >= 0.0) & (values <= 1.0 + 1e-12))
    recall = np.array([[result[f"recall@{k}"][q] for k in ks] for q in qrels])
    assert np.all(np.diff(recall, axis=1) >= 0)
    assert recall[:, -1].max() > 0  # the case is not degenerate


@pytest.mark.parametrize("seed", range(5))
def test_random_graded_runs_agree_with_pytrec_eval(seed):
    import pytrec_eval

    query_ids, ranked, doc_ids, qrels = _random_case(seed)
    # Distinct descending scores so pytrec_eval's own sort keeps our order.
    run = {
        q: {doc_ids[j]: float(100 - r) for r, j in enumerate(row) if j >= 0}
        for q, row in zip(query_ids, ranked, strict=True)
        if q in qrels
    }
    _assert_agrees_with_pytrec_eval(pytrec_eval, query_ids, ranked, doc_ids, qrels, run)


# ---------------------------------------------------------------- real runs on the test collections (tests/data)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        assert next(reader) == ["query-id", "corpus-id", "score"]
        for query_id, doc_id, score in reader:
            qrels.setdefault(query_id, {})[doc_id] = int(score)
    return qrels


def _read_ids(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _normalise(vectors: np.ndarray, dim: int | None) -> np.ndarray:
    vectors = vectors[:, :dim].astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _real_run(dataset: str, model: str, dim: int | None, depth: int = 100, *, unjudged: int = 0):
    """Top `depth` per query by cosine, ordered by (score desc, doc id desc as a string) like trec_eval.

    `unjudged` drops the judgments of that many queries (every third one), so that queries without judgments are
    exercised on real data too."""
    base = data_path(dataset)
    qrels = _read_qrels(base / "qrels" / "test.tsv")
    for query_id in sorted(qrels)[::3][:unjudged]:
        del qrels[query_id]
    emb = base / "embeddings" / model
    doc_ids = _read_ids(emb / "corpus_ids.txt")
    query_ids = _read_ids(emb / "queries_ids.txt")
    scores = _normalise(np.load(emb / "queries.npy"), dim) @ _normalise(np.load(emb / "corpus.npy"), dim).T
    string_rank = np.argsort(np.argsort(np.array(doc_ids)))  # position of each doc id in string order
    tiebreak = np.broadcast_to(-string_rank, scores.shape)
    order = np.lexsort((tiebreak, -scores), axis=1)[:, :depth]  # last key sorts first
    top_scores = np.take_along_axis(scores, order, axis=1)
    run = {
        q: {doc_ids[j]: float(s) for j, s in zip(row, row_scores, strict=True)}
        for q, row, row_scores in zip(query_ids, order, top_scores, strict=True)
        if q in qrels
    }
    return query_ids, order, doc_ids, qrels, run


def _assert_agrees_with_pytrec_eval(pytrec_eval, query_ids, ranked, doc_ids, qrels, run):
    ours = evaluate(query_ids, ranked, doc_ids, qrels, CROSS_CHECKED)
    theirs = pytrec_eval.RelevanceEvaluator(qrels, TREC_MEASURES).evaluate(run)
    top10 = {q: dict(sorted(docs.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:10]) for q, docs in run.items()}
    theirs_rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    # pytrec_eval only sees runs of judged queries (an empty run still counts, scoring 0)
    assert set(ours["ndcg@10"]) == {q for q in query_ids if qrels.get(q)}
    assert set(theirs) == set(run)
    for name in CROSS_CHECKED:
        for query_id, expected in theirs.items():
            trec = theirs_rr[query_id]["recip_rank"] if name == "mrr@10" else expected[TREC_KEYS[name]]
            assert ours[name][query_id] == pytest.approx(trec, abs=1e-6), (name, query_id)


@pytest.mark.parametrize("dim", [None, 64], ids=["full", "dim64"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(("dataset", "unjudged"), [("scifact-subset", 0), ("cranfield", 0), ("scifact-subset", 40)])
def test_real_runs_agree_with_pytrec_eval(dataset, unjudged, model, dim):
    import pytrec_eval

    query_ids, ranked, doc_ids, qrels, run = _real_run(dataset, model, dim, unjudged=unjudged)
    assert len(qrels) == len(set(query_ids) & set(qrels)) == len(set(query_ids)) - unjudged
    _assert_agrees_with_pytrec_eval(pytrec_eval, query_ids, ranked, doc_ids, qrels, run)


# MiniLM on the full SciFact (nDCG@10 0.6451, MTEB's published 64.51) is checked by
# scripts/check_published_figures.py, which reads the full shared collection (not in tests/data).
