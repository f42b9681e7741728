"""The fused scoring kernel (`evaluate/kernel.py`): its shortlists, its rankings, its compile cache.

Oracles: a brute-force float64 top-k (numpy, full score matrix, sorted by score then doc id descending) and the
numpy one-pass path (`tests/reference_search.search_numpy`), which shares no code with the kernel's scoring."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mrl_eval.evaluate import kernel
from mrl_eval.evaluate.retrieval import _prefix_norms, search, tie_key
from tests.conftest import checkout_env
from tests.reference_search import search_numpy


def _float64_scores(queries, docs, dim):
    q = queries[:, :dim].astype(np.float64)
    d = docs[:, :dim].astype(np.float64)
    qn, dn = np.linalg.norm(q, axis=1, keepdims=True), np.linalg.norm(d, axis=1, keepdims=True)
    return (q / np.where(qn > 0, qn, 1)) @ (d / np.where(dn > 0, dn, 1)).T


def _brute_force(queries, docs, ids, dim, k, exclude=None):
    scores = _float64_scores(queries, docs, dim)
    out = []
    for q, row in enumerate(scores):
        allowed = [i for i in range(len(ids)) if exclude is None or i != exclude[q]]
        out.append(sorted(allowed, key=lambda i: (row[i], ids[i]), reverse=True)[:k])
    return np.array(out)


@pytest.fixture
def tied():
    """A corpus with large groups of identical documents (exact ties) and near-duplicates (1 ulp apart)."""
    rng = np.random.default_rng(11)
    docs = rng.standard_normal((700, 40)).astype(np.float32)
    docs[100:160] = docs[5]  # 61 identical documents
    docs[200:210] = np.nextafter(docs[7], np.float32(np.inf))  # 1 ulp from doc 7 in every component
    queries = rng.standard_normal((70, 40)).astype(np.float32)
    queries[:3] = docs[5]
    return queries, docs, [f"d{i:04d}" for i in range(700)]


PLANS = [
    kernel.Plan(threads=1, chunk_rows=700, tile_rows=64, tile_queries=70),
    kernel.Plan(threads=2, chunk_rows=97, tile_rows=64, tile_queries=5),  # chunks and tiles with remainders
    kernel.Plan(threads=2, chunk_rows=256, tile_rows=128, tile_queries=3),
    kernel.Plan(threads=1, chunk_rows=13, tile_rows=13, tile_queries=1),  # no full run of 64 columns at all
]


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: f"t{p.threads}-c{p.chunk_rows}-r{p.tile_rows}-q{p.tile_queries}")
def test_shortlists_hold_the_float32_top_of_every_dim(tied, plan):
    """Every doc clearly inside the float32 top `capacity` is in the heap, nothing clearly outside it is."""
    queries, docs, _ = tied
    dims, capacity = [8, 16, 40], 30
    q = np.ascontiguousarray(queries, np.float32)
    q_inv = np.ascontiguousarray(1.0 / _prefix_norms(q, dims))
    heaps = kernel.new_heaps(len(dims), len(q), capacity)
    exclude = np.full(len(q), -1, np.int64)
    exclude[10] = 3
    kernel.fold_corpus(q, q_inv, docs, dims, heaps=heaps, exclude=exclude, plan=plan)
    for j, dim in enumerate(dims):
        scores = _float64_scores(queries, docs, dim)
        scores[10, 3] = -np.inf
        cand_s, cand_i = kernel.shortlists(heaps, j)
        assert (heaps[2][j] == capacity).all()
        for qi in range(len(q)):
            got = set(cand_i[qi].tolist())
            cut = np.sort(scores[qi])[::-1][capacity - 1]
            assert set(np.flatnonzero(scores[qi] > cut + 1e-5)) <= got, (dim, qi)
            assert not got & set(np.flatnonzero(scores[qi] < cut - 1e-5)), (dim, qi)
            np.testing.assert_allclose(cand_s[qi], scores[qi, cand_i[qi]], atol=1e-5)
        assert 3 not in cand_i[10]


@pytest.mark.parametrize("threads", ["1", "2"])
def test_rankings_equal_brute_force_and_the_numpy_path_with_ties(tied, threads, monkeypatch):
    monkeypatch.setenv("NUMBA_NUM_THREADS", threads)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    queries, docs, ids = tied
    key = tie_key(ids)
    exclude = np.where(np.arange(len(queries)) % 4 == 0, np.arange(len(queries)) * 3, -1)
    for chunk in (None, 50, 333):
        got = search(queries, docs, [4, 12, 40], 20, key, exclude=exclude, chunk_size=chunk)
        ref = search_numpy(queries, docs, [4, 12, 40], 20, key, exclude=exclude, chunk_size=chunk)
        for dim in (4, 12, 40):
            np.testing.assert_array_equal(got[dim].doc_index, _brute_force(queries, docs, ids, dim, 20, exclude))
            np.testing.assert_array_equal(got[dim].doc_index, ref[dim].doc_index)
            np.testing.assert_array_equal(got[dim].score, ref[dim].score)


def test_the_identical_group_ranks_by_doc_id_descending(tied):
    queries, docs, ids = tied
    top = search(queries[:1], docs, [40], 12, tie_key(ids))[40].doc_index[0]
    assert [ids[i] for i in top] == sorted([ids[5], *ids[100:160]], reverse=True)[:12]


@pytest.mark.parametrize("dataset", ["scifact-subset", "cranfield"])
def test_real_vectors_rank_as_the_numpy_path(dataset):
    from mrl_eval.data.vectors import load_vectors
    from tests.conftest import data_path

    vectors = load_vectors(data_path(dataset) / "embeddings" / "embeddinggemma-300m")
    dims = [32, 64, 96, 128, 256, 384, 512, 768]  # K = 8
    key = tie_key(vectors.doc_ids)
    got = search(vectors.queries, vectors.docs, dims, 100, key)
    ref = search_numpy(vectors.queries, vectors.docs, dims, 100, key)
    for dim in dims:
        np.testing.assert_array_equal(got[dim].doc_index, ref[dim].doc_index, err_msg=f"dim {dim}")


def test_float16_memory_map_scores_as_the_float32_copy(tmp_path, tied):
    queries, docs, ids = tied
    path = tmp_path / "corpus.npy"
    np.save(path, docs.astype(np.float16))
    mapped = np.load(path, mmap_mode="r")
    got = search(queries, mapped, [8, 40], 15, tie_key(ids))
    ref = search(queries, np.asarray(mapped, np.float32), [8, 40], 15, tie_key(ids))
    for dim in (8, 40):
        np.testing.assert_array_equal(got[dim].doc_index, ref[dim].doc_index)


def test_threads_follow_the_cpus_and_the_thread_variables(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
        assert kernel.thread_count(10_000) == 1
        monkeypatch.delenv(name)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "")
    assert kernel.thread_count(10_000) == len(os.sched_getaffinity(0))
    assert kernel.thread_count(kernel.MIN_QUERIES_PER_THREAD - 1) == 1  # too few queries to split


PROBE = """
import json, numpy as np
from mrl_eval.evaluate import kernel
nb, _ = kernel.compiled()
print(json.dumps({"hits": sum(nb.fold_segment.stats.cache_hits.values()), "misses": sum(nb.fold_segment.stats.cache_misses.values())}))
"""


def test_the_kernel_is_compiled_once_and_loaded_from_the_cache_after(tmp_path):
    env = checkout_env(NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    runs = [
        json.loads(
            subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        for _ in range(2)
    ]
    assert runs[0]["misses"] >= 1 and runs[0]["hits"] == 0  # compiled, and written to the cache
    assert runs[1]["hits"] >= 1 and runs[1]["misses"] == 0  # loaded, not compiled again
    assert any((tmp_path / "cache").rglob("*.nbi"))


DAMAGED = """
import numpy as np
from mrl_eval.evaluate.retrieval import search, tie_key
docs = np.eye(6, dtype=np.float32) + 0.1
print(search(docs, docs, [3, 6], 2, tie_key(list("abcdef")))[6].doc_index[:, 0].tolist())
"""


def test_a_damaged_kernel_cache_is_rebuilt_with_a_warning(tmp_path):
    env = checkout_env(NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    first = subprocess.run([sys.executable, "-c", DAMAGED], env=env, capture_output=True, text=True, check=True)
    files = sorted((tmp_path / "cache").rglob("*.nbc"))
    assert files
    for path in files:
        path.write_bytes(b"\x80\x04garbage" + path.read_bytes()[:50])
    second = subprocess.run([sys.executable, "-c", DAMAGED], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout == "[0, 1, 2, 3, 4, 5]\n"
    assert "cache of the scoring kernel" in second.stderr and "compiled it again" in second.stderr
    assert "Traceback" not in second.stderr


def test_no_queries_and_fewer_docs_than_k(tied):
    _, docs, ids = tied
    none = search(np.zeros((0, 40), np.float32), docs, [8, 40], 5, tie_key(ids))
    assert none[40].doc_index.shape == (0, 5)
    few = search(docs[:2], docs[:3], [8, 40], 10, tie_key(ids[:3]))
    np.testing.assert_array_equal(few[40].doc_index, _brute_force(docs[:2], docs[:3], ids[:3], 40, 10))
