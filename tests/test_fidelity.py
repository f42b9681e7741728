"""Label-free fidelity (overlap@k, shortlist_recall@k, rbo@k), the label-free sweep and recommend without qrels, and
pseudo-queries from a corpus alone. Oracles: set arithmetic on the lists, a direct transcription of Webber et al.'s
RBO formula, and a brute-force cosine ranking (tests.conftest)."""

from __future__ import annotations

import json
import re
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.data.collection_files import load_collection
from mrl_eval.errors import MrlEvalError
from mrl_eval.evaluate import fidelity as F
from mrl_eval.evaluate import pseudo_queries as P
from mrl_eval.evaluate.metric_registry import score_ranking
from tests.conftest import brute_force_run, data_path

runner = CliRunner()
CRANFIELD = data_path("cranfield")
MINILM = CRANFIELD / "embeddings" / "all-minilm-l6-v2"


def _label_free(query_ids, ranked, reference, names):
    """Label-free metrics of `ranked` against `reference` (no qrels: every query is evaluated)."""
    n_docs = int(max(np.max(ranked, initial=-1), np.max(reference, initial=-1))) + 1
    return score_ranking(query_ids, np.asarray(ranked), [str(i) for i in range(n_docs)], {}, names, reference)


# 1. The measures against independent computations


def rbo_ext_by_the_paper(s: list[int], t: list[int], p: float) -> float:
    """Webber, Moffat, Zobel 2010, eq. 30, transcribed with Python sets: X_d = |S_{:d} ∩ T_{:d}|, k = depth."""
    k = min(len(s), len(t))
    if k == 0:
        return 1.0
    x = [len(set(s[:d]) & set(t[:d])) for d in range(1, k + 1)]
    return x[k - 1] / k * p**k + (1 - p) / p * sum(x[d - 1] / d * p**d for d in range(1, k + 1))


def test_rbo_of_a_swapped_pair_is_worked_by_hand():
    # S = a b c, T = b a c, p = 0.9: X = 0, 2, 3 -> (0.1 / 0.9) * (0.81 + 0.729) + 0.729 = 0.171 + 0.729 = 0.9
    values = _label_free(["q"], np.array([[0, 1, 2]]), np.array([[1, 0, 2]]), ["rbo@3"])
    assert values["rbo@3"]["q"] == pytest.approx(0.9, abs=1e-12)


@st.composite
def ranking_pairs(draw):
    n_docs = draw(st.integers(1, 30))
    depth = draw(st.integers(1, 25))
    rows = draw(st.integers(1, 4))
    pairs = []
    for _ in range(rows):
        real = min(depth, n_docs)
        a = draw(st.permutations(range(n_docs)))[:real]
        b = draw(st.permutations(range(n_docs)))[:real]
        pairs.append((list(a) + [-1] * (depth - real), list(b) + [-1] * (depth - real)))
    return pairs, depth


@settings(max_examples=150, deadline=None)
@given(ranking_pairs(), st.integers(1, 30))
def test_measures_match_set_arithmetic_and_the_rbo_formula(case, k):
    pairs, depth = case
    ranked = np.array([a for a, _ in pairs])
    reference = np.array([b for _, b in pairs])
    ids = [f"q{i}" for i in range(len(pairs))]
    values = _label_free(ids, ranked, reference, [f"overlap@{k}", f"shortlist_recall@{k}", f"rbo@{k}"])
    for qid, (a, b) in zip(ids, pairs):
        a_real, b_real = [x for x in a if x >= 0], [x for x in b if x >= 0]
        a_k, b_k = a_real[:k], b_real[:k]
        assert values[f"overlap@{k}"][qid] == pytest.approx(len(set(a_k) & set(b_k)) / len(b_k))
        target = b_real[:10]
        assert values[f"shortlist_recall@{k}"][qid] == pytest.approx(len(set(target) & set(a_k)) / len(target))
        assert values[f"rbo@{k}"][qid] == pytest.approx(rbo_ext_by_the_paper(a_k, b_k, F.RBO_P))


def test_identical_rankings_score_one_and_disjoint_ones_zero():
    same = np.arange(20).reshape(2, 10)
    apart = same + 100
    names = ["overlap@10", "shortlist_recall@10", "rbo@10"]
    assert all(v == pytest.approx(1.0) for m in names for v in _label_free(["a", "b"], same, same, names)[m].values())
    assert all(v == 0.0 for m in names for v in _label_free(["a", "b"], apart, same, names)[m].values())


def test_sweep_overlap_matches_a_brute_force_ranking():
    from mrl_eval.data.vectors import load_vectors
    from mrl_eval.pipeline.score import score_vectors

    vectors = load_vectors(MINILM)
    result = score_vectors(vectors, {}, [64, 384], ["overlap@10", "rbo@100"])
    queries, docs = np.asarray(vectors.queries), np.asarray(vectors.docs)
    small = brute_force_run(queries, docs, vectors.doc_ids, 64, 100)
    full = brute_force_run(queries, docs, vectors.doc_ids, 384, 100)
    for qid, s, f in zip(vectors.query_ids, small, full):
        s_ids, f_ids = [d for d, _ in s], [d for d, _ in f]
        assert result.per_query[64]["overlap@10"][qid] == pytest.approx(len(set(s_ids[:10]) & set(f_ids[:10])) / 10)
        assert result.per_query[64]["rbo@100"][qid] == pytest.approx(rbo_ext_by_the_paper(s_ids, f_ids, F.RBO_P))
        assert result.per_query[384]["overlap@10"][qid] == 1.0


# 2. Loading without qrels


def _no_qrels(tmp: Path) -> Path:
    folder = tmp / "noqrels"
    folder.mkdir()
    for name in ("corpus.jsonl", "queries.jsonl"):
        shutil.copy(CRANFIELD / name, folder / name)
    return folder


def test_qrels_are_optional_only_when_asked_and_absent(tmp_path):
    folder = _no_qrels(tmp_path)
    assert load_collection(folder, require_qrels=False).qrels == {}
    with pytest.raises(MrlEvalError, match="(?s)qrels file not found.*label-free"):
        load_collection(folder)
    (folder / "qrels").mkdir()
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n1\t1\t1\n")
    with pytest.raises(MrlEvalError, match="splits in this folder: dev"):  # a wrong --split stays an error
        load_collection(folder, require_qrels=False)


# 3. Through the CLI, without qrels


def _invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_label_free_sweep_without_qrels_gives_intervals_losses_and_reports(cli_env):
    folder = _no_qrels(cli_env)
    result = _invoke("sweep", folder, "--embeddings", MINILM, "--dims", "64,128", "--resamples", 500, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["settings"]["metrics"] == list(F.DEFAULT_LABEL_FREE_METRICS)
    assert doc["queries_evaluated"] == 225 and doc["queries_skipped"] == 0
    full = next(r for r in doc["results"] if r["dim"] == 384)
    assert all(v == 1.0 for v in full["metrics"].values())
    small = next(r for r in doc["results"] if r["dim"] == 64)
    low, high = small["stats"]["overlap@10"]["ci"]
    assert low <= small["metrics"]["overlap@10"] <= high < 1.0
    assert small["stats"]["overlap@10"]["p_value"] < 0.05
    assert doc["label_free"]["reference"].startswith("the full-dim exact ranking")
    assert doc["losses"]["metric"] == "overlap@10" and doc["losses"]["by_dim"]["64"]
    markdown = (cli_env / "reports" / "noqrels__all-minilm-l6-v2.md").read_text()
    assert "Label-free" in markdown and "rank-biased overlap" in markdown


@pytest.mark.parametrize("name", ["test.tsv", "judgments.trec", "QRELS.txt", "my-qrels.csv"])
def test_bug_misplaced_qrels_stop_the_run_instead_of_a_silent_label_free_one(cli_env, name):
    """Qrels beside corpus.jsonl instead of under qrels/: the sweep used to switch to label-free (an overlap table,
    exit 0). It stops, says where qrels are looked for and how to pass them; with --qrels the run scores them."""
    folder = _no_qrels(cli_env)
    misplaced = folder / name
    shutil.copy(CRANFIELD / "qrels" / "test.tsv", misplaced)
    result = _invoke("sweep", folder, "--embeddings", MINILM, "--dims", "64", "--resamples", 100, "--json")
    assert result.exit_code == 1, result.output
    message = " ".join(result.output.split())
    assert f"No qrels found, but {misplaced} looks like qrels" in message
    assert f"DATA/qrels/<split>.tsv ({folder / 'qrels' / 'test.tsv'})" in message
    assert f"Pass --qrels {misplaced}" in message
    assert result.stdout == "" and not (cli_env / "reports").exists()
    if name == "test.tsv":
        scored = _invoke("sweep", folder, "--embeddings", MINILM, "--qrels", misplaced, "--dims", "64", "--json")
        assert scored.exit_code == 0, scored.output
        assert "ndcg@10" in json.loads(scored.stdout)["results"][0]["metrics"]


def test_bug_a_run_without_qrels_says_it_is_label_free_unless_chosen(cli_env):
    """No qrels anywhere and nothing that looks like them: one warning line says the run has no relevance judgments
    and what it measures instead; naming label-free metrics chooses the mode, and the line is not printed."""
    folder = _no_qrels(cli_env)
    implicit = _invoke("sweep", folder, "--embeddings", MINILM, "--dims", "64", "--resamples", 100, "--json")
    assert implicit.exit_code == 0, implicit.output
    lines = [line for line in implicit.stderr.splitlines() if "no qrels" in line]
    assert len(lines) == 1 and lines[0].startswith("Warning: no qrels (no --qrels FILE, no DATA/qrels/<split>.tsv")
    assert "a label-free run" in lines[0] and "not how good they are" in lines[0]
    chosen = _invoke("sweep", folder, "--embeddings", MINILM, "--dims", "64", "--metrics", "overlap@10", "--json")
    assert chosen.exit_code == 0, chosen.output
    assert "no qrels" not in chosen.stderr


def test_recommend_on_overlap_picks_the_smallest_dim_meeting_the_bar(cli_env):
    folder = _no_qrels(cli_env)
    args = ["recommend", folder, "--embeddings", MINILM, "--dims", "64,128,256", "--metric", "overlap@10"]
    sweep = json.loads(_invoke(*args, "--min", 0.0, "--json").stdout)
    means = {r["dim"]: r["metrics"]["overlap@10"] for r in sweep["results"]}
    bar = (means[128] + means[256]) / 2  # 128 fails it, 256 meets it
    result = _invoke(*args, "--min", bar, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recommendation"]["dim"] == min(d for d, m in means.items() if m >= bar)
    drop = 1.0 - (means[64] + means[128]) / 2
    result = _invoke(*args, "--max-drop", drop, "--json")
    assert json.loads(result.stdout)["recommendation"]["dim"] == min(d for d, m in means.items() if m >= 1.0 - drop)
    result = _invoke(*args, "--max-drop", 0.0, "--json")  # only the full dim keeps all of its own top 10
    assert json.loads(result.stdout)["recommendation"]["dim"] == 384


@pytest.mark.parametrize("args", [["--metrics", "ndcg@10"], ["--metrics", "overlap@10,map@100"]])
def test_qrels_metrics_without_qrels_are_an_error_naming_the_fix(cli_env, args):
    folder = _no_qrels(cli_env)
    result = _invoke("sweep", folder, "--embeddings", MINILM, *args)
    assert result.exit_code == 1
    assert "qrels file not found" in result.output and "overlap@10" in result.output


def test_recommend_default_metric_without_qrels_says_to_pick_a_label_free_one(cli_env):
    result = _invoke("recommend", _no_qrels(cli_env), "--embeddings", MINILM, "--max-drop", "0.02")
    assert result.exit_code == 1 and "--metric overlap@10" in " ".join(result.output.split())


def test_label_free_metrics_beside_qrels_metrics(cli_env):
    result = _invoke(
        "sweep", CRANFIELD, "--embeddings", MINILM, "--dims", 64, "--metrics", "ndcg@10,overlap@10", "--json"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc["results"][0]["metrics"]) == {"ndcg@10", "overlap@10"}


# 4. Pseudo-queries


def test_passage_is_one_long_enough_sentence_cut_to_the_word_limit():
    text = "Short one. " + "This sentence has more than five words in it. " + " ".join(["word"] * 50) + "."
    rng = np.random.default_rng(0)
    for _ in range(20):
        chosen = P.passage(text, rng)
        assert chosen in {"This sentence has more than five words in it.", " ".join(["word"] * P.MAX_WORDS)}
    assert P.passage("no break at all here", rng) == "no break at all here"


def test_pseudo_queries_from_precomputed_vectors_exclude_their_own_document(cli_env):
    folder = _no_qrels(cli_env)
    args = ["sweep", folder, "--embeddings", MINILM, "--dims", 64, "--queries-from-corpus", 25, "--resamples", 500]
    result = _invoke(*args, "--json", "--save-runs", "runs")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["queries"]["kind"] == "pseudo" and doc["queries"]["source"] == "document vector"
    assert doc["queries_evaluated"] == 25
    for line in (cli_env / "runs" / "noqrels__all-minilm-l6-v2.d64.trec").read_text().splitlines():
        query_id, _, doc_id, *_ = line.split()
        assert query_id != doc_id
    text = _invoke(*args).output
    assert "25 pseudo-queries evaluated" in text and "Pseudo-queries:" in text
    for suffix in (".md", ".html"):
        assert "pseudo-queries" in (cli_env / "reports" / f"noqrels__all-minilm-l6-v2{suffix}").read_text()
    assert "No reading of overlap@10 into ndcg@10 for pseudo-queries: the calibration used real queries" in text


def test_pseudo_queries_refuse_qrels_metrics(cli_env):
    result = _invoke("sweep", CRANFIELD, "--embeddings", MINILM, "--queries-from-corpus", 5, "--metrics", "ndcg@10")
    assert result.exit_code == 2 and "relevance judgments" in result.output


@pytest.mark.slow
def test_pseudo_queries_from_a_corpus_alone_with_the_bundled_model(cli_env):
    corpus = cli_env / "corpus.jsonl"
    corpus.write_text("".join((CRANFIELD / "corpus.jsonl").read_text().splitlines(keepends=True)[:40]))
    result = _invoke("sweep", "--corpus", corpus, "--queries-from-corpus", 4, "--dims", 96, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["queries"]["source"] == "passage" and doc["queries_evaluated"] == 4
    assert doc["n_docs"] == 40 and doc["model"]["provider"] == "sentence-transformers"


# 5. What the label-free numbers are read as: the overlap@10 reading and shortlist_recall saturation


def _calibration_curves() -> list[dict]:
    text = resources.files("mrl_eval.evaluate").joinpath("overlap_calibration.json").read_text(encoding="utf-8")
    return json.loads(text)["curves"]


def _reading_by_hand(curves: list[dict], overlap: float) -> tuple[float, float] | None:
    """docs/label-free.md's rule, with numpy's interpolation: the spread of the curves reaching `overlap` (curves of
    two collections at least), widened per unit of (1 - overlap) by the furthest a held-out collection's points fell
    below or above the other collections' spread."""

    def spread(chosen, o, need):
        values = [
            (c["collection"], np.interp(o, c["overlap"], c["drop"]))
            for c in chosen
            if c["overlap"][0] <= o <= c["overlap"][-1]
        ]
        if len({name for name, _ in values}) < need:
            return None
        return min(v for _, v in values), max(v for _, v in values)

    below = above = 0.0
    for held in {c["collection"] for c in curves}:
        others = [c for c in curves if c["collection"] != held]
        for c in (c for c in curves if c["collection"] == held):
            for o, d in zip(c["overlap"], c["drop"]):
                seen = spread(others, o, 1)
                if seen:
                    below, above = max(below, (seen[0] - d) / (1 - o)), max(above, (d - seen[1]) / (1 - o))
    seen = spread(curves, overlap, 2)
    return None if seen is None else (seen[0] - below * (1 - overlap), seen[1] + above * (1 - overlap))


@pytest.fixture(scope="module")
def label_free_run(tmp_path_factory):
    """A label-free sweep of Cranfield without qrels, as the terminal shows it, and its JSON report."""
    tmp = tmp_path_factory.mktemp("reading")
    folder = _no_qrels(tmp)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp)
        patch.setenv("XDG_CACHE_HOME", str(tmp / "cache"))
        result = _invoke("sweep", folder, "--embeddings", MINILM, "--dims", "16,32,64,128,256", "--resamples", 200)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp / "reports" / "noqrels__all-minilm-l6-v2.json").read_text())
    means = {r["dim"]: r["metrics"] for r in report["results"] if r["dim"] != report["full_dim"]}
    return result.stdout, means, (tmp / "reports" / "noqrels__all-minilm-l6-v2.md").read_text()


def test_label_free_overlap_reading_is_a_range_from_the_named_collections_not_a_bound(label_free_run):
    text, means, markdown = label_free_run
    curves = _calibration_curves()
    line = next(line for line in text.splitlines() if line.startswith("What overlap@10 suggests"))
    assert f"read from {len({c['collection'] for c in curves})} collections" in line and "not a bound" in line
    assert "largest" not in line and line in " ".join(markdown.split())
    readings = dict(
        (int(dim), (low, high))
        for dim, low, high in re.findall(r"(\d+) d \(overlap@10 [\d.]+\): ([-+][\d.]+) to ([-+][\d.]+)", line)
    )
    expected_any = False
    for dim, metrics in means.items():
        expected = _reading_by_hand(curves, metrics["overlap@10"])
        if expected is None:
            assert re.search(rf"\b{dim} d \(overlap@10 [\d.]+\): no reading", line)
        else:
            expected_any = True
            assert readings[dim] == (f"{expected[0]:+.3f}", f"{expected[1]:+.3f}")
            assert float(readings[dim][0]) < float(readings[dim][1])
    assert expected_any


def test_the_overlap_reading_holds_every_calibration_point_it_was_built_from():
    from mrl_eval.evaluate.overlap_reading import calibration

    cal = calibration()
    assert cal is not None and len(cal.collections) >= 2
    for c in cal.curves:
        for o, d in zip(c.overlap, c.drop):
            r = cal.read(o)
            assert r is None or r.low <= r.seen_low <= d <= r.seen_high <= r.high


def test_shortlist_recall_saturation_is_flagged_where_the_mean_reaches_the_ceiling(label_free_run):
    text, means, _ = label_free_run
    saturated = [dim for dim, m in means.items() if m["shortlist_recall@100"] >= F.SATURATED]
    assert saturated and len(saturated) < len(means)  # the run has both kinds, so the flag can be wrong both ways
    line = next(line for line in text.splitlines() if line.startswith("Saturated"))
    named = re.search(r"shortlist_recall@100 at ([\d, ]+) d", line).group(1)
    assert [int(d) for d in named.split(", ")] == saturated
