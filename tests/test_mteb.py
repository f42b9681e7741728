"""MTEB retrieval tasks (mrl_eval/data/mteb_tasks.py): loaded through mteb's own loader from a local copy of the task's
Hugging Face dataset repo (the Hub is out of reach here), swept like local data, and written back as MTEB result
files that mteb itself reads.

The local copies are built in tmp from tests/data/scifact-subset (all 300 test queries, 600 of the 5,183 documents)
in the layout of mteb's dataset repos: a README.md
whose YAML `configs` name the corpus, queries and default (qrels) configs, each a Parquet file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.mteb_tasks import load_task_collection
from mrl_eval.evaluate.metric_registry import from_mteb_name, mteb_name
from mrl_eval.pipeline.mteb_results import results_model_name, task_settings
from mrl_eval.pipeline.run import run as run_sweep
from mrl_eval.pipeline.settings import DataSettings, ModelSettings, SweepConfig
from tests.conftest import ROOT, brute_force_run, checkout_env, data_path, read_qrels_tsv

runner = CliRunner()
SCIFACT_REVISION = "d56462d0e63a25450459c4f213e49ffdb866f7f9"  # mteb's SciFact task pins this dataset revision
FIELDS = {"ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10", "map_at_100"}  # mrl-eval's default metrics


def _invoke(args: list[object]):
    return runner.invoke(app, [str(a) for a in args])


def _flat(text: str) -> str:
    return " ".join(text.split())


def _write_hf_copy(folder: Path, configs: dict[str, tuple[str, list[dict]]]) -> Path:
    """A dataset repo as `datasets.load_dataset(folder, config)` reads it: config -> (split, rows) as Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    lines = ["---", "configs:"]
    for config, (split, rows) in configs.items():
        (folder / config).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), folder / config / f"{split}-00000-of-00001.parquet")
        lines += [f"- config_name: {config}", "  data_files:", f"  - split: {split}", f"    path: {config}/{split}-*"]
    (folder / "README.md").write_text("\n".join([*lines, "---", ""]), encoding="utf-8")
    return folder


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _scifact_rows(source: Path) -> tuple[list[dict], list[dict], list[dict]]:
    qrels = []
    for line in (source / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        qrels.append({"query-id": query_id, "corpus-id": doc_id, "score": int(score)})
    return _read_jsonl(source / "corpus.jsonl"), _read_jsonl(source / "queries.jsonl"), qrels


def _scifact_copy(folder: Path, corpus: list[dict], queries: list[dict], qrels: list[dict]) -> Path:
    return _write_hf_copy(
        folder, {"corpus": ("corpus", corpus), "queries": ("queries", queries), "default": ("test", qrels)}
    )


@pytest.fixture(scope="module", autouse=True)
def hf_offline(tmp_path_factory):
    """datasets prepares its Arrow files in a temp cache, never in ~/.cache; the Hub is never asked. Module-scoped:
    the patches end with this file's tests."""
    import datasets

    cache = tmp_path_factory.mktemp("hf-datasets-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
        patch.setenv("HF_DATASETS_CACHE", str(cache))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield cache


@pytest.fixture(scope="module")
def scifact_copy(tmp_path_factory) -> Path:
    """The SciFact subset as a local copy of mteb/scifact (the task's name and revision, the subset's rows)."""
    source = data_path("scifact-subset")
    return _scifact_copy(tmp_path_factory.mktemp("mteb") / "scifact", *_scifact_rows(source))


@pytest.fixture(scope="module")
def minilm() -> Path:
    return data_path("scifact-subset") / "embeddings" / "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def mteb_sweep(tmp_path_factory, scifact_copy, minilm) -> tuple[dict, Path]:
    """One CLI sweep of SciFact through mteb with the precomputed MiniLM vectors: its JSON report and the folder of
    its MTEB result files (named `results`, as inside mteb's cache)."""
    out = tmp_path_factory.mktemp("mteb-sweep")
    results = out / "mteb-cache" / "results"
    args = ["sweep", "--mteb-task", "SciFact", "--mteb-data", scifact_copy, "--embeddings", minilm]
    args += ["--dims", "96,192", "--resamples", 200, "--out", out / "reports", "--mteb-results", results, "--json"]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), results


def test_import_of_the_cli_does_not_import_mteb():
    code = "import sys, mrl_eval.cli.app, mrl_eval.pipeline.run; print([m for m in ('mteb', 'datasets') if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", code], env=checkout_env(), capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"


def test_local_copy_through_mteb_gives_the_same_collection_as_the_beir_folder(scifact_copy):
    collection, name = load_task_collection("SciFact", split="test", subset=None, local_copy=scifact_copy)
    beir = load_collection(data_path("scifact-subset"))
    assert name == "SciFact"
    assert collection.doc_ids == beir.doc_ids and len(collection.doc_ids) == 600
    assert collection.doc_texts == beir.doc_texts  # title and text joined as data.join_title_text joins them
    assert collection.query_ids == beir.query_ids and collection.query_texts == beir.query_texts
    assert collection.qrels == beir.qrels
    assert collection.sources["qrels"].startswith(f"mteb:SciFact@{SCIFACT_REVISION}/default/test (local copy ")


def test_sweep_through_mteb_agrees_with_pytrec_eval_and_the_beir_run(mteb_sweep, minilm):
    """The full collection's published figure (MTEB's 64.51 for MiniLM) is checked by
    scripts/check_published_figures.py on the full shared collection; here pytrec_eval on a brute-force run is the oracle."""
    import numpy as np
    import pytrec_eval

    doc, _ = mteb_sweep
    by_dim = {r["dim"]: r["metrics"] for r in doc["results"]}
    assert sorted(by_dim) == [96, 192, 384]
    qrels = read_qrels_tsv(data_path("scifact-subset") / "qrels" / "test.tsv")
    query_ids = (minilm / "queries_ids.txt").read_text().split()
    runs = brute_force_run(
        np.load(minilm / "queries.npy"),
        np.load(minilm / "corpus.npy"),
        (minilm / "corpus_ids.txt").read_text().split(),
        384,
        10,
    )
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(dict(zip(query_ids, map(dict, runs))))
    assert by_dim[384]["ndcg@10"] == pytest.approx(np.mean([r["ndcg_cut_10"] for r in ref.values()]), abs=1e-6)
    assert doc["data"]["name"] == "SciFact" and doc["settings"]["mteb_task"] == "SciFact"
    qrels = doc["data"]["qrels"]
    assert qrels["path"].startswith(f"mteb:SciFact@{SCIFACT_REVISION}/") and qrels["count"] == 339
    assert "sha256" not in qrels  # not a file: the dataset revision in the path pins it
    beir = run_sweep(
        SweepConfig(
            data=DataSettings(folder=data_path("scifact-subset")), model=ModelSettings(embeddings=minilm), dims="96,192"
        )
    )
    assert {r.dim: r.metrics for r in beir.sweep.results} == by_dim


def test_mteb_result_files_validate_as_mtebs_own(mteb_sweep):
    import mteb

    doc, folder = mteb_sweep
    files = sorted(folder.glob("*/*/*.json"))
    expected = [folder / f"all-minilm-l6-v2-dim{d}" / "no_revision_available" / "SciFact.json" for d in (192, 384, 96)]
    assert files == expected
    by_dim = {r["dim"]: r["metrics"] for r in doc["results"]}
    for dim, path in zip((192, 384, 96), files, strict=True):
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert set(raw) == set(mteb.TaskResult.model_fields)  # the same fields as mteb's own result files
        result = mteb.TaskResult.from_disk(path, load_historic_data=False)
        assert mteb.TaskResult.model_validate(raw).task_name == result.task_name == "SciFact"
        assert result.dataset_revision == SCIFACT_REVISION and result.mteb_version == mteb.__version__
        assert result.evaluation_time is not None and result.evaluation_time > 0
        (scores,) = result.scores["test"]
        assert scores["hf_subset"] == "default" and scores["languages"] == ["eng-Latn"]
        assert set(scores) == FIELDS | {"main_score", "hf_subset", "languages", "mteb_version"}  # nothing invented
        assert scores["main_score"] == scores["ndcg_at_10"] == pytest.approx(by_dim[dim]["ndcg@10"], abs=1e-6)
        assert scores["recall_at_100"] == pytest.approx(by_dim[dim]["recall@100"], abs=1e-6)
        assert result.get_score() == scores["main_score"]


def test_mtebs_result_cache_reads_one_model_per_dim(mteb_sweep):
    import mteb

    doc, folder = mteb_sweep
    cache = mteb.ResultCache(cache_path=folder.parent)
    loaded = cache.load_results(tasks=["SciFact"], require_model_meta=False, include_remote=False)
    scores = {m.model_name: m.task_results[0].get_score() for m in loaded.model_results}
    by_dim = {f"all-minilm-l6-v2-dim{r['dim']}": r["metrics"]["ndcg@10"] for r in doc["results"]}
    assert scores == pytest.approx(by_dim, abs=1e-6)


@pytest.mark.slow
def test_small_local_copy_embedded_by_the_bundled_model(tmp_path, cli_env):
    """The texts mteb loads go through the embedding cache like any other: a 60-doc, 8-query slice of SciFact."""
    corpus, queries, qrels = _scifact_rows(data_path("scifact-subset"))
    query_ids = [q["_id"] for q in queries[:8]]
    judged = [row for row in qrels if row["query-id"] in query_ids]
    keep = {row["corpus-id"] for row in judged}
    keep |= set([doc["_id"] for doc in corpus if doc["_id"] not in keep][: 60 - len(keep)])
    small = [doc for doc in corpus if doc["_id"] in keep]
    copy = _scifact_copy(tmp_path / "scifact-small", small, queries[:8], judged)
    results = tmp_path / "results"
    args = ["sweep", "--mteb-task", "SciFact", "--mteb-data", copy, "--dims", "96", "--resamples", 100]
    result = _invoke([*args, "--out", tmp_path / "reports", "--mteb-results", results, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n_docs"] == len(small) == 60 and doc["queries_evaluated"] == 8
    assert doc["embedded_now"] == 68 and doc["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    for dim in (96, 384):
        path = results / f"sentence-transformers__all-MiniLM-L6-v2-dim{dim}" / "no_revision_available" / "SciFact.json"
        assert path.is_file(), sorted(results.rglob("*"))


def test_a_multilingual_task_loads_only_the_chosen_subset(tmp_path):
    """MIRACLRetrieval has 18 language subsets; the local copy holds only German (configs de-corpus, de-queries,
    de-qrels, as mteb's loader names them), so loading any other subset would fail."""
    corpus = [{"_id": f"d{i}", "title": f"Titel {i}", "text": f"Text {i}"} for i in range(4)]
    queries = [{"_id": "q1", "text": "Frage eins"}, {"_id": "q2", "text": "Frage zwei"}]
    qrels = [{"query-id": "q1", "corpus-id": "d1", "score": 1}, {"query-id": "q2", "corpus-id": "d3", "score": 1}]
    copy = _write_hf_copy(
        tmp_path / "miracl",
        {"de-corpus": ("dev", corpus), "de-queries": ("dev", queries), "de-qrels": ("dev", qrels)},
    )
    collection, name = load_task_collection("MIRACLRetrieval", split="dev", subset="de", local_copy=copy)
    assert name == "MIRACLRetrieval"
    assert collection.doc_ids == ["d0", "d1", "d2", "d3"] and collection.doc_texts[1] == "Titel 1 Text 1"
    assert collection.query_texts == ["Frage eins", "Frage zwei"]
    assert collection.qrels == {"q1": {"d1": 1}, "q2": {"d3": 1}}
    assert (
        collection.sources["corpus"].startswith("mteb:MIRACLRetrieval@") and "/de/dev" in collection.sources["corpus"]
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--mteb-task", "SciFakt"], 1, "no MTEB task by that name; did you mean SciFact"),
        (["--mteb-task", "Banking77Classification"], 1, "a Classification task; mrl-eval evaluates Retrieval tasks"),
        (["--mteb-task", "SciFact", "--split", "dev"], 2, "MTEB task SciFact is evaluated on test; pass --split test"),
        (["--mteb-task", "MIRACLRetrieval", "--split", "dev"], 2, "has 18 subsets (ar, bn, de, en"),
        (["--mteb-task", "MIRACLRetrieval", "--split", "dev", "--mteb-subset", "xx"], 2, "not a subset of MTEB task"),
        (["--mteb-task", "SciFact", "--corpus", "c.jsonl"], 2, "drop --corpus"),
        (["DATA", "--mteb-task", "SciFact"], 2, "drop DATA"),
        (["--mteb-results", "out"], 2, "MTEB result files are for an MTEB task; add --mteb-task NAME"),
        (["--mteb-subset", "de"], 2, "--mteb-subset and --mteb-data go with --mteb-task NAME"),
        (["--mteb-task", "SciFact", "--mteb-data", "missing"], 1, "--mteb-data missing: not a folder"),
    ],
)
def test_mistakes_are_named_with_their_fix(cli_env, args, code, message):
    (cli_env / "DATA").mkdir()
    result = _invoke(["sweep", *args, "--resamples", 100])
    assert result.exit_code == code, result.output
    assert message in _flat(result.output)


def test_a_local_copy_without_the_dataset_files_says_what_it_must_hold(cli_env):
    (cli_env / "empty").mkdir()
    result = _invoke(["sweep", "--mteb-task", "SciFact", "--mteb-data", "empty", "--resamples", 100])
    assert result.exit_code == 1, result.output
    text = _flat(result.output)
    assert "cannot load MTEB task SciFact (default/test) from the local copy" in text
    assert "README.md with the corpus, queries and default configs" in text


def test_recommend_from_a_saved_run_refuses_mteb_options(cli_env, mteb_sweep):
    saved = cli_env / "run.json"
    saved.write_text(json.dumps(mteb_sweep[0]), encoding="utf-8")
    result = _invoke(["recommend", "--from", saved, "--mteb-task", "SciFact", "--min-ndcg", 0.5])
    assert result.exit_code == 2, result.output
    assert "--from reads a saved run" in _flat(result.output)


def test_mteb_settings_come_from_the_config_file(cli_env, scifact_copy):
    (cli_env / "mrl-eval.toml").write_text(
        f'mteb-task = "SciFact"\nmteb-data = "{scifact_copy}"\n\n[sweep]\nmteb-results = "mteb-results"\n',
        encoding="utf-8",
    )
    result = _invoke(["config", "show", "sweep", "--json"])
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)["settings"]
    assert settings["mteb-task"] == {"value": "SciFact", "source": str(cli_env / "mrl-eval.toml")}
    assert settings["mteb-data"]["value"] == str(scifact_copy)
    assert settings["mteb-results"]["value"] == str(cli_env / "mteb-results")  # relative to the file's folder
    assert settings["mteb-subset"] == {"value": None, "source": "default"}


@pytest.mark.parametrize(
    ("score", "ours"),
    [("ndcg_at_10", "ndcg@10"), ("recall_at_100", "recall@100"), ("map_at_1000", "map@1000"),
     ("mrr_at_10", "mrr@10"), ("precision_at_5", "precision@5"), ("hit_rate_at_5", None), ("accuracy", None)],
)  # fmt: skip
def test_metric_names_map_both_ways(score, ours):
    assert from_mteb_name(score) == ours
    if ours is not None:
        assert mteb_name(ours) == score


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nomic-ai/nomic-embed-text-v1.5", "nomic-ai/nomic-embed-text-v1.5-dim256"),
        ("all-minilm-l6-v2", "all-minilm-l6-v2-dim256"),
        ("/home/me/models/my-model", "my-model-dim256"),
    ],
)
def test_the_model_name_of_a_dims_results_carries_the_dim(name, expected):
    assert results_model_name({"name": name}, 256) == expected


@pytest.mark.parametrize(
    ("task", "metrics", "ignore", "expected_metrics", "expected_ignore"),
    [
        ("SciFact", ("recall@100",), False, ("recall@100", "ndcg@10"), False),  # the main score is always computed
        ("SciFact", ("ndcg@10", "mrr@10"), False, ("ndcg@10", "mrr@10"), False),
        ("ArguAna", ("ndcg@10",), False, ("ndcg@10",), True),  # MTEB scores ArguAna with ignore_identical_ids
        ("SciFact", ("ndcg@10",), True, ("ndcg@10",), True),  # the flag is never turned off
    ],
)
def test_the_sweep_takes_the_tasks_main_score_and_identical_ids_rule(
    task, metrics, ignore, expected_metrics, expected_ignore
):
    names, ignored = task_settings(task, split="test", subset=None, metrics=metrics, ignore_identical_ids=ignore)
    assert names == expected_metrics and ignored is expected_ignore
