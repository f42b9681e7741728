from __future__ import annotations

import json
import math
from functools import cache

import numpy as np
import pytest

from mrl_eval.errors import UsageError
from mrl_eval.evaluate.retrieval import tie_key
from mrl_eval.methods import precision as Q
from tests.conftest import SHARED

GEMMA = SHARED / "scifact" / "embeddings" / "embeddinggemma-300m"
QUERY_SAMPLE = slice(0, 300, 6)  # 50 of the 300 queries keep the brute-force references quick


@cache
def gemma():
    """scifact embedded with embeddinggemma-300m: (5183, 768) float16 corpus (memory map), 300 queries, tie keys."""
    if not (GEMMA / "corpus.npy").is_file():
        pytest.skip(f"shared embeddings not available at {GEMMA}")
    docs = np.load(GEMMA / "corpus.npy", mmap_mode="r")
    queries = np.load(GEMMA / "queries.npy", mmap_mode="r")[QUERY_SAMPLE]
    doc_ids = (GEMMA / "corpus_ids.txt").read_text().split()
    return docs, queries, tie_key(doc_ids)


@cache
def gemma_codes(precision: str, dim: int) -> Q.Quantized:
    docs, queries, _ = gemma()
    return Q.quantize_prefix(docs, queries, dim, precision)


def normalised(x: np.ndarray, dim: int) -> np.ndarray:
    """Independent reference: prefix / its norm in float64, then float32."""
    p = np.asarray(x[:, :dim], dtype=np.float64)
    return (p / np.linalg.norm(p, axis=1, keepdims=True)).astype(np.float32)


# --- parse_precisions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ["float32"]),
        ("float32", ["float32"]),
        ("binary,float32,int8,binary", ["float32", "int8", "binary"]),  # PRECISIONS order, each once
        (" Int8 , float16,", ["float16", "int8"]),
        ("binary,float16,int8,float32", list(Q.PRECISIONS)),
    ],
)
def test_parse_precisions(spec, expected):
    assert Q.parse_precisions(spec) == expected


@pytest.mark.parametrize(
    ("spec", "named"), [("float64", "'float64'"), ("int8,int4", "'int4'"), ("", "''"), (",", "','")]
)
def test_parse_precisions_rejects_with_the_choices(spec, named):
    with pytest.raises(UsageError) as err:
        Q.parse_precisions(spec)
    message = str(err.value)
    assert "--precisions" in message and named in message
    assert "float32, float16, int8, binary" in message


# --- bytes accounting ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dim", "precision", "expected"),
    [
        (768, "float32", 3072),  # 4 * 768
        (768, "float16", 1536),  # 2 * 768
        (768, "int8", 768),
        (768, "binary", 96),  # 768 / 8
        (100, "binary", 13),  # ceil(100 / 8) = 12.5 -> 13
        (1, "binary", 1),
    ],
)
def test_bytes_per_vector(dim, precision, expected):
    assert Q.bytes_per_vector(dim, precision) == expected


@pytest.mark.parametrize("precision", Q.PRECISIONS)
@pytest.mark.parametrize("dim", [100, 768])
def test_codes_take_bytes_per_vector_per_row(precision, dim):
    docs, queries, _ = gemma()
    z = Q.quantize_prefix(docs[:200], queries, dim, precision)
    assert z.precision == precision and z.dim == dim
    assert z.docs.shape[0] == 200 and z.queries.shape[0] == queries.shape[0]
    assert z.docs.nbytes // 200 == z.queries.nbytes // queries.shape[0] == Q.bytes_per_vector(dim, precision)


# --- round trips --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [64, 768])
def test_float32_codes_are_the_normalised_prefix(dim):
    docs, queries, _ = gemma()
    z = gemma_codes("float32", dim)
    assert z.docs.dtype == np.float32 and z.calibration == {}
    np.testing.assert_array_equal(z.docs, normalised(docs, dim))
    np.testing.assert_array_equal(z.queries, normalised(queries, dim))


@pytest.mark.parametrize("dim", [64, 768])
def test_float16_round_trip_within_half_an_ulp(dim):
    docs, queries, _ = gemma()
    z = gemma_codes("float16", dim)
    for codes, x in ((z.docs, normalised(docs, dim)), (z.queries, normalised(queries, dim))):
        assert codes.dtype == np.float16
        # round to nearest: relative error <= 2**-11 for normal float16, absolute <= 2**-25 in the subnormal range
        error = np.abs(codes.astype(np.float64) - x)
        assert np.all(error <= 2.0**-11 * np.abs(x) + 2.0**-25)


@pytest.mark.parametrize("dim", [64, 768])
def test_int8_dequantises_within_one_step_of_the_corpus_values(dim):
    docs, _, _ = gemma()
    z = gemma_codes("int8", dim)
    x = normalised(docs, dim)
    lo, hi = x.min(axis=0), x.max(axis=0)
    np.testing.assert_array_equal(z.ranges, np.vstack((lo, hi)))
    assert z.calibration["fit_on"] == "corpus" and z.calibration["n"] == docs.shape[0]
    json.dumps(z.calibration)
    step = (hi - lo) / 255
    dequantised = lo + (z.docs.astype(np.float64) + 128) * step
    assert np.all(np.abs(x - dequantised) <= step * (1 + 1e-4))
    assert z.docs.min() == -128  # every dim's corpus minimum lands in the lowest bucket


def test_int8_matches_sentence_transformers_with_the_corpus_as_calibration():
    docs, queries, _ = gemma()
    z = gemma_codes("int8", 64)
    quantize, library = Q._quantize_embeddings()
    assert library.startswith("sentence-transformers ")
    x = normalised(docs, 64)
    np.testing.assert_array_equal(z.docs, quantize(x, precision="int8", calibration_embeddings=x))
    np.testing.assert_array_equal(
        z.queries, quantize(normalised(queries, 64), precision="int8", calibration_embeddings=x)
    )


def test_int8_calibration_rows_fit_the_ranges_on_those_rows_only():
    docs, queries, _ = gemma()
    rows = np.array([4000, 7, 2500, 7, 123])
    z = Q.quantize_prefix(docs, queries, 32, "int8", calibration_rows=rows)
    x = normalised(docs[[7, 123, 2500, 4000]], 32)
    np.testing.assert_array_equal(z.ranges, np.vstack((x.min(axis=0), x.max(axis=0))))
    assert z.calibration["fit_on"] == "corpus sample" and z.calibration["n"] == 4  # distinct rows
    assert z.docs.shape == (docs.shape[0], 32)


def test_int8_query_values_outside_the_corpus_range_clip():
    # corpus rows (0.6, 0.8) and (0.8, 0.6) are unit vectors: both dims range over [0.6, 0.8]
    docs = np.array([[0.6, 0.8], [0.8, 0.6]], np.float32)
    # query (1, 0): 1 > 0.8 clips to the top bucket 255 - 128 = 127; 0 < 0.6 clips to 0 - 128 = -128
    queries = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    z = Q.quantize_prefix(docs, queries, 2, "int8")
    np.testing.assert_array_equal(z.queries, [[127, -128], [-128, 127]])
    assert z.docs[0, 0] == z.docs[1, 1] == -128  # the corpus minimum 0.6 is bucket 0


@pytest.mark.parametrize("dim", [64, 100, 768])
def test_binary_bits_are_the_signs_of_the_normalised_prefix(dim):
    docs, queries, _ = gemma()
    z = Q.quantize_prefix(docs[:500], queries, dim, "binary")
    for codes, x in ((z.docs, normalised(docs[:500], dim)), (z.queries, normalised(queries, dim))):
        bits = np.unpackbits(codes, axis=1)
        np.testing.assert_array_equal(bits[:, :dim], x > 0)
        assert not bits[:, dim:].any()  # padding bits are zero


def test_binary_hand_example_and_zero_rows():
    # (0.5, -0.2, 0, 3) -> bits 1 0 0 1 (0 is not > 0) -> 0b1001_0000 = 144; an all-zero row stays zero (no NaN)
    docs = np.array([[0.5, -0.2, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    z = Q.quantize_prefix(docs, docs[:1], 4, "binary")
    np.testing.assert_array_equal(z.docs, [[144], [0]])
    np.testing.assert_array_equal(Q.quantize_prefix(docs, docs, 4, "float16").docs[1], [0, 0, 0, 0])


# --- scores -------------------------------------------------------------------------------------------------------


def test_binary_score_is_dim_minus_twice_hamming():
    dim = 10
    q = np.array([[0xFF, 0xC0]], np.uint8)  # bits 11111111 11
    docs = np.array(
        [
            [0xFF, 0xC0],  # identical: hamming 0 -> 10
            [0xAA, 0x80],  # 10101010 10: 4 + 1 differing bits -> 10 - 2 * 5 = 0
            [0x00, 0x00],  # all bits differ: hamming 10 -> -10
        ],
        np.uint8,
    )
    np.testing.assert_array_equal(Q.scores(q, docs, "binary", dim), [[10.0, 0.0, -10.0]])


def test_int8_scores_are_the_integer_dot_product():
    rng = np.random.default_rng(3)
    q = rng.integers(-128, 128, (4, 1024)).astype(np.int8)
    d = rng.integers(-128, 128, (6, 1024)).astype(np.int8)
    q[0], d[0] = -128, -128  # 1024 * (-128)**2 = 2**24, the largest magnitude
    d[1] = 127  # with q[0]: 1024 * -128 * 127 = -16646144
    expected = [[sum(int(a) * int(b) for a, b in zip(qi, di)) for di in d] for qi in q]
    got = Q.scores(q, d, "int8", 1024)
    assert got[0, 0] == 2**24 and got[0, 1] == -16646144
    np.testing.assert_array_equal(got, np.array(expected, np.float64))
    # hand example: 127 * -128 + (-128) * (-128) + 3 * 5 = -16256 + 16384 + 15 = 143
    assert Q.scores(np.array([[127, -128, 3]], np.int8), np.array([[-128, -128, 5]], np.int8), "int8", 3)[0, 0] == 143


@pytest.mark.parametrize("precision", ["float16", "int8", "binary"])
def test_scores_do_not_depend_on_blocking(precision):
    z = gemma_codes(precision, 768)
    full = Q.scores(z.queries, z.docs, precision, 768)
    n = z.docs.shape[0]
    for bounds in ([0, 1, 2, 1000, n], [0, 37, 38, 4096, n], [0, n - 3, n]):
        parts = [Q.scores(z.queries, z.docs[a:b], precision, 768) for a, b in zip(bounds, bounds[1:])]
        assert np.array_equal(np.concatenate(parts, axis=1), full)
    perm = np.random.default_rng(0).permutation(n)
    assert np.array_equal(Q.scores(z.queries, z.docs[perm], precision, 768), full[:, perm])
    single = np.vstack([Q.scores(z.queries[i : i + 1], z.docs, precision, 768) for i in (5, 0, 17)])
    assert np.array_equal(single, full[[5, 0, 17]])


def test_binary_scores_without_bitwise_count_use_the_lookup_table(monkeypatch):
    z = gemma_codes("binary", 100)
    expected = Q.scores(z.queries, z.docs[:300], "binary", 100)
    monkeypatch.setattr(Q, "_HAS_BITWISE_COUNT", False)  # numpy < 2
    assert np.array_equal(Q.scores(z.queries, z.docs[:300], "binary", 100), expected)
    assert Q.scan_latency(z.queries, z.docs, "binary", 100, repeats=1, n_queries=1) > 0


def test_float16_scores_are_the_exact_dot_product():
    z = gemma_codes("float16", 64)
    # math.fsum is correctly rounded: equal to the float64 sum only because that sum is exact
    q, d = z.queries[:3].astype(np.float64), z.docs[:40].astype(np.float64)
    expected = np.array([[math.fsum(qi * di) for di in d] for qi in q])
    assert np.array_equal(Q.scores(z.queries[:3], z.docs[:40], "float16", 64), expected)


# --- rank ---------------------------------------------------------------------------------------------------------


def reference_scores(z: Q.Quantized) -> np.ndarray:
    """Independent of `scores`: float64 / int64 products, binary as +-1 vectors."""
    if z.precision == "int8":
        return (z.queries.astype(np.int64) @ z.docs.astype(np.int64).T).astype(np.float64)
    if z.precision == "binary":
        q, d = (np.unpackbits(c, axis=1)[:, : z.dim].astype(np.int64) * 2 - 1 for c in (z.queries, z.docs))
        return (q @ d.T).astype(np.float64)
    return z.queries.astype(np.float64) @ z.docs.astype(np.float64).T


def brute_force(score: np.ndarray, doc_key: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((-np.broadcast_to(doc_key, score.shape), -score), axis=1)[:, :k]
    return order, np.take_along_axis(score, order, axis=1)


@pytest.mark.parametrize("precision", Q.PRECISIONS)
@pytest.mark.parametrize("dim", [64, 768])
def test_rank_equals_a_whole_corpus_sort(precision, dim):
    _, _, key = gemma()
    z = gemma_codes(precision, dim)
    k = 100
    expected_i, expected_s = brute_force(reference_scores(z), key, k)
    if precision == "binary" and dim == 64:
        # the point of this case: scores are even integers in [-64, 64], so ties straddle the k-th place
        assert (expected_s[:, -1] == np.sort(reference_scores(z), axis=1)[:, -k - 1]).sum() > 10
    for chunk_size in (None, 50, 257, 5183):
        got = Q.rank(z.queries, z.docs, precision, dim, k, key, chunk_size=chunk_size)
        assert got.doc_index.shape == got.score.shape == (z.queries.shape[0], k)
        if precision == "float32":
            # not exact by construction: equal up to float64 rounding, order may differ only within it
            np.testing.assert_allclose(got.score, expected_s, rtol=0, atol=1e-12)
            ref = reference_scores(z)
            assert np.all(np.abs(np.take_along_axis(ref, got.doc_index, axis=1) - expected_s) <= 1e-12)
        else:
            np.testing.assert_array_equal(got.doc_index, expected_i)
            np.testing.assert_array_equal(got.score, expected_s)


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 4])
def test_rank_ties_follow_doc_key_descending_across_chunks(chunk_size):
    # six identical binary docs all score 8 against the query; doc_key decides: keys 2 5 0 4 1 3 for rows 0..5,
    # so the order is row 1 (key 5), row 3 (4), row 5 (3), row 0 (2), row 4 (1), row 2 (0); row 6 scores -8
    docs = np.array([[0xF0]] * 6 + [[0x0F]], np.uint8)
    key = np.array([2, 5, 0, 4, 1, 3, 6])
    q = np.array([[0xF0]], np.uint8)
    got = Q.rank(q, docs, "binary", 8, 4, key, chunk_size=chunk_size)
    np.testing.assert_array_equal(got.doc_index, [[1, 3, 5, 0]])
    np.testing.assert_array_equal(got.score, [[8.0, 8.0, 8.0, 8.0]])
    # k larger than n: min(k, n) = 7 columns, the dissimilar row 6 last despite its highest key
    got = Q.rank(q, docs, "binary", 8, 50, key, chunk_size=chunk_size)
    np.testing.assert_array_equal(got.doc_index, [[1, 3, 5, 0, 4, 2, 6]])
    np.testing.assert_array_equal(got.score, [[8.0] * 6 + [-8.0]])
    # excluding row 3, with k = n: one document fewer can be ranked, so the last column is padding
    got = Q.rank(q, docs, "binary", 8, 7, key, exclude=np.array([3]), chunk_size=chunk_size)
    np.testing.assert_array_equal(got.doc_index, [[1, 5, 0, 4, 2, 6, -1]])
    np.testing.assert_array_equal(got.score, [[8.0] * 5 + [-8.0, -np.inf]])


@pytest.mark.parametrize("precision", ["float16", "int8", "binary"])
def test_rank_exclude_drops_exactly_that_document(precision):
    _, _, key = gemma()
    z = gemma_codes(precision, 64)
    score = reference_scores(z)
    top_i, _ = brute_force(score, key, 11)
    exclude = top_i[:, 0].copy()
    exclude[1] = -1  # query 1 excludes nothing
    got = Q.rank(z.queries, z.docs, precision, 64, 10, key, exclude=exclude, chunk_size=333)
    np.testing.assert_array_equal(got.doc_index[1], top_i[1, :10])
    np.testing.assert_array_equal(np.delete(got.doc_index, 1, axis=0), np.delete(top_i[:, 1:], 1, axis=0))


def test_rank_with_k_zero_or_no_documents():
    q = np.zeros((2, 1), np.uint8)
    assert Q.rank(q, np.zeros((3, 1), np.uint8), "binary", 8, 0, np.arange(3)).doc_index.shape == (2, 0)
    assert Q.rank(q, np.zeros((0, 1), np.uint8), "binary", 8, 10, np.arange(0)).doc_index.shape == (2, 0)


# --- latency and machine ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", Q.PRECISIONS)
def test_scan_latency_is_a_positive_number_of_seconds(precision):
    z = gemma_codes(precision, 64)
    seconds = Q.scan_latency(z.queries, z.docs, precision, 64, k=10, repeats=2, n_queries=2)
    assert isinstance(seconds, float) and seconds > 0


def test_machine_is_json():
    info = Q.machine()
    assert {"platform", "processor", "cpu_count", "numpy", "blas"} <= info.keys()
    assert info["numpy"] == np.__version__
    json.dumps(info)
