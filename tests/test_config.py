"""The settings file: found, read, checked and merged under the flags (mrl_eval/cli/config.py, `mrl-eval config show`)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mrl_eval.cli.app import app

runner = CliRunner()

FULL_DIM = 8
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t2\n"


def _invoke(args: list[object]):
    return runner.invoke(app, [str(a) for a in args])


def _flat(text: str) -> str:
    return " ".join(text.split())


def _collection(root: Path) -> None:
    """A 4-doc, 3-query BEIR folder `beir` with matching 8-dim vectors `emb` under root (as in test_cli.py)."""
    (root / "beir" / "qrels").mkdir(parents=True)
    (root / "emb").mkdir()
    docs = [f"d{i}" for i in range(1, 5)]
    queries = [f"q{i}" for i in range(1, 4)]
    (root / "beir" / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": "", "text": f"document {d}"}) + "\n" for d in docs)
    )
    (root / "beir" / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": f"query {q}"}) + "\n" for q in queries)
    )
    (root / "beir" / "qrels" / "test.tsv").write_text(QRELS)
    rng = np.random.default_rng(7)
    np.save(root / "emb" / "corpus.npy", rng.standard_normal((4, FULL_DIM)).astype(np.float32))
    np.save(root / "emb" / "queries.npy", rng.standard_normal((3, FULL_DIM)).astype(np.float32))
    (root / "emb" / "corpus_ids.txt").write_text("\n".join(docs) + "\n")
    (root / "emb" / "queries_ids.txt").write_text("\n".join(queries) + "\n")


def _pyproject(folder: Path, body: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text('[project]\nname = "demo"\n\n' + textwrap.dedent(body), encoding="utf-8")
    return path


def _show(*args: object) -> dict:
    result = _invoke(["config", "show", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_config_show_round_trips_a_pyproject_table(cli_env):
    path = _pyproject(
        cli_env,
        """
        [tool.mrl-eval]
        data = "beir"
        embeddings = "emb"
        dims = [2, 4, "50%"]
        min_ndcg = 0.75
        out = "gate-reports"
        confidence = 0.9

        [tool.mrl-eval.compare]
        max-drop = 0.02
        """,
    )
    shown = _show("recommend")
    assert shown["config_file"] == str(path)
    s = shown["settings"]
    # relative paths resolve against the file's folder; a TOML list of dims becomes the flag's text
    assert s["data"] == {"value": str(cli_env / "beir"), "source": str(path)}
    assert s["embeddings"]["value"] == [str(cli_env / "emb")]  # a repeatable option: a list of paths
    assert s["dims"] == {"value": "2,4,50%", "source": str(path)}
    assert s["min-ndcg"] == {"value": 0.75, "source": str(path)}  # the underscore spelling is accepted
    assert s["out"]["value"] == str(cli_env / "gate-reports")
    assert s["confidence"]["value"] == 0.9
    assert s["rule"] == {"value": "point", "source": "default"}
    assert s["max-drop"] == {"value": None, "source": "default"}  # [compare]'s max-drop is compare's only
    compare = _show("compare")["settings"]
    assert compare["max-drop"] == {"value": "0.02", "source": str(path)}
    assert "min-ndcg" not in compare and "confidence" in compare


def test_a_flag_overrides_the_file_in_config_show(cli_env):
    path = _pyproject(cli_env, "[tool.mrl-eval]\nmin-ndcg = 0.75\ndims = '2,4'\n")
    s = _show("recommend", "--min-ndcg", "0.9")["settings"]
    assert s["min-ndcg"] == {"value": 0.9, "source": "flag"}
    assert s["dims"] == {"value": "2,4", "source": str(path)}


def test_a_flag_overrides_the_file_in_a_real_run(cli_env):
    _collection(cli_env)
    _pyproject(cli_env, '[tool.mrl-eval]\ndata = "beir"\nembeddings = "emb"\ndims = "2,4"\n')
    from_file = _invoke(["sweep", "--json"])
    assert from_file.exit_code == 0, from_file.output
    assert [r["dim"] for r in json.loads(from_file.stdout)["results"]] == [2, 4, 8]
    flagged = _invoke(["sweep", "--dims", "4", "--json"])
    assert flagged.exit_code == 0, flagged.output
    assert [r["dim"] for r in json.loads(flagged.stdout)["results"]] == [4, 8]


def test_explicit_config_resolves_paths_against_its_own_folder(cli_env, monkeypatch):
    _collection(cli_env)
    conf = cli_env / "conf"
    conf.mkdir()
    (conf / "gate.toml").write_text('data = "../beir"\nembeddings = "../emb"\nout = "out"\nmin-ndcg = 0.0\n')
    work = cli_env / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    result = _invoke(["recommend", "--config", "../conf/gate.toml", "--dims", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recommendation"]["dim"] == 2  # the smallest swept dim clears a bar of 0
    assert (conf / "out" / "beir__emb.json").is_file()
    assert not (work / "reports").exists()


def test_mrl_eval_toml_wins_over_pyproject(cli_env):
    _pyproject(cli_env, "[tool.mrl-eval]\nseed = 1\n")
    (cli_env / "mrl-eval.toml").write_text("seed = 2\n")
    shown = _show("sweep")
    assert shown["config_file"] == str(cli_env / "mrl-eval.toml")
    assert shown["settings"]["seed"]["value"] == 2


def test_pyproject_without_a_table_is_no_config(cli_env):
    _pyproject(cli_env, "[tool.ruff]\nline-length = 100\n")
    shown = _show("sweep")
    assert shown["config_file"] is None
    assert all(row["source"] == "default" for row in shown["settings"].values())


def test_unknown_key_is_an_error_naming_the_key_the_file_and_the_closest_key(cli_env):
    path = _pyproject(cli_env, "[tool.mrl-eval]\nmin-ndgc = 0.8\n")
    result = _invoke(["recommend", "--from", "run.json"])
    assert result.exit_code == 1, result.output
    message = _flat(result.stderr)
    assert "unknown key 'min-ndgc'" in message
    assert str(path) in message and "[tool.mrl-eval]" in message
    assert "did you mean 'min-ndcg'?" in message
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ("dims = true", ["dims = true", "a boolean", "a string or an array"]),
        ('resamples = "many"', ['resamples = "many"', "a string", "a whole number"]),
        ("seed = 1.5", ["seed = 1.5", "a float", "a whole number"]),
        ("json = 1", ["json = 1", "an integer", "true or false"]),
        ("embeddings = 3", ["embeddings = 3", "a path"]),
        ("batch-size = 0", ["batch-size = 0", "greater than or equal to 1"]),
        ("[recommend]\nmin-ndcg = 'high'", ["[recommend]", "min-ndcg", "a number"]),
    ],
)
def test_a_value_of_the_wrong_type_is_an_error(cli_env, body, fragments):
    (cli_env / "mrl-eval.toml").write_text(body + "\n")
    result = _invoke(["config", "show", "recommend" if "recommend" in body else "sweep"])
    assert result.exit_code == 1, result.output
    message = _flat(result.stderr)
    assert str(cli_env / "mrl-eval.toml") in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert not (cli_env / "reports").exists()


def test_a_key_in_the_wrong_commands_table_says_where_it_belongs(cli_env):
    (cli_env / "mrl-eval.toml").write_text("[sweep]\nmin-ndcg = 0.5\n")
    result = _invoke(["config", "show", "sweep"])
    assert result.exit_code == 1, result.output
    assert "'min-ndcg' is an option of recommend, not of sweep" in _flat(result.stderr)


def test_invalid_toml_is_an_input_error(cli_env):
    (cli_env / "mrl-eval.toml").write_text("dims = [64,\n")
    result = _invoke(["config", "show", "sweep"])
    assert result.exit_code == 1, result.output
    assert "not valid TOML" in _flat(result.stderr)


def test_missing_explicit_config_is_an_input_error(cli_env):
    result = _invoke(["compare", "a.json", "b.json", "--config", "nowhere.toml"])
    assert result.exit_code == 1, result.output
    assert "nowhere.toml: config file not found" in _flat(result.stderr)


def test_recommend_from_ignores_the_files_data_settings(cli_env):
    _collection(cli_env)
    saved = _invoke(["sweep", "beir", "--embeddings", "emb", "--dims", "2,4", "--json"])
    assert saved.exit_code == 0, saved.output
    # a project file that names the data must not make `recommend --from` refuse to run ...
    _pyproject(cli_env, '[tool.mrl-eval]\ndata = "beir"\nembeddings = "emb"\nmin-ndcg = 0.0\n')
    result = _invoke(["recommend", "--from", "reports/beir__emb.json", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recommendation"]["dim"] == 2
    # ... while the same as flags is still refused
    refused = _invoke(["recommend", "--from", "reports/beir__emb.json", "--embeddings", "emb"])
    assert refused.exit_code == 2, refused.output


def test_config_show_prints_a_table_with_sources(cli_env):
    path = _pyproject(cli_env, "[tool.mrl-eval]\nmetric = 'recall@100'\n")
    result = _invoke(["config", "show", "compare", "--max-drop", "2%"])
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 4}
    assert "recall@100" in rows["metric"] and str(path) in _flat(result.stdout)
    assert "2%" in rows["max-drop"] and "flag" in rows["max-drop"]
    assert "default" in rows["rule"]


def test_config_show_rejects_an_unknown_command(cli_env):
    result = _invoke(["config", "show", "sweeep"])
    assert result.exit_code == 2, result.output
    assert "choose one of sweep, recommend, compare" in _flat(result.stderr)


def test_each_file_has_its_own_column_keys_and_the_old_keys_name_the_corpus(cli_env):
    """doc-* keys for the corpus, query-* for the queries; the old id-column / text-column / title-column are read
    as the corpus's (they once applied to both files)."""
    path = _pyproject(cli_env, '[tool.mrl-eval]\nid-column = "pid"\ntext_column = "body"\nquery-text-column = "ask"\n')
    s = _show("sweep")["settings"]
    assert s["doc-id-column"] == {"value": "pid", "source": str(path)}
    assert s["doc-text-column"] == {"value": "body", "source": str(path)}
    assert s["query-text-column"] == {"value": "ask", "source": str(path)}
    assert s["doc-title-column"] == {"value": None, "source": "default"}
    assert "id-column" not in s and "text-column" not in s  # one row per setting


def test_the_old_column_flags_name_the_corpus_and_conflict_with_the_new_ones(cli_env):
    _collection(cli_env)
    corpus = cli_env / "beir" / "corpus.jsonl"
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    corpus.write_text("".join(json.dumps({"pid": r["_id"], "text": r["text"]}) + "\n" for r in rows))
    ok = _invoke(["sweep", "beir", "--embeddings", "emb", "--id-column", "pid", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["data"]["corpus"]["count"] == 4
    both = _invoke(["sweep", "beir", "--embeddings", "emb", "--id-column", "pid", "--doc-id-column", "_id"])
    assert both.exit_code == 2, both.output
    assert "--id-column pid: it is the old name of --doc-id-column, given too; give one" in _flat(both.output)
