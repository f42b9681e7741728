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
from mrl_eval.report.report_set import ReportSet, recover
from mrl_eval.report.schema import parse_document
from tests.conftest import checkout_env, ctrl_c_reaches_it
from tests.helpers import minimal_report as _minimal_report

STEM = "tiny__vec"


def _report(**overrides: object) -> Report:
    return parse_document(_minimal_report(**overrides), Path("run.json"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() if p.is_file() else None for p in sorted(folder.iterdir())}


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


def _killed_mid_swap(folder: Path) -> list[str]:
    """The state a kill leaves after the journal and one of the four renames: a mix of two runs on disk."""
    staging = folder / f".{STEM}.new-{_dead_pid()}-00ff"
    staging.mkdir()
    new_doc = {**_minimal_report(), "command": "new run"}
    names = []
    for suffix in (".json", ".csv", ".md", ".html"):
        (staging / f"{STEM}{suffix}").write_text(f"new {suffix}" if suffix != ".json" else json.dumps(new_doc))
        names.append(f"{STEM}{suffix}")
    (folder / f".{STEM}.swap").write_text(json.dumps({"staging": staging.name, "files": names}))
    os.replace(staging / f"{STEM}.csv", folder / f"{STEM}.csv")
    return names


def test_bug_a_kill_during_the_swap_is_finished_by_the_next_write(old_set):
    names = _killed_mid_swap(old_set)
    recover(old_set, STEM)  # the first step of every write of the set
    assert sorted(p.name for p in old_set.iterdir()) == sorted(names)  # no journal, no staging folder
    assert json.loads((old_set / f"{STEM}.json").read_text())["command"] == "new run"
    assert (old_set / f"{STEM}.md").read_text() == "new .md" and (old_set / f"{STEM}.html").read_text() == "new .html"
    write_reports(_report(command="newer run"), old_set, plots=False)
    assert load_report(old_set / f"{STEM}.json").command == "newer run"


def test_bug_reading_a_report_never_moves_or_deletes_a_file(old_set):
    _killed_mid_swap(old_set)
    before = {p.relative_to(old_set): p.read_bytes() if p.is_file() else None for p in old_set.rglob("*")}
    load_report(old_set / f"{STEM}.json")  # reads the JSON as it is: the journal is left to the next write
    assert {p.relative_to(old_set): p.read_bytes() if p.is_file() else None for p in old_set.rglob("*")} == before


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


def _victims(root: Path) -> tuple[Path, Path]:
    victim = root / "victim"
    (victim / "dir").mkdir(parents=True)
    (victim / "dir" / "data.txt").write_text("the user's data")
    (victim / "file.txt").write_text("the user's file")
    return victim / "dir", victim / "file.txt"


@pytest.mark.parametrize(
    "entry",
    [
        {"staging": "../../victim/dir", "files": []},
        {"staging": "ABSOLUTE", "files": []},
        {"staging": f".{STEM}.new-1-00ff", "files": ["../../victim/file.txt"]},
        {"staging": f".{STEM}.new-1-00ff/../../../victim/dir", "files": []},
    ],
    ids=["relative-staging", "absolute-staging", "file-outside", "staging-escaping-by-dots"],
)
@pytest.mark.parametrize("command", ["compare", "recommend --from", "sweep"])
def test_bug_a_crafted_journal_deletes_or_overwrites_files_outside_the_folder(cli_env, old_set, entry, command):
    from typer.testing import CliRunner

    from mrl_eval.cli.app import app

    victim_dir, victim_file = _victims(cli_env)
    staging = old_set / f".{STEM}.new-1-00ff"
    staging.mkdir()
    text = json.dumps(entry).replace('"ABSOLUTE"', json.dumps(str(victim_dir)))
    (old_set / f".{STEM}.swap").write_text(text)
    report = old_set / f"{STEM}.json"
    if command == "compare":
        args = ["compare", report, report]
    elif command == "recommend --from":
        args = ["recommend", "--from", report, "--min-ndcg", "0.5", "--out", cli_env / "elsewhere"]
    else:  # a write of the set itself: the journal is refused, nothing is touched
        args = ["recommend", "--from", report, "--min-ndcg", "0.5", "--out", old_set, "--name", STEM]
    before = _snapshot(old_set)
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert victim_dir.is_dir() and (victim_dir / "data.txt").read_text() == "the user's data"
    assert victim_file.read_text() == "the user's file"
    if command == "sweep":
        assert result.exit_code == 1 and ".swap" in result.stderr, result.output
        assert _snapshot(old_set) == before
    else:
        assert result.exit_code in (0, 3), result.output


def test_a_staged_file_that_is_a_link_is_refused(old_set, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    staging = old_set / f".{STEM}.new-{_dead_pid()}-00ff"
    staging.mkdir()
    (staging / f"{STEM}.json").symlink_to(victim)
    (old_set / f".{STEM}.swap").write_text(json.dumps({"staging": staging.name, "files": [f"{STEM}.json"]}))
    before = _snapshot(old_set)
    with pytest.raises(MrlEvalError, match="is not a plain file"):
        write_reports(_report(), old_set, plots=False)
    assert _snapshot(old_set) == before and victim.read_text() == "the user's file"


def test_a_lock_file_that_is_a_device_is_stale_not_a_hang(old_set):
    (old_set / f".{STEM}.lock").symlink_to("/dev/zero")
    write_reports(_report(command="new run"), old_set, plots=False)
    assert load_report(old_set / f"{STEM}.json").command == "new run"


def test_a_journal_that_is_a_device_is_refused_not_read_forever(old_set):
    (old_set / f".{STEM}.swap").symlink_to("/dev/zero")
    before = _snapshot_names(old_set)
    with pytest.raises(MrlEvalError, match="a character device, not a file; a report-swap journal"):
        write_reports(_report(), old_set, plots=False)
    assert _snapshot_names(old_set) == before


def _snapshot_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


KILLER = """
import os, signal, sys
from pathlib import Path

import mrl_eval.report.document
from mrl_eval.cli.common import exit_codes
from mrl_eval.report.document import write_reports
from mrl_eval.report.schema import parse_document
from tests.helpers import minimal_report as _minimal_report

folder, sig, when = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if when == "staging":  # while the set is staged: the last file of it
    mrl_eval.report.document.to_html = lambda *a, **k: os.kill(os.getpid(), sig)
else:  # in the swap: after the journal (one rename) and the first staged file (another)
    real, done = os.replace, []

    def replace(a, b):
        real(a, b)
        done.append(b)
        if len(done) == 2:
            os.kill(os.getpid(), sig)

    os.replace = replace
with exit_codes():  # as every command runs: SIGTERM and SIGHUP unwind like Ctrl-C
    write_reports(parse_document(_minimal_report(command="killed run"), Path("r.json")), folder, plots=False)
"""


@pytest.mark.parametrize("when", ["staging", "swap"])
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGHUP", "SIGTERM", "SIGINT"])
def test_a_writer_killed_by_a_signal_leaves_a_set_the_next_write_finishes(old_set, sig, when):
    """What docs/reports.md promises for kill -9, SIGTERM, SIGHUP (a closed terminal) and Ctrl-C, with a real
    process: only kill -9 leaves the lock and (while staging) the staging folder; the others unwind."""
    import signal

    before = _snapshot(old_set)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(old_set), str(getattr(signal, sig)), when],
        env=checkout_env(),
        capture_output=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    assert proc.returncode != 0
    visible = {name: data for name, data in _snapshot(old_set).items() if not name.startswith(".")}
    if when == "staging":  # the visible set is the old one, untouched
        assert visible == before
    else:  # from the journal on the new set counts: its JSON is in place, and the journal marks the mix
        assert json.loads(visible[f"{STEM}.json"])["command"] == "killed run"
        assert (old_set / f".{STEM}.swap").is_file()
    unwound = sig != "SIGKILL"  # Ctrl-C, SIGTERM and SIGHUP run the `finally` blocks on their way out
    assert (old_set / f".{STEM}.lock").exists() == (not unwound and when == "swap")  # taken only for the swap
    assert bool(list(old_set.glob(f".{STEM}.new-*"))) == (not unwound or when == "swap")
    assert load_report(old_set / f"{STEM}.json").command in ("old run", "killed run")  # a whole JSON either way
    write_reports(_report(command="next run"), old_set, plots=False)  # finishes or discards, then writes its own
    assert sorted(p.name for p in old_set.iterdir()) == [f"{STEM}{s}" for s in (".csv", ".html", ".json", ".md")]
    assert load_report(old_set / f"{STEM}.json").command == "next run"


@pytest.mark.parametrize("make_staging", [True, False], ids=["no-files", "no-staging-folder"])
def test_a_journal_that_names_no_files_or_no_staging_folder_leaves_the_set(old_set, make_staging):
    # rolled forward, either would have removed every file of the set: a real journal has both
    staging = old_set / f".{STEM}.new-{_dead_pid()}-00ff"
    if make_staging:
        staging.mkdir()
    files = [] if make_staging else [f"{STEM}.json"]
    (old_set / f".{STEM}.swap").write_text(json.dumps({"staging": staging.name, "files": files}))
    before = _snapshot(old_set)
    with pytest.raises(MrlEvalError, match="names no files|staging folder .* is missing"):
        write_reports(_report(command="new run"), old_set, plots=False)
    assert _snapshot(old_set) == before
