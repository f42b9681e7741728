"""Property-based tests of the option parsers (dims, metrics, precisions, max-drop, bars, statistics settings, grid
specs) and of the config file: a valid value, or MrlEvalError naming the flag or the key (see tests/fuzzing.py)."""

from __future__ import annotations

import json
import math
import string
from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from mrl_eval.cli.common import CONFIGURABLE
from mrl_eval.cli.config import COMMANDS, file_values, read_config, settings_of
from mrl_eval.decide.compare import CheckedGate
from mrl_eval.decide.recommend import make_rule, parse_max_drop
from mrl_eval.evaluate import metric_registry as M
from mrl_eval.evaluate.dims import parse_dims, resolve_dims
from mrl_eval.evaluate.scales import parse_scales
from mrl_eval.evaluate.stats import StatsSettings
from mrl_eval.limits import MAX_RESAMPLES, MAX_SEED, MIN_RESAMPLES, MIN_TAIL_RESAMPLES
from mrl_eval.methods.grid import parse_methods
from mrl_eval.methods.pca import parse_fit_sample
from mrl_eval.methods.precision import PRECISIONS, parse_precisions
from mrl_eval.methods.two_stage import parse_shortlists, parse_stages
from tests.fuzzing import examples, long_digits, number_text, promptly, tricky_text, valid_or_refused, workdir

# --- option parsers -----------------------------------------------------------------------------------------------

spec_text = st.one_of(
    tricky_text,
    st.lists(st.one_of(number_text, number_text.map(lambda s: s + "%"), tricky_text), max_size=4).map(",".join),
)


@examples(200)
@given(spec=st.one_of(st.none(), spec_text), full_dim=st.integers(1, 4096))
def test_dims_specs_parse_to_dims_within_the_model_or_are_refused(spec, full_dim):
    dims = valid_or_refused(lambda: resolve_dims(spec, full_dim))
    if dims is not None:
        assert dims == sorted(set(dims)) and dims[-1] == full_dim and dims[0] >= 1
        assert all(type(d) is int for d in dims)
        parsed = parse_dims(spec)
        assert all((kind == "abs" and value >= 1) or (kind == "pct" and 0 < value <= 100) for kind, value in parsed)


metric_text = st.one_of(
    tricky_text,
    st.tuples(
        st.sampled_from([*M.METRICS, "NDCG", "ndcg ", "p", ""]), st.sampled_from(["@", " @ ", "", "@@"]), number_text
    ).map("".join),
)


@examples(200)
@given(spec=st.one_of(metric_text, st.lists(metric_text, max_size=3).map(",".join)))
def test_metric_names_parse_to_canonical_names_or_are_refused(spec):
    names = valid_or_refused(lambda: M.parse_metrics(spec))
    if names is not None:
        assert names and len(names) == len(set(names))
        for name in names:
            metric, k = M.parse_metric(name)
            assert metric in M.METRICS and type(k) is int and k >= 1 and name == f"{metric}@{k}"
        depth = M.max_depth(names)
        assert depth >= 1


@examples(100)
@given(
    spec=st.one_of(
        st.none(), tricky_text, st.lists(st.sampled_from([*PRECISIONS, "int4", " INT8 ", ""]), max_size=4).map(",".join)
    )
)
def test_precisions_parse_or_are_refused(spec):
    chosen = valid_or_refused(lambda: parse_precisions(spec))
    if chosen is not None:
        assert chosen and set(chosen) <= set(PRECISIONS)


@examples(200)
@given(text=st.one_of(tricky_text, number_text, number_text.map(lambda s: s + "%")))
def test_max_drop_specs_parse_to_a_drop_within_bounds_or_are_refused(text):
    parsed = valid_or_refused(lambda: parse_max_drop(text))
    if parsed is not None:
        absolute, relative = parsed
        assert (absolute is None) != (relative is None)
        value = absolute if absolute is not None else relative
        assert 0 <= value <= 1 and math.isfinite(value)
    valid_or_refused(lambda: CheckedGate("ndcg@10", "point", text).check())


@examples(150)
@given(
    min_value=st.one_of(st.none(), st.floats()),
    max_drop=st.one_of(st.none(), tricky_text, number_text),
    kind=st.sampled_from(["point", "lower-bound", "non-inferior", "x", ""]),
)
def test_bars_are_made_or_refused(min_value, max_drop, kind):
    rule = valid_or_refused(lambda: make_rule("ndcg@10", min_value, max_drop, kind))
    if rule is not None and rule.min_value is not None:
        assert 0 <= rule.min_value <= 1


@examples(200)
@given(
    confidence=st.one_of(st.floats(), st.integers(-5, 5)),
    resamples=st.one_of(st.integers(), st.integers(min_value=10**20, max_value=10**30)),
    seed=st.one_of(st.integers(), st.integers(min_value=2**62, max_value=2**65)),
    method=st.sampled_from(["bca", "percentile", "BCa", ""]),
)
def test_statistics_settings_are_within_bounds_or_refused(confidence, resamples, seed, method):
    checked = valid_or_refused(lambda: StatsSettings(confidence, resamples, seed, method).check())
    if checked is not None:
        assert 0.5 <= checked.confidence <= 0.9999
        assert (1 - checked.confidence) * checked.resamples >= MIN_TAIL_RESAMPLES * (1 - 1e-9)
        assert MIN_RESAMPLES <= checked.resamples <= MAX_RESAMPLES
        assert 0 <= checked.seed <= MAX_SEED


@examples(150)
@given(spec=st.one_of(tricky_text, st.lists(st.one_of(number_text, tricky_text), max_size=3).map(",".join)))
def test_grid_specs_parse_or_are_refused(spec):
    shortlists = valid_or_refused(lambda: parse_shortlists(spec))
    if shortlists is not None:
        assert shortlists == sorted(set(shortlists)) and all(type(s) is int and s >= 1 for s in shortlists)
    scales = valid_or_refused(lambda: parse_scales(spec))
    if scales is not None:
        assert all(type(n) is int and n >= 1 for n in scales.values())
    sample = valid_or_refused(lambda: parse_fit_sample(spec))
    assert sample is None or (isinstance(sample, float) and 0 < sample < 1) or (type(sample) is int and sample > 1)
    stages = valid_or_refused(lambda: parse_stages(spec, 768))
    if stages is not None:
        assert all(1 <= s.dim <= 768 and s.precision in PRECISIONS for s in stages)
    valid_or_refused(lambda: parse_methods(spec))


# --- the config file ----------------------------------------------------------------------------------------------

runner = CliRunner()
CONFIG_KEYS = [
    "dims", "metrics", "metric", "resamples", "seed", "confidence", "ci-method", "max-drop", "min-ndcg", "min",
    "rule", "holdout", "precisions", "shortlist", "two-stage", "scale", "pca-fit-sample", "batch-size",
    "concurrency", "max-retries", "max-cost", "out", "data", "split", "optimize", "methods", "compare",
    "safety-margin", "baseline-max-drop", "cache-dtype", "provider", "unknown-key", "min_ndcg", "ray-cpus",
    "ray-shard-rows",
]  # fmt: skip


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


toml_scalar = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    tricky_text,
    number_text,
)


@st.composite
def config_file(draw: st.DrawFn) -> str:
    lines = []
    for key in draw(st.lists(st.sampled_from(CONFIG_KEYS), unique=True, max_size=4)):
        value = draw(st.one_of(toml_scalar, st.lists(toml_scalar, max_size=3)))
        lines.append(f"{json.dumps(key)} = {toml_value(value)}")
    if draw(st.integers(0, 4)) == 0:  # a bare integer TOML reads with int(): past 4,300 digits a ValueError
        lines.append(f"{json.dumps(draw(st.sampled_from(CONFIG_KEYS)))} = {draw(long_digits)}")
    if draw(st.booleans()):
        lines.append(f"[{draw(st.sampled_from(['recommend', 'compare', 'sweep']))}]")
        key = draw(st.sampled_from(CONFIG_KEYS))
        lines.append(f"{json.dumps(key)} = {toml_value(draw(toml_scalar))}")
    return "\n".join(lines) + "\n"


config_body = st.one_of(config_file(), st.text(alphabet=string.printable, max_size=60))
ROOT_COMMAND = typer.main.get_command(app)
SPECS = {name: settings_of(ROOT_COMMAND.commands[name], CONFIGURABLE[name]) for name in COMMANDS}  # type: ignore[attr-defined]


@examples(80)
@given(body=config_body, command=st.sampled_from(COMMANDS))
def test_a_config_file_is_read_or_refused_naming_the_file(body, command):
    """The file's values as the command would run with them, each checked as its flag would be."""
    with workdir() as root:
        path = root / "mrl-eval.toml"
        path.write_text(body, encoding="utf-8")
        ctx = ROOT_COMMAND.commands[command].make_context(command, [])  # type: ignore[attr-defined]
        values = valid_or_refused(lambda: file_values(read_config(path), command, SPECS, ctx))
    if values is None:
        return
    for name, (key, value) in values.items():
        assert key in SPECS[command] and SPECS[command][key].name == name
        if name == "resamples":
            assert MIN_RESAMPLES <= value <= MAX_RESAMPLES
        if name == "seed":
            assert 0 <= value <= MAX_SEED


@examples(12)
@given(body=config_body, command=st.sampled_from(COMMANDS))
def test_config_show_answers_any_config_file_without_a_traceback(body, command):
    """The same files end to end (`mrl-eval config show`): exit 0, or exit 1 naming the file."""
    with workdir(enter=True) as root:
        (root / "mrl-eval.toml").write_text(body, encoding="utf-8")
        with promptly():
            result = runner.invoke(app, ["config", "show", command, "--json"])
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 1:
        assert "mrl-eval.toml" in result.stderr


@pytest.mark.parametrize("command", ["recommend", "compare"])
def test_the_fuzz_suite_sees_a_refusal_as_refusal(command, tmp_path, monkeypatch):
    """The property above could pass by never reaching the checks: a known-bad file must come back as exit 1."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mrl-eval.toml").write_text("resamples = 5\n", encoding="utf-8")
    result = runner.invoke(app, ["config", "show", command, "--json"])
    assert result.exit_code == 1 and "resamples = 5" in result.stderr
