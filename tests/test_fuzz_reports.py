"""Property-based tests of what mrl-eval finds in a report folder and reads back: report-set journals (a crafted
`.<stem>.swap` in a committed `reports/` folder) and saved reports read by `recommend --from`, `compare` and
`--baseline` (see tests/fuzzing.py for the shared property: a valid result or MrlEvalError, promptly)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mrl_eval.errors import MrlEvalError
from mrl_eval.report.document import load_report, write_reports
from mrl_eval.report.schema import parse_document
from tests.fuzzing import any_text, examples, promptly, workdir
from tests.test_cli import _minimal_report

STEM = "tiny__vec"
_DEAD_PID = int(
    subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
)


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` (links not followed) with its bytes (None for a folder or a link)."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        plain = path.is_file() and not path.is_symlink()
        out[str(path.relative_to(root))] = path.read_bytes() if plain else None
    return out


STAGING_NAMES = [
    f".{STEM}.new-{_DEAD_PID}-00ff",  # the one a real kill leaves
    f".{STEM}.new-{_DEAD_PID}-00ff/../../outside/victim-dir",
    "../outside/victim-dir",
    "../../outside",
    "OUTSIDE",  # replaced by the absolute path of the folder outside
    ".",
    "..",
    "",
    f".other.new-{_DEAD_PID}-00ff",
    f".{STEM}.new-99999999999999999999999-ab",
    "victim-link",  # a link to the folder outside, made inside the reports folder
]
FILE_NAMES = [
    f"{STEM}.json",
    f"{STEM}.csv",
    f"{STEM}.md",
    f"{STEM}.pareto.png",
    "../outside/victim.txt",
    "OUTSIDE/victim.txt",
    f"{STEM}.json/../../outside/victim.txt",
    "other__run.json",
    f"{STEM}.exe",
    "",
]


@st.composite
def journal(draw: st.DrawFn) -> object:
    """A journal's content: mostly the right shape with hostile names, sometimes any JSON at all."""
    staging = draw(st.one_of(st.sampled_from(STAGING_NAMES), any_text, st.none(), st.integers()))
    files = draw(st.one_of(st.lists(st.one_of(st.sampled_from(FILE_NAMES), any_text), max_size=4), any_text))
    shape = draw(st.sampled_from(["entry", "entry", "entry", "list", "scalar"]))
    return {"staging": staging, "files": files} if shape == "entry" else [staging, files] if shape == "list" else files


def _setup(root: Path, entry: object, staged_files: list[str], link_staged: bool) -> tuple[Path, Path]:
    outside, folder = root / "outside", root / "work" / "reports"
    (outside / "victim-dir").mkdir(parents=True)
    (outside / "victim-dir" / "keep.txt").write_text("the user's file")
    (outside / "victim.txt").write_text("the user's other file")
    write_reports(parse_document(_minimal_report(command="old run"), Path("r.json")), folder, plots=False)
    (folder / "other__run.json").write_text("another run's report")
    (folder / "victim-link").symlink_to(outside, target_is_directory=True)
    staging = folder / f".{STEM}.new-{_DEAD_PID}-00ff"
    staging.mkdir()
    for name in staged_files:
        target = staging / name
        if link_staged:
            target.symlink_to(outside / "victim.txt")
        else:
            target.write_text(json.dumps(_minimal_report(command="new run")) if name.endswith(".json") else "new")
    text = json.dumps(entry).replace('"OUTSIDE', json.dumps(str(outside))[:-1])
    (folder / f".{STEM}.swap").write_text(text)
    return outside, folder


@given(
    entry=journal(),
    staged=st.lists(st.sampled_from([f"{STEM}.json", f"{STEM}.csv", f"{STEM}.md"]), unique=True, max_size=3),
    link_staged=st.booleans(),
)
@examples(150)
def test_fuzz_a_crafted_journal_never_touches_anything_outside_the_set(entry, staged, link_staged):
    with workdir() as root:
        outside, folder = _setup(root, entry, staged, link_staged)
        before_outside, before_folder = _tree(outside), _tree(folder)
        with promptly():
            load_report(folder / f"{STEM}.json")  # reading: nothing moves, whatever the journal says
        assert _tree(folder) == before_folder and _tree(outside) == before_outside
        with promptly():
            try:
                write_reports(parse_document(_minimal_report(command="newest"), Path("r.json")), folder, plots=False)
            except MrlEvalError as err:
                assert str(err).strip()
                assert _tree(folder) == before_folder, "a refused journal must leave the folder as it was"
        assert _tree(outside) == before_outside
        assert (folder / "other__run.json").read_text() == "another run's report"
        assert (folder / "victim-link").is_symlink()


def test_a_dead_writers_journal_is_still_rolled_forward():
    """The control of the suite above: the journal a real kill leaves is accepted and finished."""
    with workdir() as root:
        names = [f"{STEM}.json", f"{STEM}.csv"]
        _, folder = _setup(root, {"staging": STAGING_NAMES[0], "files": names}, names, link_staged=False)
        write_reports(parse_document(_minimal_report(command="newest"), Path("r.json")), folder, plots=False)
        assert load_report(folder / f"{STEM}.json").command == "newest"
        assert not [p for p in os.listdir(folder) if p.startswith(f".{STEM}.")]
