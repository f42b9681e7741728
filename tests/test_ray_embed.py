"""Embedding on a real local Ray cluster: model actors fill the cache, an interrupted run resumes from the shards
already written, and the vectors match the single-machine run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mrl_eval.cli import app
from tests.conftest import data_path, require

ray = require("ray", extra="ray")


def _tiny_collection(folder: Path, n_docs: int = 48, n_queries: int = 6) -> Path:
    """The first documents of the bundled Cranfield sample and the queries judged on them."""
    source = data_path("cranfield")
    docs = (source / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:n_docs]
    ids = {json.loads(line)["_id"] for line in docs}
    qrels = [line.split("\t") for line in (source / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    judged = [q for q, d, _ in qrels if d in ids]
    keep = list(dict.fromkeys(judged))[:n_queries]
    queries = [
        line
        for line in (source / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["_id"] in keep
    ]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(docs) + "\n", encoding="utf-8")
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{r}\n" for q, d, r in qrels if q in keep and d in ids)
    )
    return folder


@pytest.fixture(scope="module")
def session():
    """One local cluster (two worker CPUs, 127.0.0.1) for the module, opened as mrl-eval opens it; the CLI runs
    inside it reuse it rather than start their own."""
    from mrl_eval.evaluate.ray_search import RaySettings, cluster

    with cluster(RaySettings(enabled=True, num_cpus=2)) as info:
        yield info


def _provider():
    from mrl_eval.providers import get_provider

    return get_provider("sentence-transformers", None)


def test_actors_fill_the_cache_and_a_rerun_embeds_only_what_is_missing(tmp_path, session):
    from mrl_eval.data.cache import embed_cached
    from mrl_eval.data.ray_embed import fill_cache

    texts = [
        json.loads(line)["text"] for line in (data_path("cranfield") / "corpus.jsonl").read_text().splitlines()[:40]
    ]
    provider = _provider()
    spec = ("sentence-transformers", None, {})
    cache = tmp_path / "cache"
    # an interrupted distributed run: only the first part of the texts reached the cache
    assert fill_cache(provider, spec, texts[:25], "document", cache, "float32", workers=2) == 25
    assert fill_cache(provider, spec, texts, "document", cache, "float32", workers=2) == 15  # the rest only
    assert fill_cache(provider, spec, texts, "document", cache, "float32", workers=2) == 0
    from_ray, embedded_now = embed_cached(provider, texts, "document", cache)
    assert embedded_now == 0  # the driver found every vector in the cache
    alone, _ = embed_cached(provider, texts, "document", tmp_path / "single-machine-cache")
    np.testing.assert_allclose(np.asarray(from_ray), np.asarray(alone), atol=2e-5)  # BLAS threads differ, not models


def test_sweep_with_ray_embeds_on_the_cluster_and_scores_there(cli_env, session):
    folder = _tiny_collection(cli_env / "tiny")
    args = ["sweep", folder, "--dims", "64,128", "--resamples", "200", "--json"]
    on_ray = CliRunner().invoke(
        app, [str(a) for a in [*args, "--ray", "--ray-workers", "2", "--cache-dir", cli_env / "c1"]]
    )
    assert on_ray.exit_code == 0, on_ray.output
    doc = json.loads(on_ray.stdout)
    n_texts = doc["n_docs"] + len(json.loads(json.dumps(doc["per_query"]["384"]["ndcg@10"])))
    assert doc["embedded_now"] >= n_texts - 1  # every distinct text, embedded by the actors
    assert doc["model"]["scored_on"]["ray"]["cpus"] == 2
    again = CliRunner().invoke(app, [str(a) for a in [*args, "--ray", "--cache-dir", cli_env / "c1"]])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["embedded_now"] == 0  # a rerun finds every shard the actors wrote
    alone = CliRunner().invoke(app, [str(a) for a in [*args, "--cache-dir", cli_env / "c2"]])
    assert alone.exit_code == 0, alone.output
    for mine, theirs in zip(doc["results"], json.loads(alone.stdout)["results"]):
        for metric, value in theirs["metrics"].items():
            assert mine["metrics"][metric] == pytest.approx(value, abs=1e-6)
