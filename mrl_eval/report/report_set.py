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

A kill during step 3 leaves the journal. The next write of that set, and any read by mrl-eval (`--from`, `compare`),
first finishes the swap from the journal (roll forward: the staged set is complete), so mrl-eval never reads a mix;
between the kill and that next use a plain reader of the folder may see one, and the journal marks it. Staging
folders of a process that is no longer running (killed in step 1) are removed at the next write. A lock file
(`.<stem>.lock`, its owner's pid inside; stale when that process is gone) keeps two runs from swapping the same set
at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from mrl_eval.errors import MrlEvalError
from mrl_eval.files import FILE_MODE, write_atomic

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


def is_member(name: str, stem: str, suffixes: tuple[str, ...] | re.Pattern[str]) -> bool:
    """Whether `name` is one of the set's files: the stem and exactly one known suffix."""
    if not name.startswith(stem + "."):
        return False
    rest = name[len(stem) :]
    return bool(suffixes.fullmatch(rest)) if isinstance(suffixes, re.Pattern) else rest in suffixes


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) is not a probe: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def recover(folder: Path, stem: str, suffixes: tuple[str, ...] | re.Pattern[str] = REPORT_SUFFIXES) -> None:
    """Finish a swap a kill interrupted (from its journal), and remove staging folders of dead processes."""
    journal = folder / f".{stem}.swap"
    if journal.is_file():
        try:
            entry = json.loads(journal.read_text(encoding="utf-8"))
            staged, names = folder / str(entry["staging"]), [str(n) for n in entry["files"]]
        except (ValueError, KeyError, TypeError, OSError) as err:
            raise MrlEvalError(
                f"{journal}: an unreadable report-swap journal ({err}); delete it and rerun the command"
            ) from err
        try:
            with _lock(folder, stem):
                if journal.is_file():
                    _swap(folder, staged, names, stem, suffixes)
                    journal.unlink(missing_ok=True)
        except MrlEvalError:
            return  # a live process holds the set and finishes its own swap
        shutil.rmtree(staged, ignore_errors=True)
    for path in folder.glob(f".{glob_escape(stem)}.new-*"):
        found = _STAGING.fullmatch(path.name)
        if found and found["stem"] == stem and not _alive(int(found["pid"])):
            shutil.rmtree(path, ignore_errors=True)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _swap(folder: Path, staged: Path, names: list[str], stem: str, suffixes: tuple[str, ...] | re.Pattern[str]) -> None:
    for name in names:
        if (staged / name).exists():
            os.replace(staged / name, folder / name)
    keep = set(names)
    for path in folder.iterdir():
        if path.name not in keep and is_member(path.name, stem, suffixes) and path.is_file():
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def _lock(folder: Path, stem: str) -> Iterator[None]:
    path = folder / f".{stem}.lock"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        except FileExistsError:
            try:
                owner = int(path.read_text(encoding="utf-8").strip() or "0")
            except (OSError, ValueError):
                owner = 0
            if owner and _alive(owner):
                raise MrlEvalError(
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
    block normally swaps the set in, an exception removes the staging folder and leaves the old set untouched."""

    def __init__(self, folder: Path, stem: str, suffixes: tuple[str, ...] | re.Pattern[str] = REPORT_SUFFIXES):
        self.folder, self.stem, self.suffixes = folder, stem, suffixes
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
            write_atomic(journal, json.dumps({"staging": self.staging.name, "files": self.names}))
            _swap(self.folder, self.staging, self.names, self.stem, self.suffixes)
            journal.unlink(missing_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.written = [self.folder / name for name in self.names]
