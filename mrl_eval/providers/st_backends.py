"""Running a sentence-transformers model's network on ONNX Runtime or OpenVINO (`--backend onnx|openvino`).

sentence-transformers' own `backend="onnx"|"openvino"` goes through optimum-onnx / optimum-intel, whose releases pin
transformers below 4.58 / 5.6, while sentence-transformers 6 needs transformers 5: they cannot be installed together.
So mrl-eval exports the model itself, from the model's own files and without any network: the loaded model's
transformer network is traced by `torch.onnx.export` (its TorchScript exporter) into one ONNX graph, which ONNX Runtime
runs as it is, and which OpenVINO converts into its own format (float32 weights, float32 inference). Everything
around the network stays sentence-transformers' own: the tokenizer, the prompts, truncation, pooling and
normalisation. An export is checked against the torch network on a padded probe batch before it is kept.

An export is kept under ``<cache dir>/exports/<backend>/<model>-<hash>/`` (the hash covers the model fingerprint,
the backend and the export format), written in a temporary folder and renamed into place whole, with a manifest of
every file's sha256 written last. A folder whose manifest is missing or does not match its files is damaged: it is
removed with a one-line warning and the model is exported again. Only folders of that layout, inside that folder,
are ever removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.extras import import_extra

BACKENDS = ("torch", "onnx", "openvino")
EXPORT_FORMAT = 1  # bump when an export's content changes: old exports are then simply not used
OPSET = 17
MANIFEST = "manifest.json"
ONNX_FILE = "model.onnx"
OPENVINO_FILE = "model.xml"  # and model.bin beside it
# The exported network must reproduce the torch network: the largest difference allowed in any hidden-state value
# of the probe batch (float32 arithmetic in another order differs by ~1e-6).
MAX_EXPORT_ERROR = 1e-3
_PROBE = ["mrl-eval probe", "a longer probe text, so that the batch is padded and the attention mask matters"]


class ExportWarning(UserWarning):
    """A damaged export was found and rebuilt."""


def check_backend(backend: str | None) -> str:
    name = (backend or "torch").strip().lower()
    if name not in BACKENDS:
        raise UsageError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return name


def export_folder(cache_dir: Path, fingerprint: str, backend: str, model_name: str) -> Path:
    """Where the export of this model for this backend lives."""
    identity = json.dumps({"format": EXPORT_FORMAT, "fingerprint": fingerprint, "backend": backend}, sort_keys=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model_name).name or model_name)[:60]
    return Path(cache_dir) / "exports" / backend / f"{slug}-{digest}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _problem(folder: Path) -> str | None:
    """What is wrong with an export folder, or None when every file matches its manifest."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        on_disk = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST)
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"no readable {MANIFEST} ({type(err).__name__})"
    if not isinstance(files, dict) or sorted(files) != on_disk:
        return f"its files are not the ones {MANIFEST} lists"
    for name, sha256 in files.items():
        if _sha256(folder / name) != sha256:
            return f"{name} does not match its checksum"
    return None


def _export_onnx(network: Any, input_names: list[str], folder: Path) -> None:
    import_extra("onnx", extra="onnx", feature="--backend onnx/openvino (the export)")
    import torch

    class Network(torch.nn.Module):  # positional inputs in a fixed order, the last hidden state out
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: Any) -> Any:
            return self.inner(**dict(zip(input_names, tensors)), return_dict=True).last_hidden_state

    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in input_names)
    axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, "last_hidden_state"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow: the probe check decides
        torch.onnx.export(
            Network(network).eval(),
            example,
            str(folder / ONNX_FILE),
            dynamo=False,
            input_names=input_names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )


def _export(network: Any, input_names: list[str], backend: str, folder: Path) -> None:
    """Write the export of `network` for `backend` into the (new, empty) `folder`, manifest last."""
    _export_onnx(network, input_names, folder)
    if backend == "openvino":
        ov = import_extra("openvino", extra="openvino", feature="--backend openvino")
        converted = ov.convert_model(str(folder / ONNX_FILE))
        ov.save_model(converted, str(folder / OPENVINO_FILE), compress_to_fp16=False)
        (folder / ONNX_FILE).unlink()
    files = {p.name: _sha256(p) for p in sorted(folder.iterdir())}
    (folder / MANIFEST).write_text(json.dumps({"format": EXPORT_FORMAT, "files": files}, indent=1), encoding="utf-8")


class Runner:
    """The exported network, called like the transformers model it replaces: keyword tensors in, an object with
    `last_hidden_state` (a torch tensor) out. Keeps the original model's `config` for sentence-transformers."""

    def __init__(self, backend: str, folder: Path, input_names: list[str], config: Any) -> None:
        self.backend, self.input_names, self.config = backend, input_names, config
        if backend == "onnx":
            ort = import_extra("onnxruntime", extra="onnx", feature="--backend onnx")
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3  # errors only: its warnings would cut through the progress bars
            self._session = ort.InferenceSession(str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        else:
            ov = import_extra("openvino", extra="openvino", feature="--backend openvino")
            core = ov.Core()
            # f32: OpenVINO would otherwise compute in bf16 on CPUs that have it, further from the torch vectors
            hints = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
            self._compiled = core.compile_model(core.read_model(str(folder / OPENVINO_FILE)), "CPU", hints)
            self._request = self._compiled.create_infer_request()

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if self.backend == "onnx":
            return self._session.run(["last_hidden_state"], feeds)[0]
        result = self._request.infer(feeds)
        return np.array(result[self._compiled.outputs[0]])

    def __call__(self, **features: Any) -> dict[str, Any]:
        import torch

        feeds = {n: np.ascontiguousarray(features[n].detach().cpu().numpy(), dtype=np.int64) for n in self.input_names}
        return {"last_hidden_state": torch.from_numpy(self.run(feeds))}


def _tokenize(st_model: Any, texts: list[str]) -> Any:
    preprocess = getattr(st_model, "preprocess", None) or st_model.tokenize  # tokenize: sentence-transformers < 6
    return preprocess(texts)


def _input_names(st_model: Any) -> list[str]:
    """The tensors the tokenizer hands the network (input_ids, attention_mask, and token_type_ids if any)."""
    import torch

    features = _tokenize(st_model, _PROBE[:1])
    return [k for k, v in features.items() if isinstance(v, torch.Tensor) and not v.is_floating_point()]


def _probe_error(st_model: Any, network: Any, runner: Runner) -> float:
    """The largest difference between the torch network and the export on a padded probe batch."""
    import torch

    features = _tokenize(st_model, _PROBE)
    with torch.inference_mode():
        expected = network(**{n: features[n] for n in runner.input_names}, return_dict=True).last_hidden_state
    got = runner(**features)["last_hidden_state"]
    return float((expected.float() - got).abs().max())


def attach(st_model: Any, backend: str, folder: Path) -> None:
    """Replace the network of a loaded SentenceTransformer by its export for `backend` (made now if `folder` has
    none, or a damaged one), so that `encode` runs on ONNX Runtime or OpenVINO with everything else unchanged."""
    transformer = st_model[0]
    config = getattr(transformer, "modality_config", {}).get("text", {})
    network = getattr(transformer, "model", None)
    if network is None or config.get("method") != "forward" or config.get("method_output_name") != "last_hidden_state":
        raise MrlEvalError(
            f"--backend {backend}: this model's first module is not a plain transformer network (its output is not "
            "the last hidden state), so it cannot be exported; use --backend torch"
        )
    names = _input_names(st_model)
    runner = None
    while runner is None:
        problem = _problem(folder) if folder.exists() else None
        if problem is not None:
            _discard(folder, problem)
        built = not folder.exists()
        if built:
            _build(network, names, backend, folder)
        try:
            runner = Runner(backend, folder, names, network.config)
        except Exception as err:  # noqa: BLE001 - the runtime's own errors: a file it cannot read
            if built:
                raise MrlEvalError(
                    f"--backend {backend}: the model was exported but {backend} cannot load it ({type(err).__name__}: "
                    f"{' '.join(str(err).split())[:200]}); use --backend torch"
                ) from err
            _discard(folder, f"{backend} cannot load it: {type(err).__name__}")
    error = _probe_error(st_model, network, runner)
    if not error <= MAX_EXPORT_ERROR:
        raise MrlEvalError(
            f"--backend {backend}: the exported model differs from the torch model by up to {error:.2g} on a probe "
            f"(allowed: {MAX_EXPORT_ERROR:g}); this model does not export cleanly, use --backend torch"
        )
    transformer.model = _as_module(runner)


def _discard(folder: Path, problem: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    warnings.warn(
        f"mrl-eval: damaged model export {folder} ({problem}) removed; exporting it again", ExportWarning, stacklevel=3
    )


def _as_module(runner: Runner) -> Any:
    """The runner as a torch module, which is what sentence-transformers keeps as its network."""
    import torch

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.runner, self.config = runner, runner.config

        def forward(self, **features: Any) -> dict[str, Any]:
            return self.runner(**features)

    return Exported()


def _build(network: Any, names: list[str], backend: str, folder: Path) -> None:
    """Export into a temporary folder beside `folder`, then rename it into place whole (another run that got there
    first wins; its export is as good)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        _export(network, names, backend, temporary)
        try:
            os.rename(temporary, folder)
        except OSError:
            if not folder.exists():
                raise
    except OSError as err:
        raise MrlEvalError(
            f"cannot write the model export in {folder.parent}: {err.strerror or err}. Pass --cache-dir with a "
            "writable folder with room for a copy of the model."
        ) from err
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
