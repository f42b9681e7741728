"""The pipeline's order of work: what can be refused before the slow part is refused before it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from tests.conftest import require

runner = CliRunner()


def test_bug_a_dim_above_the_models_size_is_refused_before_any_text_is_embedded(cli_env, monkeypatch):
    """`--dims 500` on the bundled 384-d model was refused only after embedding the whole corpus."""
    require("sentence_transformers", extra="st")
    from mrl_eval.providers.sentence_transformers import SentenceTransformersProvider

    def no_embedding(*args: object, **kwargs: object) -> None:
        pytest.fail("a text was embedded before the dims were checked")

    monkeypatch.setattr(SentenceTransformersProvider, "embed", no_embedding)
    result = runner.invoke(app, ["sweep", "--dims", "64,500"])
    assert result.exit_code == 2, result.output
    assert "--dims: 500 is larger than the model's full dim 384" in result.stderr
