from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrl_eval.data import cache as C
from mrl_eval.data import cache_files as F
from mrl_eval.data.cache import VectorCache, embed_cached
from mrl_eval.errors import MrlEvalError


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


def test_a_torn_write_is_never_read_and_a_stale_one_is_removed(tmp_path):
    provider = FakeProvider()
    store = VectorCache(tmp_path, provider, "document")
    torn = store.dir / ".0123.npz.abcd.tmp"  # as if killed before the rename
    torn.write_bytes(b"PK\x03\x04 half a shard")
    vectors, n = embed_cached(FakeProvider(), TEXTS[:10], "document", tmp_path)
    assert n == 10 and torn.exists()  # young: it may be a live writer's
    os.utime(torn, (1, 1))
    VectorCache(tmp_path, provider, "document")
    assert not torn.exists()


def test_a_provider_returning_nan_caches_nothing(tmp_path):
    class Broken(FakeProvider):
        def embed(self, texts, role):
            return np.full((len(texts), 8), np.nan, np.float32)

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


# Damaged files: each kind is discarded with a warning naming the file, its texts are embedded again, and the
# vectors equal those of an undamaged cache


def _shard_with(path: Path, keys: np.ndarray, vectors: np.ndarray) -> Path:
    """A well-formed shard holding `keys` and `vectors`, named by its own checksum (so only the content checks
    can catch what is wrong with it)."""
    buf = io.BytesIO()
    np.savez(buf, keys=keys, vectors=vectors)
    data = buf.getvalue()
    path.unlink()
    named = path.with_name(hashlib.sha256(data).hexdigest()[: F.NAME_HEX] + F.SHARD_SUFFIX)
    named.write_bytes(data)
    return named


def _damage_shard(path: Path, kind: str) -> Path:
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbled":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 16]) + data[middle + 16 :])
    elif kind == "non-utf8":
        path.write_bytes(b"\xff\xfe\xfa not a shard \x80\x81" * 20)
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        with np.load(path) as npz:
            keys, vectors = npz["keys"], npz["vectors"].copy()
        if kind == "nan":
            vectors[1, 3] = np.nan
        elif kind == "zeroed-valid":
            vectors[:] = np.inf
        elif kind == "wrong-shape":  # (a consistent width of its own is caught beside other shards, below)
            vectors = vectors.reshape(-1)
        elif kind == "wrong-rows":
            vectors = vectors[:-1]
        elif kind == "wrong-dtype":
            vectors = vectors.astype(np.float64)
        elif kind == "bad-keys":
            keys = np.array([b"x" * 64] * len(keys), dtype="S64")
        return _shard_with(path, keys, vectors)
    return path


SHARD_DAMAGE = ["truncated", "garbled", "non-utf8", "empty", "nan", "zeroed-valid", "wrong-shape", "wrong-rows",
                "wrong-dtype", "bad-keys"]  # fmt: skip


@pytest.mark.parametrize("kind", SHARD_DAMAGE)
def test_a_damaged_shard_is_discarded_with_a_warning_and_its_texts_embedded_again(tmp_path, kind):
    texts = TEXTS[:30]
    embed_cached(FakeProvider(), texts, "document", tmp_path, dtype="float32")
    store = VectorCache(tmp_path, FakeProvider(), "document")
    for matrix in store.dir.glob("matrix-*.npy"):
        matrix.unlink()  # so the shards are read
    shard = sorted(store.dir.glob("*.npz"))[0]
    damaged = _damage_shard(shard, kind)
    again = FakeProvider()
    with pytest.warns(C.CacheWarning, match=f"damaged cache file {re.escape(str(damaged))}"):
        vectors, n = embed_cached(again, texts, "document", tmp_path)
    assert n == 30  # FLUSH_TEXTS is 500: the one shard held every text
    for shard in store.dir.glob("*.npz"):  # the damaged one was removed (the new one may have its name)
        F.read_shard(shard, np.dtype("float32"))
    clean, _ = embed_cached(FakeProvider(), texts, "document", tmp_path / "clean")
    np.testing.assert_array_equal(vectors, clean)
    assert np.isfinite(vectors).all()


def test_a_shard_of_another_width_is_discarded(tmp_path):
    embed_cached(FakeProvider(), TEXTS[:20], "document", tmp_path)
    embed_cached(FakeProvider(), TEXTS[20:30], "document", tmp_path)
    store = VectorCache(tmp_path, FakeProvider(), "document")
    for matrix in store.dir.glob("matrix-*.npy"):
        matrix.unlink()
    small = min(store.dir.glob("*.npz"), key=lambda p: p.stat().st_size)
    with np.load(small) as npz:
        keys, vectors = npz["keys"], npz["vectors"]
    wide = _shard_with(small, keys, np.concatenate([vectors, vectors], axis=1))
    with pytest.warns(C.CacheWarning, match=re.escape(wide.name)):
        vectors, n = embed_cached(FakeProvider(), TEXTS[:30], "document", tmp_path)
    assert n == 10
    clean, _ = embed_cached(FakeProvider(), TEXTS[:30], "document", tmp_path / "clean")
    np.testing.assert_array_equal(vectors, clean)


@pytest.mark.parametrize("kind", ["zeroed", "truncated", "garbled", "extended", "nan", "wrong-shape"])
def test_a_damaged_matrix_is_discarded_with_a_warning_and_assembled_again(tmp_path, kind):
    texts = TEXTS[:40]
    clean, _ = embed_cached(FakeProvider(), texts, "document", tmp_path)
    clean = np.array(clean)
    (matrix,) = tmp_path.rglob("matrix-*.npy")
    data = bytearray(matrix.read_bytes())
    header = len(data) - clean.nbytes
    if kind == "zeroed":
        data[header:] = bytes(len(data) - header)
    elif kind == "truncated":
        del data[len(data) // 2 :]
    elif kind == "garbled":
        data[header + 100 : header + 108] = b"\x7f" * 8
    elif kind == "extended":
        data += b"\0" * 64
    elif kind == "nan":
        data[header : header + 4] = np.float32(np.nan).tobytes()
    else:  # a well-formed .npy of another shape under the right checksum
        buf = io.BytesIO()
        np.save(buf, clean[:-1])
        data = bytearray(buf.getvalue())
        matrix.unlink()
        matrix = matrix.with_name(matrix.stem.rsplit("-", 1)[0] + f"-{hashlib.sha256(data).hexdigest()[:40]}.npy")
    matrix.write_bytes(bytes(data))
    provider = FakeProvider()
    with pytest.warns(C.CacheWarning, match=f"damaged cache file {re.escape(str(matrix))}"):
        vectors, n = embed_cached(provider, texts, "document", tmp_path)
    assert n == 0 and provider.calls == 0  # the shards were sound: only the matrix was assembled again
    np.testing.assert_array_equal(vectors, clean)
    for again in matrix.parent.glob("matrix-*.npy"):  # the damaged one was replaced by a sound one
        F.read_matrix(again, len(texts), np.dtype("float32"))


def test_a_damaged_file_in_a_read_only_place_is_skipped_not_scored(tmp_path, monkeypatch):
    embed_cached(FakeProvider(), TEXTS[:10], "document", tmp_path)
    (matrix,) = tmp_path.rglob("matrix-*.npy")
    matrix.write_bytes(matrix.read_bytes()[:-4] + b"\0\0\0\0")

    def cannot_unlink(self, missing_ok=False):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(C.Path, "unlink", cannot_unlink)
    monkeypatch.setattr(F, "_temp", _raise(errno.EROFS))
    # it cannot write the new matrix either: a clear error, never a score from the damaged one
    with pytest.warns(C.CacheWarning, match="not read; it is assembled again"), pytest.raises(MrlEvalError):
        embed_cached(FakeProvider(), TEXTS[:10], "document", tmp_path)


def test_a_cache_in_the_old_format_is_ignored_with_one_warning(tmp_path):
    provider = FakeProvider()
    old = tmp_path / "fake" / "m-document-0123456789abcdef"
    old.mkdir(parents=True)
    np.save(old / "000000.npy", np.zeros((2, 8), np.float32))
    (old / "000000.keys").write_text("\n".join(C.text_key(t) for t in TEXTS[:2]) + "\n")
    with pytest.warns(C.CacheWarning, match=f"{re.escape(str(old))} is a cache in the old format"):
        vectors, n = embed_cached(provider, TEXTS[:2], "document", tmp_path)
    assert n == 2 and np.abs(vectors).sum() > 0


# Writes that fail: a clear MrlEvalError naming the folder


def _raise(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize(
    ("code", "message"),
    [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "not writable"), (errno.EACCES, "not writable")],
)
def test_a_failed_write_is_a_clear_error_and_leaves_no_temporary_file(tmp_path, monkeypatch, code, message):
    embed_cached(FakeProvider(), TEXTS[:5], "document", tmp_path)  # the folder and meta.json exist
    monkeypatch.setattr(F, "_fill", _raise(code))
    with pytest.raises(
        MrlEvalError, match=f"cannot write the embedding cache in {re.escape(str(tmp_path))}.*{message}"
    ):
        embed_cached(FakeProvider(), TEXTS[:20], "document", tmp_path)
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_cache_dir_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(MrlEvalError, match="cannot write the embedding cache"):
        embed_cached(FakeProvider(), TEXTS[:5], "document", tmp_path / "file")


def test_a_read_only_cache_dir_is_a_clear_error_and_a_complete_one_is_still_read(tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir(mode=0o555)
    try:
        (probe / "x").touch()
        pytest.skip("this user writes into read-only folders anyway (root with CAP_DAC_OVERRIDE)")
    except PermissionError:
        pass
    embed_cached(FakeProvider(), TEXTS[:5], "document", tmp_path)
    for folder in [tmp_path, *tmp_path.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o555)
    try:
        _, n = embed_cached(FakeProvider(), TEXTS[:5], "document", tmp_path)
        assert n == 0
        with pytest.raises(MrlEvalError, match="not writable"):
            embed_cached(FakeProvider(), TEXTS[:6], "document", tmp_path)
    finally:
        for folder in [tmp_path, *tmp_path.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o755)


def test_no_texts_give_an_empty_matrix_and_write_none(tmp_path):
    vectors, n = embed_cached(FakeProvider(), [], "document", tmp_path)
    assert vectors.shape[0] == 0 and n == 0 and not list(tmp_path.rglob("matrix-*"))


# Fuzz: whatever bytes a shard file holds, reading it either gives its true keys or raises Damaged


def _valid_shard_bytes() -> tuple[bytes, list[str]]:
    keys = [C.text_key(t) for t in TEXTS[:4]]
    buf = io.BytesIO()
    np.savez(buf, keys=np.array(keys, dtype="S64"), vectors=np.ones((4, 8), np.float32))
    return buf.getvalue(), keys


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=1500), st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=8))))
def test_any_bytes_in_a_shard_read_as_its_true_keys_or_as_damaged(damage):
    data, keys = _valid_shard_bytes()
    if isinstance(damage, tuple):  # overwrite a few bytes of a valid shard
        at, patch = damage[0] % len(data), damage[1]
        data = data[:at] + patch + data[at + len(patch) :]
    else:
        data = damage
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("0" * F.NAME_HEX + F.SHARD_SUFFIX)
        path.write_bytes(data)
        with contextlib.suppress(F.Damaged):
            assert F.read_shard_keys(path, np.dtype("float32")) == keys
        with pytest.raises(F.Damaged):  # the name is not its checksum
            F.read_shard(path, np.dtype("float32"))
