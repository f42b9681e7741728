"""Several models in one run: the same numbers as one run per model, the comparison across models against
independent oracles (scipy's bootstrap and permutation test, FAISS for quantised cells, pytrec_eval), and the
recommendation checked against a brute-force choice over the report's cells."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as scipy_stats
from typer.testing import CliRunner

import mrl_eval
from mrl_eval.api.model_results import ModelsRun, recommend_models
from mrl_eval.cli.app import app
from mrl_eval.data.vectors import load_vectors
from mrl_eval.errors import MrlEvalWarning
from tests.conftest import data_path, read_qrels_tsv, require
from tests.faiss_oracle import by_tie_rule, faiss_search, unit_prefix

SUBSET = data_path("scifact-subset")
MODELS = {name: SUBSET / "embeddings" / name for name in ("all-minilm-l6-v2", "embeddinggemma-300m")}
DIMS = "64,128,256"
SETTINGS = {"dims": DIMS, "precisions": "float32,int8,binary", "resamples": 2000}


@pytest.fixture(scope="module")
def both() -> ModelsRun:
    run = mrl_eval.sweep(SUBSET, embeddings=list(MODELS.values()), **SETTINGS)
    assert isinstance(run, ModelsRun)
    return run


@pytest.fixture(scope="module")
def alone() -> dict[str, mrl_eval.SweepRun]:
    return {name: mrl_eval.sweep(SUBSET, embeddings=folder, **SETTINGS) for name, folder in MODELS.items()}


def test_two_models_in_one_run_give_the_numbers_of_two_runs(both, alone):
    assert both.names == tuple(MODELS)
    for name, single in alone.items():
        run = both.run(name)
        assert run.per_query == single.per_query  # every query of every dim, bit for bit
        assert [r.metrics for r in run.results] == [r.metrics for r in single.results]
        assert {c.label: c.metrics for c in run.cells} == {c.label: c.metrics for c in single.cells}
        assert run.report.grid.per_query == single.report.grid.per_query


def test_each_model_keeps_its_own_full_dim(both):
    assert [r.full_dim for r in both.runs] == [384, 768]
    assert [r.dims for r in both.runs] == [[64, 128, 256, 384], [64, 128, 256, 768]]


def test_an_absolute_dim_above_a_models_size_is_left_out_for_that_model_only():
    with pytest.warns(MrlEvalWarning, match="512"):
        run = mrl_eval.sweep(SUBSET, embeddings=list(MODELS.values()), dims="128,512", resamples=200)
    assert [r.dims for r in run.runs] == [[128, 384], [128, 512, 768]]


def test_the_reference_is_the_best_model_at_full_size(both):
    full = {r.report.model.name: r.result(r.full_dim).metrics["ndcg@10"] for r in both.runs}
    best = max(full, key=full.get)
    assert both.reference == f"{best} · prefix:{both.run(best).full_dim}:float32"


def test_cross_model_intervals_and_p_values_match_scipy(both):
    """Model A's 128-dim int8 cell against the reference (model B at full size), paired on the same queries."""
    ref = next(c for c in both.cells if c.label == both.reference)
    other = next(c for c in both.cells if c.model != ref.model and c.cell == "prefix:128:int8")
    values = both.report.runs
    per = {
        ref.label: values[both.names.index(ref.model)].per_query[ref.dim]["ndcg@10"],
        other.label: values[both.names.index(other.model)].grid.per_query[other.cell]["ndcg@10"],
    }
    ids = list(per[ref.label])
    deltas = np.array([per[other.label][q] - per[ref.label][q] for q in ids])
    stats = other.stats["ndcg@10"]
    assert stats.delta == pytest.approx(deltas.mean(), abs=1e-12)
    ci = scipy_stats.bootstrap((deltas,), np.mean, n_resamples=2000, method="BCa", rng=np.random.default_rng(0))
    width = ci.confidence_interval.high - ci.confidence_interval.low
    assert stats.delta_ci[0] == pytest.approx(ci.confidence_interval.low, abs=0.1 * width)
    assert stats.delta_ci[1] == pytest.approx(ci.confidence_interval.high, abs=0.1 * width)
    p = scipy_stats.permutation_test(
        (deltas,), np.mean, permutation_type="samples", n_resamples=2000, rng=np.random.default_rng(0)
    ).pvalue
    assert stats.p_value == pytest.approx(p, abs=0.03)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_quantised_cells_of_every_model_are_scored_as_faiss_scores_them(both, model, precision):
    """The cross-model table's int8 and binary cells: nDCG@10 of FAISS's own ranking, by pytrec_eval."""
    pytrec_eval = require("pytrec_eval")
    vectors = load_vectors(MODELS[model])
    qrels = read_qrels_tsv(SUBSET / "qrels" / "test.tsv")
    judged = [i for i, q in enumerate(vectors.query_ids) if qrels.get(q)]
    dim = 128
    docs, queries = unit_prefix(vectors.docs, dim), unit_prefix(vectors.queries[judged], dim)
    scores, ids = faiss_search(docs, queries, precision, len(vectors.doc_ids))
    key = np.argsort(np.argsort(np.asarray(vectors.doc_ids, dtype=object), kind="stable"))
    scores, ids = by_tie_rule(scores, ids, key, 10)
    run = {
        vectors.query_ids[q]: {vectors.doc_ids[d]: float(10 - r) for r, d in enumerate(ids[row])}
        for row, q in enumerate(judged)
    }
    theirs = pytrec_eval.RelevanceEvaluator({q: qrels[q] for q in run}, {"ndcg_cut.10"}).evaluate(run)
    expected = np.mean([v["ndcg_cut_10"] for v in theirs.values()])
    cell = next(c for c in both.cells if c.model == model and c.cell == f"prefix:{dim}:{precision}")
    assert cell.metrics["ndcg@10"] == pytest.approx(expected, abs=1e-9)


def _brute_force(cells, bar: float) -> str | None:
    """The cheapest cell by bytes per vector whose mean nDCG@10 reaches `bar`; ties: the higher score."""
    meeting = [c for c in cells if c["metrics"]["ndcg@10"] >= bar]
    if not meeting:
        return None
    return min(meeting, key=lambda c: (c["bytes_per_vector"], -c["metrics"]["ndcg@10"]))["label"]


@pytest.mark.parametrize("bar", [0.5, 0.7, 0.8, 0.85, 0.9, 0.92, 0.99])
def test_recommend_picks_the_cheapest_cell_over_both_models(both, bar):
    rec = recommend_models(both, mrl_eval.Rule(min=bar), optimize="bytes")
    cells = json.loads(json.dumps(rec.to_dict()))["comparison"]["cells"]  # read back as the file holds them
    assert rec.label == _brute_force(cells, bar)
    assert rec.passed is (rec.label is not None)
    if rec.label is not None:
        others = {c["model"] for c in cells} - {rec.model}
        assert set(rec.choice.why_not) == others


def test_a_relative_bar_is_relative_to_the_named_reference(both):
    weaker = min(both.runs, key=lambda r: r.result(r.full_dim).metrics["ndcg@10"]).report.model.name
    rec = recommend_models(both, mrl_eval.Rule(max_drop=0.02), optimize="bytes", reference=weaker)
    ref_value = both.run(weaker).result(both.run(weaker).full_dim).metrics["ndcg@10"]
    assert rec.choice.reference.startswith(weaker) and rec.choice.threshold == pytest.approx(ref_value - 0.02)


def test_non_inferior_uses_the_paired_interval_against_the_reference(both):
    rec = recommend_models(both, mrl_eval.Rule(max_drop=0.05, kind="non-inferior"), optimize="bytes")
    chosen = next(c for c in rec.run.cells if c.label == rec.label)
    assert chosen.stats["ndcg@10"].delta_ci[0] >= -0.05
    cheaper = [c for c in rec.run.cells if c.bytes_per_vector < chosen.bytes_per_vector]
    assert all(c.stats["ndcg@10"].delta_ci[0] < -0.05 for c in cheaper)


def test_an_unknown_reference_is_a_usage_error(both):
    with pytest.raises(mrl_eval.UsageError, match="--reference 'nope'"):
        recommend_models(both, mrl_eval.Rule(min=0.5), reference="nope")


def test_the_frontier_holds_no_dominated_cell(both):
    cells = {c.label: c for c in both.cells}
    front = [cells[label] for label in both.frontier]
    for c in front:
        assert not any(
            o.bytes_per_vector <= c.bytes_per_vector and o.metrics["ndcg@10"] > c.metrics["ndcg@10"]
            for o in both.cells
            if o.label != c.label
        )


def test_the_same_model_twice_is_refused():
    folder = MODELS["all-minilm-l6-v2"]
    with pytest.raises(mrl_eval.UsageError, match="given twice"):
        mrl_eval.sweep(SUBSET, embeddings=[folder, folder], resamples=200)


def test_holdout_across_models_chooses_on_some_queries_and_scores_the_rest(both):
    from mrl_eval.evaluate.stats import holdout_split

    bar = 0.85
    rec = mrl_eval.recommend(both, mrl_eval.Rule(min=bar), optimize="bytes", holdout=0.5)
    check = rec.holdout
    select, test = holdout_split(list(both.runs[0].query_ids), 0.5, both.stats.seed)
    assert (check.n_select, check.n_test) == (len(select), len(test)) and not set(select) & set(test)
    cells = json.loads(json.dumps(rec.to_dict()))["comparison"]["cells"]
    values = {}  # every cell's per-query nDCG@10, read from the models' own reports
    for entry in rec.to_dict()["models"]:
        name, report = entry["name"], entry["report"]
        for dim, per in report["per_query"].items():
            values[f"{name} · prefix:{dim}:float32"] = per["ndcg@10"]
        for label, per in report.get("grid", {}).get("per_query", {}).items():
            values[f"{name} · {label}"] = per["ndcg@10"]
    on = {c["label"]: c for c in cells}
    select_means = [
        {**on[label], "metrics": {"ndcg@10": float(np.mean([v[q] for q in select]))}} for label, v in values.items()
    ]
    assert check.label == _brute_force(select_means, bar)
    if check.label is not None:
        assert check.test_value == pytest.approx(np.mean([values[check.label][q] for q in test]), abs=1e-12)


def test_a_saved_report_of_several_models_reads_back_to_the_same_comparison(both, tmp_path):
    paths = both.save(tmp_path, plots=False)
    saved = mrl_eval.load_run(next(p for p in paths if p.suffix == ".json"), resamples=2000)
    assert isinstance(saved, ModelsRun) and saved.names == both.names
    assert saved.reference == both.reference and saved.frontier == both.frontier
    live = {c.label: (c.metrics, c.stats) for c in both.cells}
    assert {c.label: (c.metrics, c.stats) for c in saved.cells} == live
    for bar in (0.8, 0.9):
        rule = mrl_eval.Rule(min=bar)
        assert (
            mrl_eval.recommend(saved, rule, optimize="bytes").label
            == mrl_eval.recommend(both, rule, optimize="bytes").label
        )


def test_a_hand_edited_comparison_is_recomputed_not_trusted(both, tmp_path):
    doc = both.to_dict()
    for cell in doc["comparison"]["cells"]:
        cell["metrics"]["ndcg@10"] = 0.999  # every cell "meets" any bar in the edited summary
    (tmp_path / "edited.json").write_text(json.dumps(doc))
    saved = mrl_eval.load_run(tmp_path / "edited.json", resamples=2000)
    assert {c.label: c.metrics for c in saved.cells} == {c.label: c.metrics for c in both.cells}


def test_a_report_of_several_models_is_refused_where_one_models_is_read(both, tmp_path):
    paths = both.save(tmp_path, plots=False)
    report = next(p for p in paths if p.suffix == ".json")
    result = CliRunner().invoke(app, ["compare", str(report), str(report)])
    assert result.exit_code == 1 and "a report of several models" in result.stderr, result.output


def test_the_costs_table_shows_each_models_throughput_and_corpus_cost(both):
    from dataclasses import replace

    from mrl_eval.report.model import ModelInfo
    from mrl_eval.report.models_costs import costs_table
    from mrl_eval.report.render import markdown_table

    throughput = {"total": {"texts": 1525, "tokens": 90_000, "seconds": 12.5}}
    throughput["total"] |= {"texts_per_second": 1525 / 12.5, "tokens_per_second": 90_000 / 12.5}
    cost = {"document_tokens": 120_000, "corpus_usd": 120_000 * 0.02 / 1e6, "usd_per_query": 0.0000004}
    runs = list(both.report.runs)
    runs[0] = replace(runs[0], model=ModelInfo({**runs[0].model.about, "throughput": throughput, "corpus_cost": cost}))
    table = costs_table(replace(both.report, runs=tuple(runs)))
    rows = [line.split("|")[1:-1] for line in markdown_table(table)[2:] if line.startswith("|")]
    first, second = ([c.strip() for c in row] for row in rows[-2:])
    assert first[0] == both.names[0] and first[1] == f"{both.run(both.names[0]).full_dim:,}"
    assert first[3:6] == ["122", "7,200", "120,000"]  # 1525 / 12.5 texts/s, 90,000 / 12.5 tokens/s
    assert first[6] == "$2.40e-03" and first[7] == "$4.00e-07"
    assert second[3:] == ["—"] * 6  # precomputed vectors: nothing embedded, nothing priced, one backend


def test_a_baseline_of_several_models_gates_each_shared_model(both, tmp_path):
    saved = next(p for p in both.save(tmp_path / "base", plots=False) if p.suffix == ".json")
    same = mrl_eval.recommend(both, mrl_eval.Rule(min=0.5), optimize="bytes", baseline=saved)
    assert [name for name, _ in same.baselines] == list(both.names) and same.passed
    # a baseline where one model scored 0.2 higher on every query: that model regressed beyond 0.01
    doc = json.loads(saved.read_text())
    better = doc["models"][0]["report"]
    for dim, per in better["per_query"].items():
        for metric, values in per.items():
            per[metric] = {q: min(1.0, v + 0.2) for q, v in values.items()}
        row = next(r for r in better["results"] if str(r["dim"]) == dim)
        row["metrics"] = {m: float(np.mean(list(v.values()))) for m, v in per.items()}
    better.pop("grid", None)
    edited = tmp_path / "better.json"
    edited.write_text(json.dumps(doc))
    worse = mrl_eval.recommend(both, mrl_eval.Rule(min=0.5), optimize="bytes", baseline=edited)
    verdicts = {name: c.passed for name, c in worse.baselines}
    assert verdicts == {both.names[0]: False, both.names[1]: True} and not worse.passed
    with pytest.raises(mrl_eval.GateFailed):
        worse.raise_if_failed()


@pytest.mark.slow
def test_a_list_of_backends_runs_the_model_on_each_and_reports_their_agreement(tmp_path, monkeypatch):
    """--backend torch,onnx: the bundled model on both backends in one run, the same queries, the cosine of their
    vectors and the quality at every dim side by side (the faster path measures the same thing)."""
    require("onnxruntime", extra="onnx")
    from mrl_eval.data.collection_files import load_collection

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = load_collection(data_path("cranfield"))
    judged = [q for q in source.query_ids if source.qrels.get(q)][:25]
    docs = sorted({d for q in judged for d in source.qrels[q]} | set(source.doc_ids[:80]))
    text = dict(zip(source.doc_ids, source.doc_texts))
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "text": text[d]}) + "\n" for d in docs))
    queries = dict(zip(source.query_ids, source.query_texts))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": queries[q]}) + "\n" for q in judged))
    rows = [f"{q}\t{d}\t{r}" for q in judged for d, r in source.qrels[q].items()]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    run = mrl_eval.sweep(folder, backend="torch,onnx", cache_dir=tmp_path / "cache", dims="96,192", resamples=200)
    assert isinstance(run, ModelsRun) and len(run.names) == 2 and run.names[1].endswith("(onnx)")
    torch_run, onnx_run = run.output.outcomes
    agreement = onnx_run.model["agreement"]
    cosines = [
        np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        for a, b in (
            (np.asarray(torch_run.vectors.docs, np.float64), np.asarray(onnx_run.vectors.docs, np.float64)),
            (np.asarray(torch_run.vectors.queries, np.float64), np.asarray(onnx_run.vectors.queries, np.float64)),
        )
    ]
    assert agreement["documents_mean_cosine"] == pytest.approx(cosines[0].mean(), abs=1e-12)
    assert agreement["queries_mean_cosine"] == pytest.approx(cosines[1].mean(), abs=1e-12)
    assert min(c.min() for c in cosines) > 0.99999  # measured 0.9999999
    for dim in (96, 192, 384):  # the quality the two backends measure, dim by dim (the bar: 0.002)
        a, b = (r.result(dim).metrics["ndcg@10"] for r in run.runs)
        assert abs(a - b) <= 0.002, (dim, a, b)
