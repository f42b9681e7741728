"""An engine is one module and its registration: a brute-force numpy engine defined here, registered, runs through
`mrl_eval.sweep(..., engine="toy")`, the JSON report, the Markdown engine table and the recommended recipe, with no
line of mrl_eval naming it. Oracle: the toy searches exactly, so each of its cells scores what the exact sweep
scores at that dim, and finds every exact neighbour."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

import mrl_eval
from mrl_eval.engines import (
    Engine,
    EngineClass,
    EngineSettings,
    engine_class,
    engine_names,
    register_engine,
    unregister_engine,
)
from mrl_eval.errors import UsageError
from tests.conftest import data_path


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def top(codes: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's k best rows of `codes` by inner product, one query at a time: (index, score, seconds)."""
    index = np.empty((len(queries), k), np.int64)
    score = np.empty((len(queries), k))
    seconds = np.empty(len(queries))
    for q, query in enumerate(queries):
        started = time.perf_counter()
        scores = codes @ query
        index[q] = np.argsort(-scores, kind="stable")[:k]
        score[q] = scores[index[q]]
        seconds[q] = time.perf_counter() - started
    return index, score, seconds


@dataclass
class ToyIndex:
    dim: int
    precision: str
    kind: str
    size: int
    seconds: float
    codes: np.ndarray | None


class ToyEngine:
    """Exact cosine search in numpy: its only index is the normalised prefix itself."""

    name = "toy"
    precisions = ("float32",)
    reranks = False
    options: tuple[str, ...] = ()

    def __init__(self, docs: np.ndarray, queries: np.ndarray) -> None:
        self.docs, self.queries = docs, queries

    @classmethod
    def open(cls, settings: EngineSettings, docs: np.ndarray, queries: np.ndarray) -> ToyEngine:
        return cls(docs, queries)

    @staticmethod
    def check(settings: EngineSettings) -> None:
        if settings.index_kinds != ("flat",):
            raise UsageError("--index: the toy engine has a flat index only; pass --index flat")

    @staticmethod
    def describe(settings: EngineSettings) -> dict:
        return {"store": "numpy, in memory"}

    def build(self, dim: int, precision: str, kind: str) -> ToyIndex:
        started = time.perf_counter()
        codes = unit(self.docs[:, :dim])
        return ToyIndex(dim, precision, kind, codes.nbytes, time.perf_counter() - started, codes)

    def search(self, built: ToyIndex, ef_search: int | None, k: int, rerank: int = 0):
        return top(built.codes, unit(self.queries[:, : built.dim]), k)

    def exact(self, dim: int, precision: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        return top(unit(self.docs[:, :dim]), unit(self.queries[:, :dim]), k)[:2]

    def drop(self, built: ToyIndex) -> None:
        built.codes = None

    def recipe(self, dim: int, precision: str, kind: str, ef_search: int | None, rerank: int = 0, k: int = 10):
        code = "unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)\n"
        code += f"ids = np.argsort(-(unit(queries[:, :{dim}]) @ unit(corpus[:, :{dim}]).T), axis=1)[:, :{k}]"
        return {"engine": self.name, "language": "python", "python": code, "k": k}

    def table_bytes(self) -> int:
        return 0

    def version(self) -> dict:
        return {"engine": self.name, "version": f"numpy {np.__version__}", "not_measured": "float16, int8, binary"}

    def close(self) -> None:
        pass


@pytest.fixture
def toy():
    register_engine(ToyEngine)
    yield ToyEngine
    unregister_engine("toy")


def _members(protocol: type) -> set[str]:
    return {n for n in vars(protocol) if not n.startswith("_")} | set(protocol.__annotations__)


@pytest.mark.parametrize("name", ["faiss", "pgvector", "toy"])
def test_every_engine_has_every_member_of_the_protocols(toy, name):
    """What evaluate_engine and the registry use, on each engine class (the engines' members are their instances'
    too: the protocols' methods are defined on the class)."""
    cls = engine_class(name)
    assert cls.name == name
    assert not (_members(Engine) | _members(EngineClass)) - set(dir(cls))


def test_a_registered_engine_runs_through_sweep_report_and_recipe(toy, tmp_path):
    folder = data_path("scifact-subset")
    embeddings = folder / "embeddings" / "all-minilm-l6-v2"
    assert "toy" in engine_names()
    run = mrl_eval.sweep(folder, embeddings=embeddings, dims="64,128", resamples=200, engine="toy", index_kind="flat")
    cells = run.to_dict()["engine"]["cells"]
    assert [c["label"] for c in cells] == ["toy:flat:64:float32", "toy:flat:128:float32", "toy:flat:384:float32"]
    for cell in cells:  # exact search: the exact sweep's scores at that dim
        assert cell["neighbour_recall"] == 1.0 and cell["short_lists"] == 0
        for metric, value in cell["metrics"].items():
            assert value == pytest.approx(run.result(cell["dim"]).metrics[metric], abs=1e-6), (cell["label"], metric)
    assert run.to_dict()["engine"]["store"] == "numpy, in memory"  # the engine's own settings description

    rec = mrl_eval.recommend(run, mrl_eval.Rule(max_drop=0.05), optimize="memory")
    pick = rec.engine
    smallest = min(
        (c for c in cells if c["metrics"]["ndcg@10"] >= rec.choice.threshold), key=lambda c: c["index_bytes"]
    )
    assert pick.label == smallest["label"]
    rec.save(tmp_path, plots=False)
    (markdown,) = tmp_path.glob("*.md")
    part = markdown.read_text().split("## Inside toy (numpy ", 1)[1]
    assert part.split("\n", 1)[0].endswith("; not measured: float16, int8, binary")
    rows = [r.strip("|").split("|") for r in part.splitlines() if r.startswith(("| toy:", "| **toy:"))]
    assert sorted(r[0].replace("*", "").replace("✓", "").strip() for r in rows) == sorted(c["label"] for c in cells)
    assert f"```python\n{pick.recipe['python']}\n```" in part


def test_an_unregistered_name_and_a_foreign_option_are_usage_errors(toy):
    with pytest.raises(UsageError, match="--engine 'nope': choose one of exact, faiss, pgvector, toy"):
        EngineSettings(engine="nope").check()
    with pytest.raises(UsageError, match="--pg-dsn is for --engine pgvector"):
        EngineSettings(engine="toy", index_kinds=("flat",), pg_dsn="host=db").check()
    with pytest.raises(UsageError, match="the toy engine has a flat index only"):
        EngineSettings(engine="toy").check()
