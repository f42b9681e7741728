"""Property-based tests of what mrl-eval finds in a report folder and reads back: report-set journals (a crafted
`.<stem>.swap` in a committed `reports/` folder) and saved reports read by `recommend --from`, `compare` and
`--baseline` (see tests/fuzzing.py for the shared property: a valid result or MrlEvalError, promptly)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mrl_eval.errors import MrlEvalError
from mrl_eval.report.document import load_report, write_reports
from mrl_eval.report.schema import parse_document
from tests.conftest import checkout_env
from tests.fuzzing import any_text, examples, promptly, workdir
from tests.helpers import minimal_report as _minimal_report

STEM = "tiny__vec"
_DEAD_PID = int(
    subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], env=checkout_env(), capture_output=True, text=True
    ).stdout
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


# --- saved reports read by recommend --from, compare and --baseline ------------------------------------------------

IDS = [f"q{i}" for i in range(6)]
per_query_value = st.one_of(
    st.sampled_from([0.0, 1.0, 0.5, 1 / 3, 1 + 1e-12, -1e-12, 1.5, -0.25]),
    st.floats(min_value=0, max_value=1),
)


@st.composite
def saved_run(draw: st.DrawFn) -> dict:
    """A saved sweep with per-query values (or none) and means: some as written, some edited by hand, some of the
    sizes inconsistent, some integers huge."""
    ids = IDS[: draw(st.integers(1, len(IDS)))]
    per_query = {str(d): {"ndcg@10": {q: draw(per_query_value) for q in ids}} for d in (4, 8)}
    results = []
    for d in (4, 8):
        mean = float(np.mean(list(per_query[str(d)]["ndcg@10"].values())))
        edit = draw(st.sampled_from([0.0, 0.0, 0.0, 1e-12, 4e-7, 1e-3, 0.44, -0.2]))
        results.append({"dim": d, "fraction": d / 8, "bytes_per_vector": 4 * d, "metrics": {"ndcg@10": mean + edit}})
    doc = _minimal_report(
        full_dim=draw(st.sampled_from([8, 8, 8, 4, 16])),
        n_docs=draw(st.sampled_from([10, 10, 10, 2**63 - 1, 2**63, 10**400])),
        queries_evaluated=len(ids) + draw(st.sampled_from([0, 0, 0, 1, -1])),
        results=results,
    )
    if draw(st.integers(0, 4)) > 0:
        doc["per_query"] = per_query
    return doc


def _current(folder: Path) -> Path:
    """The other run of compare and --baseline: valid, with other queries (so no pairing, means only)."""
    doc = _minimal_report(queries_evaluated=2)
    doc["per_query"] = {"4": {"ndcg@10": {"x1": 0.5, "x2": 0.6}}, "8": {"ndcg@10": {"x1": 0.6, "x2": 0.6}}}
    path = folder / "current.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _read_three_ways(saved: Path, current: Path) -> list[dict[int, float] | None]:
    """The means of `saved` as recommend --from, compare and --baseline read them (None: refused)."""
    import mrl_eval

    def from_recommend_from() -> dict[int, float]:
        run = mrl_eval.load_run(saved, resamples=200)
        return {r.dim: r.metrics["ndcg@10"] for r in run.results}

    def from_compare() -> dict[int, float]:
        body = mrl_eval.compare(saved, current, mrl_eval.Gate(max_drop=1.0), resamples=200).body
        return {row.dim: row.metrics["ndcg@10"].baseline for row in body.by_dim}

    def from_baseline() -> dict[int, float]:
        run = mrl_eval.load_run(current, resamples=200)
        chosen = mrl_eval.recommend(run, mrl_eval.Rule(min=0.0), baseline=saved, baseline_max_drop=1.0)
        assert chosen.baseline is not None
        return {row.dim: row.metrics["ndcg@10"].baseline for row in chosen.baseline.body.by_dim}

    out = []
    for read in (from_recommend_from, from_compare, from_baseline):
        with promptly():
            try:
                out.append(read())
            except MrlEvalError as err:
                assert str(err).startswith(f"{saved}: "), str(err)  # the error names the file
                out.append(None)
    return out


@given(doc=saved_run())
@examples(120)
def test_fuzz_recommend_from_compare_and_baseline_read_a_saved_report_alike_or_all_refuse_it(doc):
    with workdir() as root:
        saved = root / "saved.json"
        saved.write_text(json.dumps(doc), encoding="utf-8")
        recommend_from, compare, baseline = _read_three_ways(saved, _current(root))
        assert (recommend_from is None) == (compare is None) == (baseline is None), (recommend_from, compare, baseline)
        if recommend_from is None:
            return
        assert recommend_from == compare == baseline  # the same numbers, to the bit
        for dim, mean in recommend_from.items():
            assert -1e-9 <= mean <= 1 + 1e-9  # [0, 1] up to float rounding
            if "per_query" in doc:  # the source: the mean of the per-query values, by an independent sum
                values = list(doc["per_query"][str(dim)]["ndcg@10"].values())
                assert mean == pytest.approx(math.fsum(values) / len(values), abs=1e-12)
                stated = next(r["metrics"]["ndcg@10"] for r in doc["results"] if r["dim"] == dim)
                assert abs(stated - mean) <= 1e-6  # a summary that disagrees beyond rounding is refused


def test_bug_a_hand_edited_summary_gave_delta_minus_0_499_with_ci_0_0(tmp_path):
    """The issue's example: the summary edited to 0.99, the per-query values left: compare read the summary for the
    mean and the values for the interval. Now every reader refuses it, naming the file, the dim and the metric."""
    doc = _minimal_report()
    doc["per_query"] = {
        "4": {"ndcg@10": {"q1": 0.5, "q2": 0.6, "q3": 0.55}},
        "8": {"ndcg@10": {"q1": 0.6, "q2": 0.6, "q3": 0.6}},
    }
    doc["results"][0]["metrics"]["ndcg@10"] = 0.99
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(doc), encoding="utf-8")
    assert _read_three_ways(saved, _current(tmp_path)) == [None, None, None]
    with pytest.raises(
        MrlEvalError, match=r"results\[0\]\.metrics\.ndcg@10 is 0\.99, but the mean .*per_query\.4\.ndcg@10"
    ):
        load_report(saved)
