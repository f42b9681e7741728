"""Settings from a file: find it, read it, check every key and value, and merge it under the flags.

Where: `--config FILE`; else `mrl-eval.toml` in the current directory (keys at the top level); else the
`[tool.mrl-eval]` table of `pyproject.toml` in the current directory. Keys are the commands' long option names
(`min-ndcg`, `cache-dir`; `min_ndcg` works too) plus the `data` argument; an old option name (`id-column`) is
read as its new one (`doc-id-column`). Top-level keys apply to every command that
has that option; a table named after a command (`[tool.mrl-eval.compare]`, or `[compare]` in mrl-eval.toml) applies
to that command only and wins over the top level, which is how `max-drop` can mean the bar for `recommend` and the
allowed regression for `compare`. A flag on the command line always wins: the file fills only the parameters whose
source is the default. Relative paths in the file are relative to the file's folder.

An unknown key, a value of the wrong type or out of range is an input error (exit 1) that names the key and the
file: the values get the same checks as flags (each option's `check` in options.py: the core's own parser), when
the file is read.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from mrl_eval.cli.options import ALIASES, COMMAND_PARAMS
from mrl_eval.errors import MrlEvalError, UsageError
from mrl_eval.files import read_limited
from mrl_eval.limits import MAX_CONFIG_BYTES

COMMANDS = ("sweep", "recommend", "compare")
FILE_NAME = "mrl-eval.toml"
PYPROJECT = "pyproject.toml"
# Parameters that are not settings: the file itself, and compare's positional runs.
_NOT_SETTINGS = {"config", "runs", "help"}
LIST_KEYS = {"dims", "metrics"}  # a TOML list is joined with commas: dims = [64, 128, "25%"]
NUMBER_OR_TEXT_KEYS = {"max-drop", "baseline-max-drop"}  # 0.02 and "2%" both read naturally
_KINDS = {
    "strs": ("a string or an array of strings", (str, list)),
    "paths": ("a path or an array of paths", (str, list)),
    "bool": ("true or false", (bool,)),
    "int": ("a whole number", (int,)),
    "float": ("a number", (int, float)),
    "str": ("a string", (str,)),
    "path": ("a path (a string)", (str,)),
}

FLAG, DEFAULT = "flag", "default"


@dataclass(frozen=True)
class Setting:
    """One option a file may set: its key, the command function's parameter, its type, and the click parameter
    (which converts and range-checks a value the way the command line would)."""

    key: str
    name: str
    kind: str
    param: Any


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    table: str | None  # "tool.mrl-eval" for pyproject.toml; None when the keys are at the top level
    settings: dict[str, Any]  # key -> raw TOML value, for every command
    sections: dict[str, dict[str, Any]]  # command -> key -> raw TOML value

    def where(self, command: str | None = None) -> str:
        table = ".".join(t for t in (self.table, command) if t)
        return f"{self.path} [{table}]" if table else str(self.path)


# a file's old key -> the key it now is (id-column -> doc-id-column: the corpus's, as the flag)
_OLD_KEYS = {old.replace("_", "-"): new.replace("_", "-") for old, new in ALIASES.items()}


def normalise_key(key: str) -> str:
    key = key.strip().replace("_", "-")
    return _OLD_KEYS.get(key, key)


def _kind(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is list:  # a repeatable option: one value or an array of them
        (item,) = typing.get_args(annotation)
        return "paths" if isinstance(item, type) and issubclass(item, Path) else "strs"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    for kind, python_type in (("bool", bool), ("int", int), ("float", float)):
        if annotation is python_type:
            return kind
    return "str"


def settings_of(command: Any, function: Callable) -> dict[str, Setting]:
    """The keys a file may set for one command: its long option names (`--min` -> `min`) and its arguments."""
    hints = typing.get_type_hints(function, include_extras=True)
    out = {}
    for param in command.params:
        if param.name in _NOT_SETTINGS or param.name not in hints or getattr(param, "hidden", False):
            continue  # a hidden option is an old name: its key is read as the new one's (normalise_key)
        if getattr(param, "param_type_name", "") == "argument":
            keys = [normalise_key(param.name)]
        else:
            keys = [o[2:] for o in param.opts if o.startswith("--")]
        for key in keys:
            out[key] = Setting(key, param.name, _kind(hints[param.name]), param)
    return out


def _read_toml(path: Path) -> dict:
    try:
        data = read_limited(path, MAX_CONFIG_BYTES, what="a config file", fix="fix the file or pass another --config")
        return tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError as err:
        raise MrlEvalError(f"{path}: config file not found; check --config") from err
    except (OSError, UnicodeDecodeError) as err:
        raise MrlEvalError(f"{path}: cannot read the config file ({err})") from err
    except (tomllib.TOMLDecodeError, ValueError) as err:  # ValueError: an integer of more than 4,300 digits
        raise MrlEvalError(f"{path}: not valid TOML ({err}); fix the file") from err


def read_config(path: Path, required: bool = True) -> ConfigFile | None:
    """A config file; a pyproject.toml without a [tool.mrl-eval] table is none (an error only if `required`)."""
    path = path.absolute()
    content = _read_toml(path)
    table = None
    if path.name == PYPROJECT:
        table = "tool.mrl-eval"
        content = content.get("tool", {}).get("mrl-eval")
        if content is None:
            if required:
                raise MrlEvalError(f"{path}: has no [tool.mrl-eval] table; add one or pass another --config")
            return None
        if not isinstance(content, dict):
            raise MrlEvalError(f"{path}: tool.mrl-eval must be a table ([tool.mrl-eval]), not {_toml_type(content)}")
    settings: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for raw_key, value in content.items():
        key = normalise_key(raw_key)
        if key in COMMANDS and isinstance(value, dict):
            sections[key] = {normalise_key(k): v for k, v in value.items()}
        else:
            settings[key] = value
    return ConfigFile(path, table, settings, sections)


def find_config(explicit: Path | None, folder: Path | None = None) -> ConfigFile | None:
    """`--config FILE`, else ./mrl-eval.toml, else ./pyproject.toml's [tool.mrl-eval], else none."""
    if explicit is not None:
        return read_config(explicit)
    folder = folder or Path.cwd()
    if (folder / FILE_NAME).is_file():
        return read_config(folder / FILE_NAME)
    if (folder / PYPROJECT).is_file():
        return read_config(folder / PYPROJECT, required=False)
    return None


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}
    return next((name for t, name in names.items() if isinstance(value, t)), type(value).__name__)


def _literal(value: Any) -> str:
    """A value as it reads in TOML: true, "x", [64, 128]."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _unknown(key: str, valid: list[str], where: str, scope: str) -> MrlEvalError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(sorted(valid))}"
    return MrlEvalError(f"{where}: unknown key {key!r} (not an option of {scope}){hint}")


def check_keys(config: ConfigFile, specs: Mapping[str, Mapping[str, Setting]]) -> None:
    """Every key must be an option of some command (or, in a command's table, of that command)."""
    every = sorted({key for spec in specs.values() for key in spec})
    for key in config.settings:
        if key not in every:
            raise _unknown(key, every + list(COMMANDS), config.where(), " / ".join(COMMANDS))
    for command, keys in config.sections.items():
        for key in keys:
            if key in specs[command]:
                continue
            owners = [c for c in COMMANDS if key in specs[c]]
            if owners:
                raise MrlEvalError(
                    f"{config.where(command)}: {key!r} is an option of {' and '.join(owners)}, not of {command}; "
                    "move it to the top level or to that command's table"
                )
            raise _unknown(key, list(specs[command]), config.where(command), command)


def convert(setting: Setting, raw: Any, where: str, folder: Path, ctx: Any) -> Any:
    """A TOML value as the command would have received it from the command line, or an error naming the key."""
    value = raw
    if setting.key in LIST_KEYS and isinstance(raw, list):
        if all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in raw):
            value = ",".join(str(v) for v in raw)
    elif setting.key in NUMBER_OR_TEXT_KEYS and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = str(raw)
    description, accepted = _KINDS[setting.kind]
    if not isinstance(value, accepted) or (setting.kind in ("int", "float") and isinstance(value, bool)):
        if setting.key in LIST_KEYS:
            description = 'a string or an array, e.g. "64,128,25%" or [64, 128, "25%"]'
        raise MrlEvalError(f"{where}: {setting.key} = {_literal(raw)} is {_toml_type(raw)}; it should be {description}")
    if setting.kind in ("strs", "paths"):
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in items):
            raise MrlEvalError(f"{where}: {setting.key} = {_literal(raw)}: it should be {description}")
        if setting.kind == "paths":
            items = [str(p if (p := Path(v).expanduser()).is_absolute() else folder / p) for v in items]
        value = items
    if setting.kind == "path":
        path = Path(value).expanduser()
        value = str(path if path.is_absolute() else folder / path)
    try:
        value = setting.param.process_value(ctx, value)
    except Exception as err:  # click's BadParameter (typer vendors click, so the class is not importable portably)
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        message = re.sub(r"^Invalid value for '[^']*': ", "", message)  # the key is named, not a flag
        raise MrlEvalError(f"{where}: {setting.key} = {_literal(raw)}: {message}") from err
    check = CHECKS.get(setting.name)
    if check is not None and value is not None:
        try:
            check(value)
        except UsageError as err:  # the core's problem, under the key and the file (no flag the user never passed)
            raise MrlEvalError(f"{where}: {setting.key} = {_literal(raw)}: {err.problem}") from err
    if setting.kind == "path" and value is not None:
        value = Path(value)
    if setting.kind == "paths" and value is not None:
        value = [Path(v) for v in value]
    return value


# parameter name -> the check of its value (the same for every command that takes it)
CHECKS = {p.name: p.check for params in COMMAND_PARAMS.values() for p in params if p.check is not None}


def file_values(
    config: ConfigFile, command: str, specs: Mapping[str, Mapping[str, Setting]], ctx: Any
) -> dict[str, tuple[str, Any]]:
    """The file's settings for `command`: parameter name -> (key, converted value). Checks the whole file."""
    check_keys(config, specs)
    spec = specs[command]
    merged: dict[str, tuple[str, Any]] = {}
    for scope in (None, command):
        raw_settings = config.settings if scope is None else config.sections.get(command, {})
        for key, raw in raw_settings.items():
            if key in spec:  # a top-level key of another command's option does not apply here
                setting = spec[key]
                merged[setting.name] = (key, convert(setting, raw, config.where(scope), config.path.parent, ctx))
    return merged


def merge(
    values: dict[str, Any],
    is_default: Callable[[str], bool],
    config: ConfigFile | None,
    command: str,
    specs: Mapping[str, Mapping[str, Setting]],
    ctx: Any,
) -> tuple[dict[str, Any], dict[str, str]]:
    """`values` (the command's parameters) with the file's settings where no flag was given, and each key's source:
    "flag", the config file's path, or "default"."""
    from_file = file_values(config, command, specs, ctx) if config else {}
    merged = dict(values)
    sources: dict[str, str] = {}
    for key, setting in specs[command].items():
        name = setting.name
        if not is_default(name):
            sources[key] = FLAG
        elif name in from_file:
            merged[name] = from_file[name][1]
            sources[key] = str(config.path) if config else DEFAULT
        else:
            sources[key] = DEFAULT
    return merged, sources
