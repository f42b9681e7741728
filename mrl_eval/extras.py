"""Optional capabilities and the extras that install them: one import helper for every lazy import site.

The core (numpy, typer, rich, pandas, matplotlib) evaluates precomputed vectors. Each back-end is an extra of the
`mrl-eval` package, so a user installs what they use; when a feature's extra is missing, the error names the extra
and the command that installs it, instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mrl_eval.errors import MrlEvalError

# extra -> what it is for, as the error message says it (the packages are in pyproject.toml)
EXTRAS = {
    "st": "sentence-transformers models and the bundled default model",
    "onnx": "sentence-transformers models on ONNX Runtime (--backend onnx)",
    "openvino": "sentence-transformers models on OpenVINO (--backend openvino)",
    "openai": "OpenAI and OpenAI-compatible embedding servers",
    "mteb": "MTEB retrieval tasks",
    "parquet": "Parquet input files",
    "ray": "exact scoring and embedding on a Ray cluster (--ray)",
    "faiss": "FAISS indexes (--engine faiss)",
    "pgvector": "PostgreSQL with pgvector (--engine pgvector)",
}


def install_hint(extra: str) -> str:
    """The command that installs `extra`, quoted for a shell."""
    return f"pip install 'mrl-eval[{extra}]'"


def import_extra(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import `module`, or raise MrlEvalError naming `feature`, the missing package and the extra that installs it.

    Only a missing module becomes the message: a module that is installed but fails inside its own import is a
    broken installation, and its traceback is the useful report."""
    assert extra in EXTRAS, extra  # a programming error, not user input
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        missing = getattr(err, "name", None) or module
        raise MrlEvalError(
            f"{feature} needs the optional package {missing.split('.')[0]!r}, which is not installed: "
            f"{install_hint(extra)} (or `make install`, which installs every extra)"
        ) from err
