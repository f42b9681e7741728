"""A run touches only its own files: reports and TREC run files are named after the run (`--name`, default
`<data>__<model>`), a set another run wrote (other data or model fingerprint) is never replaced without
`--overwrite`, and `recommend --from X` leaves X's own set and its charts alone. The oracle is the file system."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.errors import MrlEvalError
from mrl_eval.report.document import load_report, write_reports
from mrl_eval.report.schema import parse_document
from tests.helpers import TINY_DIM as DIM
from tests.helpers import TINY_DOCS as DOCS
from tests.helpers import TINY_QUERIES as QUERIES
from tests.helpers import minimal_report as _minimal_report
from tests.helpers import tiny_vectors as _vectors

STEM = "qrels__emb"  # --qrels qrels.tsv --embeddings <somewhere>/emb


def _invoke(args: list[object]):
    return CliRunner().invoke(app, [str(a) for a in args])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def _two_models(root: Path) -> tuple[Path, Path, Path]:
    """mA/emb and mB/emb: two vectors folders with the same base name and different vectors."""
    emb_a, qrels = _vectors(root / "mA")
    rng = np.random.default_rng(11)
    emb_b, _ = _vectors(root / "mB", docs=rng.standard_normal((len(DOCS), DIM)).astype(np.float32))
    return emb_a, emb_b, qrels


def _sweep(emb: Path, qrels: Path, out: Path, *extra: object):
    return _invoke(["sweep", "--embeddings", emb, "--qrels", qrels, "--out", out, "--resamples", 100, *extra])


def _fingerprint(report: Path) -> str:
    return json.loads(report.read_text(encoding="utf-8"))["model"]["fingerprint"]


def test_bug_two_vectors_folders_with_one_base_name_replaced_each_others_reports(tmp_path):
    emb_a, emb_b, qrels = _two_models(tmp_path)
    out = tmp_path / "reports"
    assert _sweep(emb_a, qrels, out).exit_code == 0
    first = _snapshot(out)
    refused = _sweep(emb_b, qrels, out)
    assert refused.exit_code == 1, refused.output
    message = " ".join(refused.stderr.split())
    assert "another run's" in message and all(flag in message for flag in ("--name", "--out", "--overwrite"))
    assert _snapshot(out) == first  # not a byte changed
    named = _sweep(emb_b, qrels, out, "--name", "model-b")
    assert named.exit_code == 0, named.output
    assert _fingerprint(out / f"{STEM}.json") != _fingerprint(out / "model-b.json")
    assert all(out.joinpath(name).read_bytes() == data for name, data in first.items())  # A's set as it was
    assert _sweep(emb_a, qrels, out).exit_code == 0  # the same run again: replaces its own set, as always
    replaced = _sweep(emb_b, qrels, out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert _fingerprint(out / f"{STEM}.json") == _fingerprint(out / "model-b.json")


def _corpus(folder: Path, texts: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"_id": d, "text": texts.get(d, f"document {d}")}) for d in DOCS]
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    queries = [json.dumps({"_id": q, "text": f"query {q}"}) for q in QUERIES]
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    return folder


def test_bug_two_corpus_files_with_one_base_name_replaced_each_others_reports(tmp_path):
    emb, qrels = _vectors(tmp_path)
    out = tmp_path / "reports"
    runs = []
    for project, texts in (("projA", {}), ("projB", {"d3": "another text"})):
        folder = _corpus(tmp_path / project, texts)
        args = ["--corpus", folder / "corpus.jsonl", "--queries", folder / "queries.jsonl"]
        runs.append(_invoke(["sweep", *args, "--embeddings", emb, "--qrels", qrels, "--out", out, "--resamples", 100]))
    assert runs[0].exit_code == 0, runs[0].output
    assert runs[1].exit_code == 1 and "corpus sha256:" in " ".join(runs[1].stderr.split()), runs[1].output
    assert "projA" in json.loads((out / "corpus__emb.json").read_text())["data"]["corpus"]["path"]


def _report(model: str, fingerprint: str, **overrides: object):
    doc = _minimal_report(**overrides)
    doc["model"] = {**doc["model"], "name": model, "fingerprint": fingerprint}
    return parse_document(doc, Path("r.json"))


def test_bug_a_hub_model_and_a_local_copy_of_one_name_replaced_each_others_reports(tmp_path):
    hub = _report("BAAI/bge-small-en-v1.5", "hub:BAAI/bge-small-en-v1.5@5c38ec7c")
    local = _report("./ft/bge-small-en-v1.5", "sha256:" + "1" * 64)
    written = write_reports(hub, tmp_path, plots=False)
    before = _snapshot(tmp_path)
    with pytest.raises(MrlEvalError, match="another run's .*model hub:BAAI.* there, sha256:1111"):
        write_reports(local, tmp_path, plots=False)
    assert _snapshot(tmp_path) == before and written[0].name == "tiny__bge-small-en-v1.5.json"
    assert write_reports(local, tmp_path, plots=False, name="tiny__ft-bge")[0].name == "tiny__ft-bge.json"
    assert write_reports(local, tmp_path, plots=False, overwrite=True)[0].name == "tiny__bge-small-en-v1.5.json"


def test_a_set_whose_json_is_not_a_report_is_not_replaced(tmp_path):
    (tmp_path / "tiny__vec.csv").write_text("a user's own spreadsheet")
    with pytest.raises(MrlEvalError, match="tiny__vec.json is missing or not one mrl-eval wrote"):
        write_reports(_report("vec", "sha256:" + "0" * 64), tmp_path, plots=False)
    assert _snapshot(tmp_path) == {"tiny__vec.csv": b"a user's own spreadsheet"}


def _saved_with_charts(folder: Path) -> Path:
    """A sweep's set (here without drawing: its charts stand in as files of the set)."""
    write_reports(_report("vec", "sha256:" + "0" * 64), folder, plots=False)
    for suffix in (".png", ".svg"):
        (folder / f"tiny__vec{suffix}").write_bytes(b"a chart")
    return folder / "tiny__vec.json"


def test_bug_recommend_from_a_report_replaced_its_set_and_deleted_its_charts(cli_env):
    saved = _saved_with_charts(cli_env / "reports")
    before = _snapshot(cli_env / "reports")
    result = _invoke(["recommend", "--from", saved, "--min-ndcg", "0.5"])  # --out reports: X's own folder
    assert result.exit_code == 0, result.output
    after = _snapshot(cli_env / "reports")
    assert {name: after[name] for name in before} == before  # X's set, charts included, byte for byte
    assert load_report(cli_env / "reports" / "tiny__vec.recommend.json").recommendation.dim == 4
    again = _invoke(["recommend", "--from", saved, "--min-ndcg", "0.58"])  # the same run: updates its own set
    assert (
        again.exit_code == 0 and load_report(cli_env / "reports" / "tiny__vec.recommend.json").recommendation.dim == 8
    )


def test_recommend_from_elsewhere_does_not_delete_the_charts_of_that_runs_set(cli_env):
    saved = _saved_with_charts(cli_env / "reports")
    copy = cli_env / "copy.json"
    copy.write_bytes(saved.read_bytes())
    before = _snapshot(cli_env / "reports")
    assert _invoke(["recommend", "--from", copy, "--min-ndcg", "0.5"]).exit_code == 0
    assert {name: data for name, data in _snapshot(cli_env / "reports").items() if name in before} == before
    assert (cli_env / "reports" / "tiny__vec.recommend.json").is_file()


def test_recommend_from_a_report_into_its_own_set_by_name_keeps_its_charts_or_refuses(cli_env):
    saved = _saved_with_charts(cli_env / "reports")
    before = _snapshot(cli_env / "reports")
    refused = _invoke(["recommend", "--from", saved, "--min-ndcg", "0.5", "--name", "tiny__vec"])
    assert refused.exit_code == 1 and "--plot to redraw them" in " ".join(refused.stderr.split()), refused.output
    assert _snapshot(cli_env / "reports") == before
    forced = _invoke(["recommend", "--from", saved, "--min-ndcg", "0.5", "--name", "tiny__vec", "--overwrite"])
    assert forced.exit_code == 0, forced.output
    assert load_report(saved).recommendation is not None and not (cli_env / "reports" / "tiny__vec.png").exists()


def test_recommend_from_into_an_empty_folder_keeps_the_default_name(cli_env):
    saved = _saved_with_charts(cli_env / "reports")
    assert _invoke(["recommend", "--from", saved, "--min-ndcg", "0.5", "--out", "gate"]).exit_code == 0
    assert sorted(p.name for p in (cli_env / "gate").iterdir()) == [
        f"tiny__vec{s}" for s in (".csv", ".html", ".json", ".md")
    ]


def test_bug_save_runs_of_a_second_sweep_replaced_the_first_ones_run_files(tmp_path):
    emb_a, emb_b, qrels = _two_models(tmp_path)
    runs = tmp_path / "runs"
    first = _sweep(emb_a, qrels, tmp_path / "a", "--dims", 4, "--save-runs", runs)
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in runs.iterdir()) == [f"{STEM}.d4.trec", f"{STEM}.d8.trec", f"{STEM}.runs.json"]
    manifest = json.loads((runs / f"{STEM}.runs.json").read_text())
    assert manifest["model"]["path"] == str(emb_a) and manifest["dims"] == [4, 8]
    before = _snapshot(runs)
    second = _sweep(emb_b, qrels, tmp_path / "b", "--dims", 2, "--save-runs", runs)
    assert second.exit_code == 1 and "--overwrite" in second.stderr, second.output
    assert _snapshot(runs) == before
    named = _sweep(emb_b, qrels, tmp_path / "b", "--dims", 2, "--save-runs", runs, "--name", "model-b")
    assert named.exit_code == 0, named.output
    assert {p.name for p in runs.iterdir()} >= {"model-b.d2.trec", "model-b.d8.trec", *before}
    assert all((runs / name).read_bytes() == data for name, data in before.items())
    tags = {line.split()[5] for line in (runs / "model-b.d2.trec").read_text().splitlines()}
    assert tags == {"model-b.d2"}


@pytest.mark.parametrize("name", ["../x", ".hidden", "a/b", "", "x.losses", "x.runs", "a b", "x" * 201, "é"])
def test_a_name_that_is_not_a_plain_file_stem_is_a_usage_error(tmp_path, name):
    emb, qrels = _vectors(tmp_path)
    result = _sweep(emb, qrels, tmp_path / "reports", "--name", name)
    assert result.exit_code == 2 and "--name" in result.stderr, result.output
    assert not (tmp_path / "reports").exists()


def test_bug_two_runs_of_as_many_models_replaced_each_others_reports(tmp_path):
    import mrl_eval

    emb_a, emb_b, qrels = _two_models(tmp_path)
    emb_c, _ = _vectors(
        tmp_path / "mC", docs=np.random.default_rng(12).standard_normal((len(DOCS), DIM)).astype(np.float32)
    )
    out = tmp_path / "reports"
    first = mrl_eval.sweep(embeddings=[emb_a, emb_b], qrels=qrels, resamples=100)
    written = first.save(out, plots=False)
    assert written[0].name.endswith("__2-models.json")
    before = _snapshot(out)
    other = mrl_eval.sweep(embeddings=[emb_a, emb_c], qrels=qrels, resamples=100)
    with pytest.raises(MrlEvalError, match="another run's .*models .* there"):
        other.save(out, plots=False)
    assert _snapshot(out) == before
    assert first.save(out, plots=False) == written  # the same run: replaced, as always
    assert other.save(out, plots=False, name="a-and-c")[0].name == "a-and-c.json"
    assert other.save(out, plots=False, overwrite=True) == written
