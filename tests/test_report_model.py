"""The typed report model: the dict exists only at the file boundary. `Report.to_dict()` writes it and the schema
reads it back, to the same object, for real sweeps of every kind (both models; grid, PCA, two-stage, growth; a
recommendation with a held-out check and a baseline; FAISS engine cells; label-free metrics on pseudo-queries).
The JSON has every key docs/reports.md documents."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

import mrl_eval
from mrl_eval.report.document import load_report, write_reports
from mrl_eval.report.model import Report
from mrl_eval.report.schema import parse_document
from tests.conftest import data_path, require

SCIFACT = data_path("scifact-subset")
CRANFIELD = data_path("cranfield")


def _vectors(folder: Path, model: str) -> Path:
    return folder / "embeddings" / model


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Report]:
    """One report of every kind, as the CLI writes them."""
    cache = tmp_path_factory.mktemp("cache")
    common = {"resamples": 200, "cache_dir": cache}
    gemma = _vectors(SCIFACT, "embeddinggemma-300m")
    grid = mrl_eval.sweep(
        SCIFACT,
        embeddings=gemma,
        dims="64,128",
        precisions="float32,int8,binary",
        compare="pca",
        two_stage="64:binary",
        shortlist="50",
        growth=True,
        growth_seeds=2,
        **common,
    )
    minilm = mrl_eval.sweep(CRANFIELD, embeddings=_vectors(CRANFIELD, "all-minilm-l6-v2"), dims="64,128", **common)
    rule = mrl_eval.Rule(max_drop="2%", kind="non-inferior")
    decided = mrl_eval.recommend(grid, rule, optimize="bytes", holdout=0.5, baseline=grid)
    out = {
        "grid": grid.report,
        "minilm": minilm.report,
        "recommend": decided.report,
        "recommend-cranfield": mrl_eval.recommend(minilm, mrl_eval.Rule(max_drop=0.05), baseline=grid).report,
        "label-free": mrl_eval.sweep(
            SCIFACT,
            embeddings=_vectors(SCIFACT, "all-minilm-l6-v2"),
            dims="64",
            metrics="overlap@10,rbo@10,shortlist_recall@100",
            queries_from_corpus=40,
            **common,
        ).report,
    }
    return out


@pytest.fixture(scope="module")
def faiss_reports(tmp_path_factory) -> dict[str, Report]:
    """FAISS engine cells, and a recommendation among them (only these need the [faiss] extra)."""
    require("faiss", extra="faiss")
    faiss = mrl_eval.sweep(
        SCIFACT,
        embeddings=_vectors(SCIFACT, "all-minilm-l6-v2"),
        dims="64",
        engine="faiss",
        ef_search="16",
        resamples=200,
        cache_dir=tmp_path_factory.mktemp("cache"),
    )
    return {"faiss": faiss.report, "faiss-recommend": mrl_eval.recommend(faiss, mrl_eval.Rule(max_drop=0.05)).report}


@pytest.fixture
def report_of(request, reports):
    """The report of a kind, building the FAISS ones only when a test asks for them."""

    def get(kind: str) -> Report:
        return request.getfixturevalue("faiss_reports")[kind] if kind.startswith("faiss") else reports[kind]

    return get


def _first_difference(a: object, b: object, where: str = "report") -> str | None:
    """Where two reports differ (for the assertion message)."""
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        for f in dataclasses.fields(a):  # type: ignore[arg-type]
            found = _first_difference(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
            if found:
                return found
        return None
    if isinstance(a, dict) and isinstance(b, dict) and set(a) == set(b):
        return next((d for k in a if (d := _first_difference(a[k], b[k], f"{where}.{k}"))), None)
    return None if a == b else f"{where}: {a!r:.80} != {b!r:.80}"


KINDS = ["grid", "minilm", "recommend", "recommend-cranfield", "label-free", "faiss", "faiss-recommend"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_report_reads_back_as_the_same_object(report_of, kind):
    report = report_of(kind)
    again = parse_document(report.to_dict(), Path(f"{kind}.json"))
    assert again == report, _first_difference(report, again)
    through_json = parse_document(json.loads(json.dumps(report.to_dict())), Path(f"{kind}.json"))
    assert through_json == report, _first_difference(report, through_json)
    assert through_json.to_dict() == report.to_dict()


@pytest.mark.parametrize("kind", KINDS)
def test_to_dict_is_a_copy_the_caller_may_change(report_of, kind):
    report = report_of(kind)
    doc = report.to_dict()
    doc["results"][0]["metrics"].clear()
    doc["model"]["name"] = "changed"
    assert report.to_dict() != doc and report.results[0].metrics and report.model.name != "changed"


def _documented() -> list[tuple[list[str], str, list[str]]]:
    """The rows of docs/reports.md's table of the JSON document: top-level keys, when present, fields inside."""
    text = (Path(__file__).parent.parent / "docs" / "reports.md").read_text(encoding="utf-8")
    section = text.split("## The JSON document", 1)[1].split("###", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        rows.append((re.findall(r"`([a-z_0-9]+)`", cells[0]), cells[1], re.findall(r"`([a-z_0-9]+)`", cells[2])))
    return rows


def test_the_documented_table_is_found():
    keys = [k for row in _documented() for k in row[0]]
    assert {"schema", "results", "per_query", "grid", "two_stage", "recommendation", "baseline"} <= set(keys)


# model.prompts: only when a model embeds (not for precomputed vectors); the others name commands, not fields
_CONDITIONAL = {"prompts", "sweep", "recommend", "compare"}


def test_every_documented_key_and_field_is_written(reports):
    everything = reports["recommend"].to_dict()  # grid, PCA, two-stage, growth, recommendation, holdout, baseline
    for keys, kind, fields in _documented():
        for key in keys:
            assert key in everything, key
            if not kind.startswith(("object", "list")):
                continue  # the fields named are values (`command`: `sweep`, `recommend`)
            text = json.dumps(everything[key])
            missing = [f for f in fields if f'"{f}"' not in text and f not in keys and f not in _CONDITIONAL]
            assert not missing, f"{key}: {missing}"


def test_a_written_report_is_read_back_as_written(reports, tmp_path):
    report = reports["recommend"]
    written = write_reports(report, tmp_path, plots=False)
    path = next(p for p in written if p.suffix == ".json")
    assert load_report(path) == report
    assert json.loads(path.read_text(encoding="utf-8")) == report.to_dict()


# Reports written by mrl-eval before the typed report model (commit b7850db). They are fixtures of the file format:
# the reader must read every file an older mrl-eval wrote and write it back unchanged (a compatibility property of
# the reader), so the byte-for-byte comparison below checks the reader, never a number: no test takes its expected
# value from these files. They were written, from the repository root, by:
#   recommend tests/data/scifact-subset --embeddings .../embeddinggemma-300m --dims 64 --metrics ndcg@10
#     --precisions float32,binary --compare pca --two-stage 64:binary --shortlist 50 --max-drop 2%
#     --rule non-inferior --holdout 0.5 --resamples 200, then recommend --from that report with the same rule,
#     --optimize bytes and --baseline the same report (grid-recommend.json);
#   recommend ... --embeddings .../all-minilm-l6-v2 --dims 64 --metrics ndcg@10 --engine faiss --ef-search 16
#     --max-drop 0.05 (faiss-recommend.json);
#   sweep ... --embeddings .../all-minilm-l6-v2 --dims 64 --metrics overlap@10,rbo@10 --queries-from-corpus 30
#     (label-free-sweep.json).
OLD_REPORTS = sorted((Path(__file__).parent / "data" / "reports").glob("*.json"))


def test_the_old_reports_are_there():
    assert [p.name for p in OLD_REPORTS] == ["faiss-recommend.json", "grid-recommend.json", "label-free-sweep.json"]


@pytest.mark.parametrize("path", OLD_REPORTS, ids=lambda p: p.stem)
def test_a_report_written_before_the_model_reads_and_writes_back_byte_for_byte(path):
    """Compatibility of the reader with files already written, not a snapshot of any number."""
    text = path.read_text(encoding="utf-8")
    report = load_report(path)
    assert json.dumps(report.to_dict(), indent=1) + "\n" == text


def _shape(node: object, where: str = "") -> set[str]:
    """Every key path of a JSON document: its keys, not its numbers. List positions, dims (`"64"`), cell labels
    (`"prefix:64:int8"`) and the query ids of per-query values are folded to `[]` and `*`."""
    if isinstance(node, list):
        return {where + "[]"} | {p for item in node for p in _shape(item, where + "[]")}
    if not isinstance(node, dict):
        return set()
    is_query_ids = re.search(r"per_query\.\*\.[^.]+$", where) is not None  # per_query -> dim or label -> metric
    out = set()
    for key, value in node.items():
        folded = "*" if is_query_ids or key.isdigit() or ":" in key else key
        out |= {f"{where}.{folded}"} | _shape(value, f"{where}.{folded}")
    return out


@pytest.mark.parametrize(
    ("old", "new"),
    [("grid-recommend", "recommend"), ("faiss-recommend", "faiss-recommend"), ("label-free-sweep", "label-free")],
)
def test_a_new_report_has_the_keys_an_old_one_has(report_of, old, new):
    before = _shape(json.loads((Path(__file__).parent / "data" / "reports" / f"{old}.json").read_text()))
    after = _shape(report_of(new).to_dict())
    assert before - after == set(), sorted(before - after)[:10]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_bug_a_non_finite_value_in_a_report_model_was_written_as_nan_json(tmp_path, value):
    from mrl_eval.errors import MrlEvalError
    from tests.helpers import minimal_report as _minimal_report

    report = parse_document(_minimal_report(), Path("r.json"))
    broken = dataclasses.replace(report.results[0], metrics={"ndcg@10": value})
    report = dataclasses.replace(report, results=(broken, *report.results[1:]))
    with pytest.raises(
        MrlEvalError, match=r"field results\[0\]\.metrics\.ndcg@10 is -?(nan|inf) .*nothing was written"
    ):
        write_reports(report, tmp_path / "reports", plots=False)
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").iterdir())


def test_every_json_mrl_eval_writes_is_strict_json(tmp_path):
    from mrl_eval.files import json_text

    json.loads(json_text({"a": [1.5, {"b": 2}]}, what="x"), parse_constant=lambda c: pytest.fail(f"{c} written"))
    with pytest.raises(Exception, match=r"x: field a\[1\]\.b is nan"):
        json_text({"a": [1.5, {"b": float("nan")}]}, what="x")


@pytest.mark.parametrize(
    ("provider", "name", "label"),
    [
        ("sentence-transformers", "sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
        ("openai", "text-embedding-3-small", "text-embedding-3-small (openai)"),
        ("sentence-transformers", "/models/e5", "/models/e5 (sentence-transformers)"),
        ("precomputed", "all-minilm-l6-v2", "all-minilm-l6-v2 (precomputed)"),
    ],
)
def test_the_model_reads_with_its_provider_named_once(reports, provider, name, label):
    """Bug: the run settings read "sentence-transformers sentence-transformers/all-MiniLM-L6-v2"."""
    from mrl_eval.report.html import _settings
    from mrl_eval.report.markdown import to_markdown
    from mrl_eval.report.model import ModelInfo

    about = {**reports["minilm"].model.about, "provider": provider, "name": name}
    report = dataclasses.replace(reports["minilm"], model=ModelInfo(about))
    assert report.model.label == label
    assert f"- model: {label} (" in to_markdown(report, "stem", plots=False)
    assert f"<dt>model</dt><dd>{label}</dd>" in _settings(report)
