from __future__ import annotations

import numpy as np
import pytest

from mrl_eval.evaluate.retrieval import search, tie_key


def _reference(queries, docs, doc_ids, dim, k):
    """Brute force: re-normalised prefix, full score matrix, sort by (score desc, doc id desc)."""
    q = queries[:, :dim] / np.linalg.norm(queries[:, :dim], axis=1, keepdims=True)
    d = docs[:, :dim] / np.linalg.norm(docs[:, :dim], axis=1, keepdims=True)
    scores = (q @ d.T).astype(np.float32)
    out = []
    for row in scores:
        order = sorted(range(len(doc_ids)), key=lambda i: (row[i], doc_ids[i]), reverse=True)
        out.append(order[:k])
    return np.array(out), scores


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    docs = rng.standard_normal((300, 48)).astype(np.float32)
    docs[[10, 20, 30]] = docs[40]  # four identical documents: exact score ties
    queries = rng.standard_normal((12, 48)).astype(np.float32)
    queries[0] = docs[40]
    doc_ids = [str(i) for i in range(300)]
    return queries, docs, doc_ids


@pytest.mark.parametrize("chunk_size", [None, 7, 64])
def test_every_dim_matches_brute_force_including_ties(data, chunk_size):
    queries, docs, doc_ids = data
    rankings = search(queries, docs, [8, 24, 48], 15, tie_key(doc_ids), chunk_size=chunk_size)
    for dim in (8, 24, 48):
        expected, scores = _reference(queries, docs, doc_ids, dim, 15)
        np.testing.assert_array_equal(rankings[dim].doc_index, expected)
        got = np.take_along_axis(scores, rankings[dim].doc_index, axis=1)
        np.testing.assert_allclose(rankings[dim].score, got, atol=1e-5)


def test_ties_are_broken_by_doc_id_descending_as_strings(data):
    queries, docs, doc_ids = data
    ranking = search(queries[:1], docs, [48], 4, tie_key(doc_ids))
    # docs 10, 20, 30, 40 are identical and equal to the query; string order descending: "40" > "30" > "20" > "10"
    assert [doc_ids[i] for i in ranking[48].doc_index[0]] == ["40", "30", "20", "10"]
    ids = ["9", "10", "100", "2"]  # string order, not numeric: "9" > "2" > "100" > "10"
    same = np.ones((4, 3), np.float32)
    got = search(np.ones((1, 3), np.float32), same, [3], 4, tie_key(ids))[3].doc_index[0]
    assert [ids[i] for i in got] == ["9", "2", "100", "10"]


def test_full_dim_reproduces_the_untruncated_ranking(data):
    queries, docs, doc_ids = data
    full = search(queries, docs, [48], 20, tie_key(doc_ids))[48]
    swept = search(queries, docs, [4, 16, 48], 20, tie_key(doc_ids))[48]
    np.testing.assert_array_equal(full.doc_index, swept.doc_index)


def test_shuffling_the_corpus_changes_no_ranking(data):
    queries, docs, doc_ids = data
    perm = np.random.default_rng(1).permutation(len(doc_ids))
    a = search(queries, docs, [16, 48], 25, tie_key(doc_ids))
    shuffled_ids = [doc_ids[i] for i in perm]
    b = search(queries, docs[perm], [16, 48], 25, tie_key(shuffled_ids), chunk_size=50)
    for dim in (16, 48):
        assert [[doc_ids[i] for i in row] for row in a[dim].doc_index] == [
            [shuffled_ids[i] for i in row] for row in b[dim].doc_index
        ]


def test_scores_are_cosines_of_renormalised_prefixes():
    # the prefix (3, 4) of (3, 4, 100) has norm 5: cosine with (1, 0) is 3/5, whatever the tail holds
    docs = np.array([[3.0, 4.0, 100.0], [1.0, 0.0, 0.0]], np.float32)
    ranking = search(np.array([[1.0, 0.0, 0.0]], np.float32), docs, [2], 2, tie_key(["a", "b"]))[2]
    assert ranking.doc_index[0].tolist() == [1, 0]
    np.testing.assert_allclose(ranking.score[0], [1.0, 0.6], atol=1e-6)


def test_zero_prefix_scores_zero_not_nan():
    docs = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]], np.float32)
    ranking = search(np.array([[1.0, 0.0, 0.0]], np.float32), docs, [2], 2, tie_key(["a", "b"]))[2]
    assert np.isfinite(ranking.score).all()
    assert ranking.doc_index[0].tolist() == [1, 0]


def test_excluded_doc_is_never_retrieved_and_pads_with_minus_one():
    docs = np.eye(3, dtype=np.float32)
    queries = docs.copy()
    ranking = search(queries, docs, [3], 3, tie_key(["a", "b", "c"]), exclude=np.array([0, 1, -1]))[3]
    assert 0 not in ranking.doc_index[0] and 1 not in ranking.doc_index[1]
    assert ranking.doc_index[0, -1] == -1 and ranking.doc_index[2, 0] == 2


def test_k_larger_than_corpus_returns_every_doc():
    docs = np.eye(4, dtype=np.float32)
    ranking = search(docs[:1], docs, [4], 100, tie_key(list("abcd")))[4]
    assert ranking.doc_index.shape == (1, 4)
    assert sorted(ranking.doc_index[0].tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize("chunk_size", [None, 500])
def test_one_pass_equals_the_per_dim_path_on_synthetic_ties(data, chunk_size):
    from tests.reference_search import search_per_dim

    queries, docs, doc_ids = data
    key = tie_key(doc_ids)
    one = search(queries, docs, [8, 24, 48], 30, key, chunk_size=chunk_size)
    per = search_per_dim(queries, docs, [8, 24, 48], 30, key, chunk_size=chunk_size)
    for dim in (8, 24, 48):
        np.testing.assert_array_equal(one[dim].doc_index, per[dim].doc_index)


@pytest.mark.parametrize("dataset", ["scifact-subset", "cranfield"])
@pytest.mark.parametrize("model", ["all-minilm-l6-v2", "embeddinggemma-300m"])
def test_one_pass_gives_exactly_the_rankings_of_the_per_dim_path_on_real_data(dataset, model):
    """Both models on both test collections (Cranfield's two empty documents, 471 and 995, share one vector); the
    synthetic tests above and below make large tie groups on purpose."""
    from mrl_eval.data.vectors import load_vectors
    from tests.conftest import data_path
    from tests.reference_search import search_per_dim

    vectors = load_vectors(data_path(dataset) / "embeddings" / model)
    dims = [32, 64, 128, 256, vectors.full_dim] if vectors.full_dim > 256 else [32, 64, 128, vectors.full_dim]
    key = tie_key(vectors.doc_ids)
    one = search(vectors.queries, vectors.docs, dims, 100, key, chunk_size=1000)
    per = search_per_dim(vectors.queries, vectors.docs, dims, 100, key)
    for dim in dims:
        np.testing.assert_array_equal(one[dim].doc_index, per[dim].doc_index, err_msg=f"dim {dim}")


def test_a_tie_group_larger_than_the_shortlist_still_ranks_by_doc_id():
    # 300 identical documents all tie for first place; the float32 shortlist (k + margin) can hold only some of
    # them, so the exact stage must notice and rescore the whole corpus: the 10 highest doc ids must win.
    rng = np.random.default_rng(3)
    docs = rng.standard_normal((1000, 16)).astype(np.float32)
    docs[:300] = docs[0]
    ids = [f"doc{i:04d}" for i in range(1000)]
    query = docs[:1].copy()
    for chunk_size in (None, 64):
        ranking = search(query, docs, [8, 16], 10, tie_key(ids), chunk_size=chunk_size)
        for dim in (8, 16):
            assert [ids[i] for i in ranking[dim].doc_index[0]] == [f"doc{i:04d}" for i in range(299, 289, -1)]
    excluded = search(query, docs, [16], 10, tie_key(ids), exclude=np.array([299]))[16]
    assert [ids[i] for i in excluded.doc_index[0]] == [f"doc{i:04d}" for i in range(298, 288, -1)]
