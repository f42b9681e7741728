"""The bundled real model (all-MiniLM-L6-v2, offline) on the bundled sample: about three minutes on 2 CPU cores."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, checkout_env, data_path

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
        # a background job inherits SIGINT ignored, and Python then never raises KeyboardInterrupt: undo that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
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
    ref = _run(
        work, cache, str(ROOT / "sample_data" / "cranfield"), "--embeddings", str(precomputed), "--dims", "96,192"
    )
    for got, want in zip(clean["results"], ref["results"], strict=True):
        assert got["dim"] == want["dim"]
        assert got["metrics"]["ndcg@10"] == pytest.approx(want["metrics"]["ndcg@10"], abs=3e-3)
