from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mrl_eval.data import cache as C
from mrl_eval.data.cache import VectorCache, embed_cached


class FakeProvider:
    """Deterministic vectors from each text's hash; counts the texts it is asked to embed."""

    name = "fake"
    full_dim = 8

    def __init__(self, model="m", fingerprint="f1", prompt="", fail_on_call=None):
        self.model, self.fingerprint, self._prompt = model, fingerprint, prompt
        self.embedded: list[str] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def prompt(self, role):
        return self._prompt

    def embed(self, texts, role):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt
        self.embedded += list(texts)
        seeds = [int(hashlib.sha256((self._prompt + t).encode()).hexdigest()[:8], 16) for t in texts]
        return np.stack([np.random.default_rng(s).standard_normal(8) for s in seeds]).astype(np.float32)


TEXTS = [f"text number {i} " + "x" * (i % 17) for i in range(1200)]


@pytest.fixture(autouse=True)
def small_flush(monkeypatch):
    monkeypatch.setattr(C, "FLUSH_TEXTS", 500)


def test_second_run_makes_no_model_calls(tmp_path):
    first = FakeProvider()
    a, n_a = embed_cached(first, TEXTS, "document", tmp_path)
    second = FakeProvider()
    b, n_b = embed_cached(second, TEXTS, "document", tmp_path)
    assert (n_a, n_b, second.calls) == (1200, 0, 0)
    np.testing.assert_array_equal(a, b)


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        embed_cached(FakeProvider(fail_on_call=2), TEXTS, "document", tmp_path / "a")
    resumed = FakeProvider()
    vectors, n = embed_cached(resumed, TEXTS, "document", tmp_path / "a")
    assert n == 700 and len(resumed.embedded) == 700  # the first 500 were written before the interruption
    clean, _ = embed_cached(FakeProvider(), TEXTS, "document", tmp_path / "b")
    np.testing.assert_array_equal(vectors, clean)


@pytest.mark.parametrize(
    "other", [FakeProvider(prompt="query: "), FakeProvider(fingerprint="f2"), FakeProvider(model="m2")]
)
def test_another_prompt_or_model_never_reuses_vectors(tmp_path, other):
    embed_cached(FakeProvider(), TEXTS[:10], "document", tmp_path)
    _, n = embed_cached(other, TEXTS[:10], "document", tmp_path)
    assert n == 10


def test_roles_are_cached_apart(tmp_path):
    embed_cached(FakeProvider(), TEXTS[:10], "document", tmp_path)
    _, n = embed_cached(FakeProvider(), TEXTS[:10], "query", tmp_path)
    assert n == 10


def test_duplicate_texts_are_embedded_once_and_rows_keep_order(tmp_path):
    provider = FakeProvider()
    texts = ["b", "a", "b", "c", "a"]
    vectors, n = embed_cached(provider, texts, "document", tmp_path)
    assert n == 3 and sorted(provider.embedded) == ["a", "b", "c"]
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[1], vectors[4])
    assert not np.array_equal(vectors[0], vectors[1])


def test_a_torn_shard_without_keys_is_ignored(tmp_path):
    provider = FakeProvider()
    embed_cached(provider, TEXTS[:10], "document", tmp_path)
    store = VectorCache(tmp_path, provider, "document")
    np.save(store.dir / "000099.npy", np.zeros((3, 8), np.float32))  # as if killed before the keys were renamed in
    vectors, n = embed_cached(FakeProvider(), TEXTS[:10], "document", tmp_path)
    assert n == 0 and np.abs(vectors).sum() > 0


def test_a_provider_returning_nan_caches_nothing(tmp_path):
    class Broken(FakeProvider):
        def embed(self, texts, role):
            return np.full((len(texts), 8), np.nan, np.float32)

    from mrl_eval.errors import MrlEvalError

    with pytest.raises(MrlEvalError, match="NaN"):
        embed_cached(Broken(), TEXTS[:5], "document", tmp_path)
    assert VectorCache(tmp_path, FakeProvider(), "document").missing(C.text_key(t) for t in TEXTS[:5])


def test_float16_cache_is_its_own_namespace_and_halves_the_bytes(tmp_path):
    v32, _ = embed_cached(FakeProvider(), TEXTS[:50], "document", tmp_path)
    v16, n = embed_cached(FakeProvider(), TEXTS[:50], "document", tmp_path, dtype="float16")
    assert n == 50  # float32 vectors are never served as float16 or back
    assert v32.dtype == np.float32 and v16.dtype == np.float16
    np.testing.assert_allclose(v16.astype(np.float32), v32, rtol=1e-3, atol=1e-3)


def test_gathered_vectors_are_a_reused_memory_map(tmp_path):
    a, _ = embed_cached(FakeProvider(), TEXTS[:30], "document", tmp_path)
    assert isinstance(a, np.memmap) and not a.flags.writeable
    matrices = list(tmp_path.rglob("matrix-*.npy"))
    assert len(matrices) == 1
    before = matrices[0].stat().st_mtime_ns
    b, _ = embed_cached(FakeProvider(), TEXTS[:30], "document", tmp_path)
    assert matrices[0].stat().st_mtime_ns == before  # assembled once, then read again
    np.testing.assert_array_equal(a, b)


def test_unknown_cache_dtype_is_a_usage_error(tmp_path):
    from mrl_eval.errors import UsageError

    with pytest.raises(UsageError, match="--cache-dtype"):
        embed_cached(FakeProvider(), TEXTS[:3], "document", tmp_path, dtype="int8")


@pytest.mark.parametrize(
    ("max_len", "device", "expected"), [(256, "cpu", 32), (512, "cpu", 16), (8192, "cpu", 8), (128, "cuda:0", 256)]
)
def test_batch_size_follows_the_model_max_length(max_len, device, expected):
    from mrl_eval.providers.sentence_transformers import auto_batch_size

    assert auto_batch_size(max_len, device) == expected
