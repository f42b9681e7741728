"""Precision cells against FAISS (the engine whose scoring they follow) on the vectors in tests/data."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest

from mrl_eval.data.collection_files import load_collection
from mrl_eval.errors import UsageError
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.retrieval import tie_key
from mrl_eval.methods import cell_search as C
from mrl_eval.methods import latency as L
from mrl_eval.methods import precision as Q
from tests.conftest import data_path, require
from tests.faiss_oracle import by_tie_rule, disagreements, faiss_index, faiss_search, unit_prefix

faiss = require("faiss", extra="faiss")

MODELS = {"all-minilm-l6-v2": 384, "embeddinggemma-300m": 768}
CASES = [(c, m) for c in ("cranfield", "scifact-subset") for m in MODELS]
# FAISS sums in float32: its scores are within a few 1e-7 of the exact ones here
TOLERANCE = {"float16": 5e-6, "int8": 5e-6}


@cache
def vectors(collection: str, model: str):
    folder = data_path(collection) / "embeddings" / model
    docs = np.load(folder / "corpus.npy", mmap_mode="r")
    queries = np.load(folder / "queries.npy")
    doc_ids = (folder / "corpus_ids.txt").read_text().split()
    query_ids = (folder / "queries_ids.txt").read_text().split()
    return docs, queries, doc_ids, query_ids, tie_key(doc_ids)


@cache
def qrels(collection: str):
    return load_collection(data_path(collection)).qrels


def codec(docs: np.ndarray, dim: int, precision: str) -> Q.Codec:
    return Q.fit_codecs(docs, [(dim, precision)])[(dim, precision)]


# --- parsing and bytes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ["float32"]),
        ("binary,float32,int8,binary", ["float32", "int8", "binary"]),  # PRECISIONS order, each once
        (" Int8 , float16,", ["float16", "int8"]),
    ],
)
def test_parse_precisions(spec, expected):
    assert Q.parse_precisions(spec) == expected


@pytest.mark.parametrize(("spec", "named"), [("float64", "'float64'"), ("int8,int4", "'int4'"), (",", "','")])
def test_parse_precisions_rejects_with_the_choices(spec, named):
    with pytest.raises(UsageError) as err:
        Q.parse_precisions(spec)
    assert "--precisions" in str(err.value) and named in str(err.value)
    assert "float32, float16, int8, binary" in str(err.value)


@pytest.mark.parametrize(
    ("dim", "precision", "expected"),
    [(768, "float32", 3072), (768, "float16", 1536), (768, "int8", 768), (768, "binary", 96), (100, "binary", 13)],
)
def test_bytes_per_vector(dim, precision, expected):
    assert Q.bytes_per_vector(dim, precision) == expected


# --- codes against FAISS's own encoder ----------------------------------------------------------------------------


@pytest.mark.parametrize(("collection", "model"), CASES)
@pytest.mark.parametrize("dim", [64, 100, 384])
def test_int8_ranges_and_codes_are_faiss_sq8(collection, model, dim):
    docs, *_ = vectors(collection, model)
    x = unit_prefix(docs, dim)
    index = faiss_index(x, "int8")
    trained = faiss.vector_to_array(index.sq.trained).reshape(2, dim)  # RS_minmax: vmin, then vdiff
    c = codec(docs, dim, "int8")
    np.testing.assert_array_equal(c.vmin, trained[0])
    np.testing.assert_array_equal(c.vdiff, trained[1])
    codes = c.encode(x)
    np.testing.assert_array_equal(codes, index.sa_encode(x))
    # FAISS's SIMD decoder fuses multiply-adds: the same value to within one float32 rounding
    np.testing.assert_allclose(c.decode(codes), index.sa_decode(codes), rtol=0, atol=2e-7)
    assert codes.min() == 0 and codes.max() == 255  # every dim's corpus minimum and maximum are bucket ends


def test_int8_documents_outside_the_fitted_range_clip_and_never_wrap():
    docs, *_ = vectors("scifact-subset", "embeddinggemma-300m")
    sample = np.array([3, 50, 51, 400])
    c = Q.fit_codecs(docs, [(32, "int8")], calibration_rows=sample)[(32, "int8")]
    x = unit_prefix(docs, 32)
    index = faiss_index(x, "int8", train=x[sample])
    codes = c.encode(x)
    np.testing.assert_array_equal(codes, index.sa_encode(x))
    above, below = x > c.vmin + c.vdiff, x < c.vmin
    assert above.any() and below.any()  # the edge is exercised
    assert np.all(codes[above] == 255) and np.all(codes[below] == 0)
    assert c.describe()["n"] == 4
    # a hand example: range [0.6, 0.8] in both dims; 1.0 clips to 255 (not 255 + 0.2/0.2*255 wrapped), -1 to 0
    hand = Q.Codec("int8", 2, np.array([0.6, 0.6], np.float32), np.array([0.2, 0.2], np.float32))
    np.testing.assert_array_equal(hand.encode(np.array([[1.0, -1.0], [0.6, 0.9]], np.float32)), [[255, 0], [0, 255]])


def test_int8_constant_dim_encodes_to_zero_as_faiss():
    x = np.array([[0.6, 0.5], [0.8, 0.5], [0.0, 0.5]], np.float32)  # the second dim is constant: vdiff 0
    c = Q.Codec("int8", 2, x.min(axis=0), (x.max(axis=0) - x.min(axis=0)).astype(np.float32))
    index = faiss_index(x, "int8")
    np.testing.assert_array_equal(c.encode(x), index.sa_encode(x))
    assert np.all(c.encode(x)[:, 1] == 0) and np.all(c.decode(c.encode(x))[:, 1] == 0.5)


@pytest.mark.parametrize(("collection", "model"), CASES)
def test_float16_codes_are_faiss_fp16_ties_away_from_zero(collection, model):
    docs, *_ = vectors(collection, model)
    for dim in (32, MODELS[model]):
        x = unit_prefix(docs, dim)
        index = faiss_index(x, "float16")
        codes = codec(docs, dim, "float16").encode(x)
        np.testing.assert_array_equal(codes.view(np.uint16), index.sa_encode(x).view(np.uint16))
        np.testing.assert_array_equal(codes.astype(np.float32), index.sa_decode(index.sa_encode(x)))


def test_float16_exact_ties_round_away_from_zero():
    # 1 + 2**-11 lies halfway between the float16 values 1 and 1 + 2**-10; 2**-14 * 1.5 + 2**-25 (subnormal step 2**-24)
    x = np.array([[1 + 2.0**-11, -(1 + 2.0**-11), 1 + 3 * 2.0**-11, 2.0**-24 * 2.5, 0.1]], np.float32)
    got = Q.half_float(x)[0].astype(np.float64)
    assert got[0] == 1 + 2.0**-10 and got[1] == -(1 + 2.0**-10)  # numpy's cast gives 1 and -1 (to even)
    assert got[2] == 1 + 2 * 2.0**-10  # already away from zero when rounding to even
    assert got[3] == 2.0**-24 * 3
    assert got[4] == np.float16(0.1)  # not a tie: nearest


def test_binary_codes_are_packed_sign_bits():
    # (0.5, -0.2, 0, 3) -> bits 1 0 0 1 (0 is not > 0) -> 0b1001_0000 = 144
    c = Q.Codec("binary", 4)
    np.testing.assert_array_equal(c.encode(np.array([[0.5, -0.2, 0.0, 3.0], [0, 0, 0, 0]], np.float32)), [[144], [0]])
    assert c.width == 1 and Q.Codec("binary", 100).width == 13


# --- rankings against FAISS ---------------------------------------------------------------------------------------


def ours_and_faiss(collection: str, model: str, dim: int, precision: str, k: int):
    docs, queries, *_, key = vectors(collection, model)
    ours = C.search_cells(queries, docs, [codec(docs, dim, precision)], k, key)[0]
    n = docs.shape[0]
    scores, ids = faiss_search(unit_prefix(docs, dim), unit_prefix(queries, dim), precision, n)
    return ours, by_tie_rule(scores, ids, key, k)


@pytest.mark.parametrize(("collection", "model"), CASES)
@pytest.mark.parametrize("dim", [32, 64, 256])
def test_binary_rankings_are_faiss_hamming_with_the_tie_rule(collection, model, dim):
    ours, (scores, ids) = ours_and_faiss(collection, model, dim, "binary", 100)
    np.testing.assert_array_equal(ours.doc_index, ids)
    np.testing.assert_array_equal(ours.score, scores)


@pytest.mark.parametrize(("collection", "model"), CASES)
@pytest.mark.parametrize("dim", [32, 128, 384])
@pytest.mark.parametrize("precision", ["float16", "int8"])
def test_float16_and_int8_rankings_and_metrics_are_faiss(collection, model, dim, precision):
    ours, (scores, ids) = ours_and_faiss(collection, model, dim, precision, 100)
    assert disagreements(ours.doc_index, ours.score, ids, scores, TOLERANCE[precision]) == []
    *_, doc_ids, query_ids, _ = vectors(collection, model)
    judged = [i for i, q in enumerate(query_ids) if qrels(collection).get(q)]
    names = ["ndcg@10", "recall@100"]
    mine = M.score_ranking([query_ids[i] for i in judged], ours.doc_index[judged], doc_ids, qrels(collection), names)
    engine = M.score_ranking([query_ids[i] for i in judged], ids[judged], doc_ids, qrels(collection), names)
    for name in names:
        a, b = np.mean(list(mine[name].values())), np.mean(list(engine[name].values()))
        assert a == pytest.approx(b, abs=1e-3), (name, a, b)


def test_int8_query_values_outside_the_corpus_range_are_scored_as_they_are():
    """The query is not encoded (asymmetric distance): a value far outside the corpus range neither clips nor wraps;
    the score is the plain inner product with the decoded documents, as FAISS computes it."""
    docs, queries, *_, key = vectors("scifact-subset", "embeddinggemma-300m")
    c = codec(docs, 64, "int8")
    q = unit_prefix(queries[:5], 64)
    q[:, 1:] *= np.sqrt(1 - 0.9**2) / np.linalg.norm(q[:, 1:], axis=1, keepdims=True)
    q[:, 0] = 0.9  # far above every document's first value; the row stays a unit vector
    q = unit_prefix(q, 64)
    outside = (q > c.vmin + c.vdiff) | (q < c.vmin)
    assert outside[:, 0].all()
    ours = C.search_cells(q, docs, [c], 20, key)[0]
    decoded = c.decode(c.encode(unit_prefix(docs, 64))).astype(np.float64)
    expected = q.astype(np.float64) @ decoded.T
    np.testing.assert_allclose(ours.score, np.take_along_axis(expected, ours.doc_index, axis=1), rtol=0, atol=1e-12)
    scores, ids = faiss_search(unit_prefix(docs, 64), q, "int8", docs.shape[0])
    theirs_s, theirs_i = by_tie_rule(scores, ids, key, 20)
    assert disagreements(ours.doc_index, ours.score, theirs_i, theirs_s, TOLERANCE["int8"]) == []


# --- rankings do not depend on chunking ---------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["float16", "int8", "binary"])
def test_rankings_do_not_depend_on_corpus_chunking(precision):
    docs, queries, *_, key = vectors("cranfield", "embeddinggemma-300m")
    cells = [codec(docs, 64, precision), codec(docs, 768, precision)]
    whole = C.search_cells(queries, docs, cells, 100, key)
    for chunk_size in (1, 37, 257, 1400):
        for got, expected in zip(C.search_cells(queries, docs, cells, 100, key, chunk_size=chunk_size), whole):
            np.testing.assert_array_equal(got.doc_index, expected.doc_index)
            np.testing.assert_array_equal(got.score, expected.score)


def test_a_pair_scores_the_same_in_any_batch():
    rng = np.random.default_rng(0)
    q, x = rng.standard_normal((3, 768)).astype(np.float32), rng.standard_normal((50, 768)).astype(np.float32)
    batch = C.pair_scores(q, np.broadcast_to(x, (3, 50, 768)))
    for i in (0, 2):
        for j in (0, 17, 49):
            assert C.pair_scores(q[i], x[j : j + 1])[0] == batch[i, j] == C.pair_scores(q[i], x[[5, j]])[1]


def test_a_shortlist_too_short_for_the_ties_is_rescored_against_the_whole_corpus():
    # 300 copies of one document tie for every query; k = 10 with a 26-document shortlist cannot hold the tie, so
    # the best 10 by the tie rule (the 10 highest keys among the copies) must come from a full rescoring
    rng = np.random.default_rng(1)
    base = rng.standard_normal(64).astype(np.float32)
    docs = np.vstack([np.tile(base, (300, 1)), rng.standard_normal((200, 64)).astype(np.float32) * 0.1 - base])
    key = rng.permutation(500)
    queries = np.tile(base, (2, 1))
    for precision in ("float16", "int8"):
        ranking = C.search_cells(queries, docs, [codec(docs, 64, precision)], 10, key, chunk_size=64)[0]
        expected = np.argsort(-key[:300], kind="stable")[:10]
        np.testing.assert_array_equal(ranking.doc_index, [expected, expected])
        assert np.all(ranking.score == ranking.score[0, 0])


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 4])
def test_binary_ties_follow_doc_key_descending_across_chunks(chunk_size):
    # six identical docs score 8; keys 2 5 0 4 1 3 for rows 0..5 -> order 1, 3, 5, 0; row 6 (opposite) scores -8
    docs = np.array([[1.0] * 4 + [-1.0] * 4] * 6 + [[-1.0] * 4 + [1.0] * 4], np.float32)
    key = np.array([2, 5, 0, 4, 1, 3, 6])
    cell = Q.Codec("binary", 8)
    got = C.search_cells(docs[:1], docs, [cell], 4, key, chunk_size=chunk_size)[0]
    np.testing.assert_array_equal(got.doc_index, [[1, 3, 5, 0]])
    np.testing.assert_array_equal(got.score, [[8.0] * 4])
    got = C.search_cells(docs[:1], docs, [cell], 7, key, exclude=np.array([3]), chunk_size=chunk_size)[0]
    np.testing.assert_array_equal(got.doc_index, [[1, 5, 0, 4, 2, 6, -1]])
    np.testing.assert_array_equal(got.score, [[8.0] * 5 + [-8.0, -np.inf]])


@pytest.mark.parametrize("precision", ["float16", "int8", "binary"])
def test_exclude_drops_exactly_that_document(precision):
    docs, queries, *_, key = vectors("scifact-subset", "all-minilm-l6-v2")
    cell = codec(docs, 64, precision)
    top = C.search_cells(queries, docs, [cell], 11, key)[0]
    exclude = top.doc_index[:, 0].copy()
    exclude[1] = -1  # query 1 excludes nothing
    got = C.search_cells(queries, docs, [cell], 10, key, exclude=exclude, chunk_size=97)[0]
    np.testing.assert_array_equal(got.doc_index[1], top.doc_index[1, :10])
    np.testing.assert_array_equal(np.delete(got.doc_index, 1, axis=0), np.delete(top.doc_index[:, 1:], 1, axis=0))


def test_k_zero_or_no_documents():
    cell = Q.Codec("binary", 8)
    q = np.ones((2, 8), np.float32)
    assert C.search_cells(q, np.ones((3, 8), np.float32), [cell], 0, np.arange(3))[0].doc_index.shape == (2, 0)
    assert C.search_cells(q, np.ones((0, 8), np.float32), [cell], 10, np.arange(0))[0].doc_index.shape == (2, 0)


def test_popcount_without_bitwise_count_uses_the_lookup_table(monkeypatch):
    codes = np.packbits(np.random.default_rng(0).random((50, 100)) > 0.5, axis=1)
    expected = np.unpackbits(codes, axis=1).sum(axis=1)
    assert np.array_equal(C.popcount(C.bit_words(codes)).sum(axis=1), expected)
    monkeypatch.setattr(C, "_HAS_BITWISE_COUNT", False)  # numpy < 2: bytes and a table
    assert np.array_equal(C.popcount(C.bit_words(codes)).sum(axis=1), expected)


# --- latency and machine ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", Q.PRECISIONS)
def test_scan_latency_is_a_positive_number_of_seconds(precision, monkeypatch):
    docs, queries, *_ = vectors("cranfield", "all-minilm-l6-v2")
    cell = codec(docs, 64, precision)
    seconds = L.scan_latency(queries, docs, cell, repeats=2, n_queries=2)
    assert isinstance(seconds, float) and seconds > 0
    monkeypatch.setattr(L, "SAMPLE_BYTES", 100 * Q.bytes_per_vector(64, precision))  # 100 of 1,400 rows, scaled
    assert L.scan_latency(queries, docs, cell, repeats=2, n_queries=2) > 0


def test_machine_is_json():
    info = L.machine()
    assert {"platform", "processor", "cpu_count", "numpy", "blas"} <= info.keys()
    json.dumps(info)
