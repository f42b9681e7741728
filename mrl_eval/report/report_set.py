"""A set of report files replaced whole or not at all (the `.json`, `.md`, `.csv`, `.html`, charts and
`.losses.csv` of one run; the TREC run files of `--save-runs`).

Renaming files one by one is not atomic as a set, and readers open plain files by their plain names, so the set is
written in three steps:

1. Staging: every file is written into a hidden folder next to the target, `.<stem>.new-<pid>-<random>/`. The
   visible files are not touched; a failure (an error, a full disk, Ctrl-C) removes the folder and leaves the old
   set as it was.
2. Journal: once the staged set is complete, `.<stem>.swap` (written atomically) records the staging folder and its
   file names. From here on the new set is the one that counts.
3. Swap: each staged file is renamed over its visible name (`os.replace`, atomic per file), then the files of the
   old set that the new one lacks (say a `.pareto.png` of an earlier grid run) are removed; then the journal.

A kill during step 3 leaves the journal. The next write of that set first finishes the swap from the journal (roll
forward: the staged set is complete). Reading a report never changes the folder: between the kill and that next
write a reader may find a mix of the two sets, and the journal marks it. Staging folders of a process that is no
longer running (killed in step 1) are removed at the next write. A lock file (`.<stem>.lock`, its owner's pid
inside; stale when that process is gone) keeps two runs from swapping the same set at once.

The journal is a file in a folder others may write (a committed `reports/`), so it is trusted for nothing: it may
name only a staging folder of this set's own pattern directly inside the folder, and only files of this set;
anything else is refused with a message before anything is moved or removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from mrl_eval.errors import MrlEvalError
from mrl_eval.files import FILE_MODE, json_text, read_limited, write_atomic
from mrl_eval.limits import MAX_JOURNAL_BYTES

REPORT_SUFFIXES = (
    ".json",
    ".csv",
    ".md",
    ".html",
    ".png",
    ".svg",
    ".losses.csv",
    ".deltas.png",
    ".deltas.svg",
    ".pareto.png",
    ".pareto.svg",
    ".growth.png",
    ".growth.svg",
)
_STAGING = re.compile(r"\.(?P<stem>.+)\.new-(?P<pid>\d+)-[0-9a-f]+")


Suffixes = tuple[str, ...] | re.Pattern[str]


def is_member(name: str, stem: str, suffixes: Suffixes) -> bool:
    """Whether `name` is one of the set's files: the stem and exactly one known suffix."""
    if not name.startswith(stem + "."):
        return False
    rest = name[len(stem) :]
    return bool(suffixes.fullmatch(rest)) if isinstance(suffixes, re.Pattern) else rest in suffixes


def members(folder: Path, stem: str, suffixes: Suffixes) -> list[Path]:
    """The files of the set in `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if is_member(p.name, stem, suffixes) and not p.is_dir())


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) is not a probe: assume alive
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or a number no process can have
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _read_journal(folder: Path, stem: str, suffixes: Suffixes) -> tuple[Path, list[str]]:
    """The staging folder and the file names a journal records, each checked to be this set's own: a staging
    folder of the set's pattern directly inside `folder`, a real folder holding plain files, and only files of
    the set. Anything else is an MrlEvalError, raised before anything is touched."""
    journal = folder / f".{stem}.swap"
    fix = f"nothing was changed; delete {journal} if no mrl-eval is writing the {stem} reports, and rerun"
    try:
        data = read_limited(journal, MAX_JOURNAL_BYTES, what="a report-swap journal", fix=fix)
        entry = json.loads(data.decode("utf-8"))
        staging, names = entry["staging"], entry["files"]
    except (ValueError, KeyError, TypeError, IndexError, OSError, RecursionError) as err:
        raise MrlEvalError(f"{journal}: an unreadable report-swap journal ({err}); {fix}") from err
    found = _STAGING.fullmatch(staging) if isinstance(staging, str) else None
    if found is None or found["stem"] != stem:
        raise MrlEvalError(
            f"{journal}: names {json.dumps(staging)[:80]} as its staging folder, which is not one of the {stem} "
            f"set's (.{stem}.new-<pid>-<hex>, directly inside {folder}); {fix}"
        )
    if not isinstance(names, list):
        raise MrlEvalError(f"{journal}: its files should be a list of names, not {json.dumps(names)[:80]}; {fix}")
    for name in names:
        if not (isinstance(name, str) and is_member(name, stem, suffixes) and Path(name).name == name):
            raise MrlEvalError(
                f"{journal}: names {json.dumps(name)[:80]} among its files, which is not a file of the {stem} set; "
                f"{fix}"
            )
    if not names:
        raise MrlEvalError(f"{journal}: names no files (a set always has some); {fix}")
    staged = folder / staging
    if staged.is_symlink() or not staged.is_dir():  # a real journal's staging folder outlives it
        raise MrlEvalError(f"{journal}: its staging folder {staged} is missing or not a folder; {fix}")
    for name in names:
        path = staged / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise MrlEvalError(f"{journal}: the staged {path} is not a plain file; {fix}")
    return staged, names


def recover(folder: Path, stem: str, suffixes: Suffixes = REPORT_SUFFIXES) -> None:
    """Before a write of the set: finish a swap a kill interrupted (from its journal, checked first), and remove
    staging folders of dead processes. Only ever called by a writer; reading a report touches nothing."""
    journal = folder / f".{stem}.swap"
    if journal.exists() or journal.is_symlink():
        try:
            with _lock(folder, stem):
                if journal.exists() or journal.is_symlink():
                    staged, names = _read_journal(folder, stem, suffixes)
                    _swap(folder, staged, names, stem, suffixes)
                    journal.unlink(missing_ok=True)
                    shutil.rmtree(staged, ignore_errors=True)
        except _Busy:
            pass  # a live process holds the set and finishes its own swap
    if journal.exists() or journal.is_symlink():
        return  # a journal another process holds (or refused above): its staging folder is not stale
    for path in folder.glob(f".{glob_escape(stem)}.new-*"):
        found = _STAGING.fullmatch(path.name)
        if found and found["stem"] == stem and not path.is_symlink() and not _alive(int(found["pid"])):
            shutil.rmtree(path, ignore_errors=True)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _swap(folder: Path, staged: Path, names: list[str], stem: str, suffixes: Suffixes) -> None:
    for name in names:
        if (staged / name).exists():
            os.replace(staged / name, folder / name)
    keep = set(names)
    for path in folder.iterdir():
        if path.name not in keep and is_member(path.name, stem, suffixes) and path.is_file():
            path.unlink(missing_ok=True)


class _Busy(MrlEvalError):
    """Another live mrl-eval holds the set's lock."""


def _owner(path: Path) -> int:
    """The pid a lock file holds; 0 when it holds none that can be read (a stale or foreign lock)."""
    try:
        text = read_limited(path, 64, what="a report lock file", fix="").decode("ascii").strip()
        return int(text) if text.isdigit() else 0
    except (OSError, ValueError, MrlEvalError):
        return 0


@contextlib.contextmanager
def _lock(folder: Path, stem: str) -> Iterator[None]:
    path = folder / f".{stem}.lock"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        except FileExistsError:
            owner = _owner(path)
            if owner > 0 and _alive(owner):
                raise _Busy(
                    f"{folder}: another mrl-eval (pid {owner}) is writing the {stem} reports; wait for it, or pass "
                    "another --out DIR"
                ) from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(str(os.getpid()))
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


class ReportSet:
    """Stage files with `path(name)` / `write_text(name, text)` inside `with ReportSet(...) as files:`; leaving the
    block normally swaps the set in, an exception removes the staging folder and leaves the old set untouched.
    `claim(existing files of the set)` may refuse (raise) before anything is staged: whose set it is
    (`report.ownership`)."""

    def __init__(
        self,
        folder: Path,
        stem: str,
        suffixes: Suffixes = REPORT_SUFFIXES,
        claim: Callable[[list[Path]], None] | None = None,
    ):
        self.folder, self.stem, self.suffixes, self.claim = folder, stem, suffixes, claim
        self.staging = folder / f".{stem}.new-{os.getpid()}-{secrets.token_hex(4)}"
        self.names: list[str] = []
        self.written: list[Path] = []

    def path(self, name: str) -> Path:
        if not is_member(name, self.stem, self.suffixes):
            raise ValueError(f"{name} is not a file of the {self.stem} set")  # a bug, not user input
        self.names.append(name)
        return self.staging / name

    def write_text(self, name: str, text: str) -> None:
        self.path(name).write_text(text, encoding="utf-8")

    def __enter__(self) -> ReportSet:
        self.folder.mkdir(parents=True, exist_ok=True)
        recover(self.folder, self.stem, self.suffixes)
        if self.claim is not None:  # whether the set there may be replaced: checked before anything is staged
            self.claim(members(self.folder, self.stem, self.suffixes))
        self.staging.mkdir()
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        try:
            self._commit()
        except BaseException:
            if not (self.folder / f".{self.stem}.swap").exists():
                shutil.rmtree(self.staging, ignore_errors=True)
            raise

    def _commit(self) -> None:
        for name in self.names:
            os.chmod(self.staging / name, FILE_MODE)
        journal = self.folder / f".{self.stem}.swap"
        with _lock(self.folder, self.stem):
            entry = {"staging": self.staging.name, "files": self.names}
            write_atomic(journal, json_text(entry, what=str(journal), indent=None))
            _swap(self.folder, self.staging, self.names, self.stem, self.suffixes)
            journal.unlink(missing_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.written = [self.folder / name for name in self.names]
