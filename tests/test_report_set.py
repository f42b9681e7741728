"""A set of reports is replaced whole or not at all: a failure while writing any file leaves the old set as it was,
a kill in the middle of the swap is finished by the next run (or read), and staging folders of killed runs are
cleaned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mrl_eval.errors import MrlEvalError
from mrl_eval.report.document import load_report, write_reports
from mrl_eval.report.model import Report
from mrl_eval.report.report_set import ReportSet
from mrl_eval.report.schema import parse_document
from tests.conftest import checkout_env
from tests.helpers import minimal_report as _minimal_report

STEM = "tiny__vec"


def _report(**overrides: object) -> Report:
    return parse_document(_minimal_report(**overrides), Path("run.json"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], env=checkout_env(), capture_output=True, text=True
    )
    return int(proc.stdout)


@pytest.fixture
def old_set(tmp_path) -> Path:
    folder = tmp_path / "reports"
    write_reports(_report(command="old run"), folder, plots=False)
    return folder


def test_a_set_is_written_with_plain_files_and_nothing_else(old_set):
    names = sorted(p.name for p in old_set.iterdir())
    assert names == [f"{STEM}{s}" for s in (".csv", ".html", ".json", ".md")]
    assert all(p.is_file() and not p.is_symlink() for p in old_set.iterdir())
    assert json.loads((old_set / f"{STEM}.json").read_text(encoding="utf-8"))["command"] == "old run"


@pytest.mark.parametrize(
    "error", [RuntimeError("renderer bug"), OSError(28, "No space left on device"), KeyboardInterrupt()]
)
def test_bug_a_failure_in_the_middle_of_the_set_leaves_the_old_set_untouched(old_set, monkeypatch, error):
    before = _snapshot(old_set)

    def fail(*args: object, **kwargs: object) -> str:
        raise error

    monkeypatch.setattr("mrl_eval.report.document.to_html", fail)  # the last file of the set: JSON, CSV, MD are staged
    expected = MrlEvalError if isinstance(error, OSError) else type(error)
    with pytest.raises(expected):
        write_reports(_report(command="new run"), old_set, plots=False)
    assert _snapshot(old_set) == before  # same files, same bytes, no staging folder left


def test_a_new_set_removes_the_files_the_old_set_had_and_it_lacks(old_set):
    (old_set / f"{STEM}.pareto.png").write_bytes(b"from an earlier grid run")
    (old_set / "other__run.json").write_text("{}", encoding="utf-8")  # another run's set: not touched
    write_reports(_report(command="new run"), old_set, plots=False)
    assert not (old_set / f"{STEM}.pareto.png").exists() and (old_set / "other__run.json").is_file()


def test_bug_a_kill_during_the_swap_is_finished_by_the_next_read(old_set):
    # the state a kill leaves after the journal and one of the four renames: a mix of two runs on disk
    staging = old_set / f".{STEM}.new-{_dead_pid()}-00ff"
    staging.mkdir()
    new_doc = {**_minimal_report(), "command": "new run"}
    names = []
    for suffix in (".json", ".csv", ".md", ".html"):
        (staging / f"{STEM}{suffix}").write_text(f"new {suffix}" if suffix != ".json" else json.dumps(new_doc))
        names.append(f"{STEM}{suffix}")
    (old_set / f".{STEM}.swap").write_text(json.dumps({"staging": staging.name, "files": names}))
    os.replace(staging / f"{STEM}.csv", old_set / f"{STEM}.csv")

    report = load_report(old_set / f"{STEM}.json")  # finishes the swap first: never reads the old JSON
    assert report.command == "new run"
    assert sorted(p.name for p in old_set.iterdir()) == sorted(names)  # no journal, no staging folder
    assert (old_set / f"{STEM}.md").read_text() == "new .md" and (old_set / f"{STEM}.html").read_text() == "new .html"


def test_a_staging_folder_left_by_a_killed_run_is_cleaned_by_the_next_run(old_set):
    leftover = old_set / f".{STEM}.new-{_dead_pid()}-abcd"
    leftover.mkdir()
    (leftover / f"{STEM}.json").write_text("half")
    alive = old_set / f".{STEM}.new-{os.getppid()}-abcd"  # a live process's staging folder is its own business
    alive.mkdir()
    write_reports(_report(), old_set, plots=False)
    assert not leftover.exists() and alive.exists()


def test_a_set_another_live_process_is_swapping_is_refused(old_set):
    (old_set / f".{STEM}.lock").write_text(str(os.getppid()))
    with pytest.raises(MrlEvalError, match="another mrl-eval"):
        write_reports(_report(), old_set, plots=False)
    (old_set / f".{STEM}.lock").write_text(str(_dead_pid()))  # stale: its process is gone
    write_reports(_report(), old_set, plots=False)
    assert not (old_set / f".{STEM}.lock").exists()


def test_a_file_outside_the_set_cannot_be_staged(tmp_path):
    with pytest.raises(ValueError), ReportSet(tmp_path, STEM) as files:
        files.path("elsewhere.json")
    assert list(tmp_path.iterdir()) == []


def test_written_files_have_the_usual_permissions(old_set):
    umask = os.umask(0)
    os.umask(umask)
    assert all((p.stat().st_mode & 0o777) == 0o666 & ~umask for p in old_set.iterdir())
