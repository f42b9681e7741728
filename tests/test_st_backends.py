"""--backend's plumbing without running a model: the choice, where an export lives, how a damaged one is found, and
the extra a missing runtime names. The exports themselves are tested on the real bundled model in test_model.py."""

from __future__ import annotations

import json
import sys

import pytest

from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.providers import get_provider, st_backends
from mrl_eval.providers.sentence_transformers import SentenceTransformersProvider
from mrl_eval.providers.throughput import EmbeddingThroughput, Throughput


def test_backend_choices_and_the_options_that_do_not_go_with_them():
    assert [st_backends.check_backend(b) for b in (None, "torch", "ONNX", " openvino")] == [
        "torch",
        "torch",
        "onnx",
        "openvino",
    ]
    with pytest.raises(UsageError, match="--backend 'tpu': choose one of torch, onnx, openvino"):
        st_backends.check_backend("tpu")
    with pytest.raises(UsageError, match="--backend applies to --provider sentence-transformers only"):
        get_provider("openai", "m", base_url="http://127.0.0.1:9/v1", backend="onnx")
    with pytest.raises(UsageError, match="--device cuda: --backend onnx runs on the CPU"):
        SentenceTransformersProvider(None, backend="onnx", device="cuda")


def test_an_export_is_keyed_by_fingerprint_and_backend(tmp_path):
    one = st_backends.export_folder(tmp_path, "sha256:aa", "onnx", "org/My Model")
    assert one.parent == tmp_path / "exports" / "onnx" and one.name.startswith("My_Model-")
    assert st_backends.export_folder(tmp_path, "sha256:aa", "onnx", "org/My Model") == one
    assert st_backends.export_folder(tmp_path, "sha256:ab", "onnx", "org/My Model") != one
    assert st_backends.export_folder(tmp_path, "sha256:aa", "openvino", "org/My Model").parent.name == "openvino"


def test_a_damaged_export_is_found_by_its_manifest(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"weights")
    assert "no readable manifest.json" in st_backends._problem(folder)
    sha = st_backends._sha256(folder / "model.onnx")
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "files": {"model.onnx": sha}}))
    assert st_backends._problem(folder) is None
    (folder / "model.onnx").write_bytes(b"weightz")
    assert st_backends._problem(folder) == "model.onnx does not match its checksum"
    (folder / "extra.bin").write_bytes(b"")
    assert st_backends._problem(folder) == "its files are not the ones manifest.json lists"


@pytest.mark.parametrize(
    ("backend", "module", "extra"), [("onnx", "onnxruntime", "onnx"), ("openvino", "openvino", "openvino")]
)
def test_a_missing_runtime_names_its_extra(tmp_path, monkeypatch, backend, module, extra):
    for name in list(sys.modules):
        if name.split(".")[0] == module:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MrlEvalError, match=rf"pip install 'mrl-eval\[{extra}\]'"):
        st_backends.Runner(backend, tmp_path, ["input_ids"], config=None)


def test_throughput_adds_up_per_role():
    docs = Throughput().plus(10, 1000, 2.0).plus(10, 500, 1.0)
    assert (docs.texts, docs.tokens, docs.seconds) == (20, 1500, 3.0)
    assert docs.texts_per_second == pytest.approx(20 / 3) and docs.tokens_per_second == 500
    assert Throughput().texts_per_second is None
    run = EmbeddingThroughput("m", "onnx", "cpu", {"document": docs, "query": Throughput(5, 50, 1.0)})
    assert run.total == Throughput(25, 1550, 4.0)
    assert run.to_dict()["total"]["tokens_per_second"] == pytest.approx(1550 / 4)
