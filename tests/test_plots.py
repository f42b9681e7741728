"""The charts draw any name from the run as plain text (matplotlib would read `$...$` as math)."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from mrl_eval.report.plots import plot_tradeoff
from mrl_eval.report.schema import parse_document
from tests.helpers import minimal_report


@pytest.mark.parametrize("name", ["a$\\frac$b", "x\\$y$z", "$$", "50$ and 20$", "<script>"])
def test_a_model_name_with_dollars_draws_as_text(tmp_path, name):
    doc = minimal_report(model={"provider": "precomputed", "name": name, "fingerprint": "sha256:0"})
    plot_tradeoff(parse_document(doc, Path("run.json")), [tmp_path / "chart.svg"])
    svg = (tmp_path / "chart.svg").read_text(encoding="utf-8")
    assert html.escape(name, quote=False) in svg  # the title's text, as written, escaped by the SVG writer
