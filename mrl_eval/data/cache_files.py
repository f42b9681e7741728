"""The embedding cache's files: atomic writes, self-checking shards and matrices, the assembly lock.

Every file is written to a temporary name in its folder, synced and renamed into place, so a reader sees a
complete file or none. A shard is ONE ``.npz`` holding a batch's text keys and their vectors together, named by
the sha256 of its bytes: two writers can never pair one's keys with the other's rows, the name is its checksum,
and the zip's per-member CRC32 guards the keys that are read on their own. An assembled matrix is a plain ``.npy``
(memory-mapped for scoring) whose name ends with the sha256 of its bytes. A file that fails a check raises
`Damaged`; a write that fails (read-only folder, full disk) raises `MrlEvalError` naming the folder and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from mrl_eval.errors import MrlEvalError

SHARD_SUFFIX = ".npz"
NAME_HEX = 40  # hex digits of the sha256 kept in a file name
TMP_SUFFIX = ".tmp"
STALE_TMP_S = 3600  # a temporary file untouched this long belongs to a killed writer, not a slow one
CHUNK_BYTES = 1 << 24
_KEY = re.compile(rb"[0-9a-f]{64}")


class Damaged(Exception):
    """A cache file that fails a check; the message says which check."""


def write_error(path: Path, err: OSError) -> MrlEvalError:
    """A failed write as the user sees it: which folder, why, and what to do."""
    where = path if path.is_dir() else path.parent
    if err.errno == errno.ENOSPC:
        why = "the disk is full"
        fix = "Free some space (what was cached so far is kept) or pass --cache-dir on another disk."
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "the folder is not writable"
        fix = "Pass --cache-dir with a writable folder, or fix its permissions."
    else:
        why = err.strerror or type(err).__name__
        fix = "Pass --cache-dir with another folder."
    return MrlEvalError(f"cannot write the embedding cache in {where}: {why} ({err.strerror or err}). {fix}")


def _fill(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` and sync it (the one place bytes reach the disk; tests make it fail)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def _reserve(fd: int, size: int) -> None:
    """Claim `size` bytes now, so a full disk is an OSError here rather than a SIGBUS in a memory map later."""
    if size and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):  # a file system that cannot say
                raise


def _temp(folder: Path, name: str) -> tuple[int, Path]:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=TMP_SUFFIX)
    return fd, Path(tmp)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, sync it and rename it into place."""
    tmp: Path | None = None
    try:
        fd, tmp = _temp(path.parent, path.name)
        try:
            _fill(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise write_error(path, err) from err
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: Path, now: float | None = None) -> None:
    """Delete temporary files a killed writer left (untouched for STALE_TMP_S); a live writer's are younger."""
    now = time.time() if now is None else now
    for tmp in folder.glob(f".*{TMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > STALE_TMP_S:
                tmp.unlink()


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive flock on ``folder/lock``. The kernel drops it when its holder exits, even on kill -9, so a lock
    is never stale. Without fcntl (Windows) nothing is locked: writes stay atomic, work may just be done twice."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = folder / "lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise write_error(path, err) from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# Shards


def write_shard(folder: Path, keys: Sequence[str], vectors: np.ndarray) -> Path:
    """One shard (keys and rows in one file), named by the sha256 of its bytes."""
    buf = io.BytesIO()
    np.savez(buf, keys=np.array(keys, dtype="S64"), vectors=vectors)
    data = buf.getvalue()
    path = folder / f"{hashlib.sha256(data).hexdigest()[:NAME_HEX]}{SHARD_SUFFIX}"
    atomic_write(path, data)
    return path


def _check_keys(keys: np.ndarray) -> list[str]:
    if keys.dtype != np.dtype("S64") or keys.ndim != 1:
        raise Damaged(f"keys are {keys.dtype} of shape {keys.shape}, not one 64-character hash per row")
    if not all(_KEY.fullmatch(k) for k in keys.tolist()):
        raise Damaged("a key is not a sha256 hex digest")
    return [k.decode("ascii") for k in keys.tolist()]


def _check_rows(shape: tuple[int, ...], dtype: np.dtype, n_keys: int, want: np.dtype) -> None:
    if len(shape) != 2 or shape[0] != n_keys or shape[1] < 1 or dtype != want:
        raise Damaged(f"vectors are {dtype} of shape {shape}, not {want} with {n_keys} rows")


def _open_npz(source: Path | io.BytesIO) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(source)
    if sorted(archive.namelist()) != ["keys.npy", "vectors.npy"]:
        archive.close()
        raise Damaged("not a cache shard (it should hold keys.npy and vectors.npy)")
    return archive


def _read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(name) as fh:  # reading to the end checks the member's CRC32
        return np.lib.format.read_array(fh, allow_pickle=False)


@contextlib.contextmanager
def _guarded(what: str) -> Iterator[None]:
    """Turn whatever a damaged file makes numpy or zipfile raise into `Damaged` (a vanished file stays itself:
    another process removed it)."""
    try:
        yield
    except (Damaged, FileNotFoundError):
        raise
    # zipfile raises NotImplementedError for an unknown compression byte and RuntimeError for an "encrypted" flag;
    # a header claiming a huge array makes numpy raise MemoryError (found by the fuzz test)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError, RuntimeError,
            struct.error, zlib.error, OverflowError, MemoryError) as err:  # fmt: skip
        raise Damaged(f"{what}: {type(err).__name__}: {err}") from err


def read_shard_keys(path: Path, dtype: np.dtype) -> list[str]:
    """A shard's keys (CRC-checked) after checking that its rows' header matches them; not the rows."""
    with _guarded("unreadable"), _open_npz(path) as archive:
        keys = _check_keys(_read_member(archive, "keys.npy"))
        with archive.open("vectors.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in read_header:
                raise Damaged(f"vectors are in .npy format {version}, which mrl-eval does not write")
            shape, fortran, found = read_header[version](fh)
        if fortran:
            raise Damaged("vectors are stored in Fortran order")
        _check_rows(shape, found, len(keys), dtype)
        return keys


def read_shard(path: Path, dtype: np.dtype) -> tuple[list[str], np.ndarray]:
    """A shard's keys and rows, after checking its bytes against its name and that every value is finite."""
    with _guarded("unreadable"):
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest()[:NAME_HEX] != path.stem:
            raise Damaged("its bytes do not match the checksum in its name")
        with _open_npz(io.BytesIO(data)) as archive:
            keys = _check_keys(_read_member(archive, "keys.npy"))
            vectors = _read_member(archive, "vectors.npy")
    _check_rows(vectors.shape, vectors.dtype, len(keys), dtype)
    if not np.isfinite(vectors).all():
        raise Damaged("it holds NaN or infinite values")
    return keys, vectors


# Assembled matrices


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()[:NAME_HEX]


def read_matrix(path: Path, n_rows: int, dtype: np.dtype) -> np.ndarray:
    """A read-only memory map of an assembled matrix, after checking its bytes against the checksum in its name."""
    with _guarded("unreadable"):
        if _file_sha(path) != path.stem.rsplit("-", 1)[-1]:
            raise Damaged("its bytes do not match the checksum in its name")
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    _check_rows(matrix.shape, matrix.dtype, n_rows, dtype)
    return matrix


def write_matrix(
    folder: Path,
    stem: str,
    pieces: Iterator[tuple[np.ndarray, np.ndarray]],
    *,
    shape: tuple[int, int],
    dtype: np.dtype,
) -> Path:
    """Assemble a matrix from (row positions, rows) pieces into ``<stem>-<sha256>.npy``, atomically."""
    header = io.BytesIO()
    descr = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(header, descr)
    head = header.getvalue()
    tmp: Path | None = None
    try:
        fd, tmp = _temp(folder, stem)
        try:
            _reserve(fd, len(head) + shape[0] * shape[1] * dtype.itemsize)
            _fill(fd, head)
        finally:
            os.close(fd)
        if shape[0] and shape[1]:
            out = np.memmap(tmp, dtype=dtype, mode="r+", offset=len(head), shape=shape)
            for rows, values in pieces:
                out[rows] = values
            out.flush()
            del out
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        path = folder / f"{stem}-{_file_sha(tmp)}.npy"
        os.replace(tmp, path)
        return path
    except OSError as err:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise write_error(folder, err) from err
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
