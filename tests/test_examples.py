"""The CI examples (examples/*.yml and the workflow snippets of docs/ci-gate.md) can run: every mrl-eval command is
parsed exactly as the CLI parses it, and one that embeds comes after a `pip install` of the extra it needs."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mrl_eval.cli.app import app
from tests.conftest import ROOT

runner = CliRunner()
EMBEDDING_COMMANDS = ("sweep", "recommend")


def _shell_lines(script: str) -> list[list[str]]:
    """A step's script as commands (words, comments dropped): one per line, as a shell reads a `run: |` block."""
    lines = []
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            lines.append(words)
    return lines


def _jobs(path: Path) -> dict[str, list[list[str]]]:
    """Each job's (or snippet's) commands in the order they run."""
    if path.suffix == ".md":
        blocks = re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
        snippets = [yaml.safe_load(b) for b in blocks if "--8<--" not in b]
        return {
            f"{path.name} block {i}": [w for step in steps if "run" in step for w in _shell_lines(step["run"])]
            for i, steps in enumerate(snippets)
        }
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "jobs" in doc:  # GitHub Actions
        return {
            name: [w for step in job["steps"] if "run" in step for w in _shell_lines(step["run"])]
            for name, job in doc["jobs"].items()
        }
    return {name: [w for line in job["script"] for w in _shell_lines(line)] for name, job in doc.items()}  # GitLab


def _installed_extras(words: list[str]) -> set[str]:
    """The extras of mrl-eval that a `pip install` line installs: "mrl-eval[st,openai]" -> {"st", "openai"}."""
    extras: set[str] = set()
    for word in words[2:]:
        match = re.match(r"mrl-eval(?:\[([a-z0-9,\s-]*)\])?(?:$|\s*@|[<>=~!])", word)
        if match:
            extras |= {e.strip() for e in (match.group(1) or "").split(",") if e.strip()} | {"core"}
    return extras


def _needed_extra(command: str, args: list[str]) -> str | None:
    """The extra a sweep/recommend needs, from its settings as the CLI resolves them: none for saved vectors or a
    saved run, else the provider's."""
    shown = runner.invoke(app, ["config", "show", command, *args, "--json"])
    assert shown.exit_code == 0, shown.output  # every flag is real and its value accepted
    settings = {k: v["value"] for k, v in json.loads(shown.stdout)["settings"].items()}
    if settings.get("embeddings") or settings.get("from"):
        return None
    return "openai" if settings.get("provider") == "openai" else "st"


EXAMPLES = [ROOT / "examples" / "github-actions.yml", ROOT / "examples" / "gitlab-ci.yml", ROOT / "docs" / "ci-gate.md"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_ci_examples_install_the_extra_each_command_needs(cli_env, path):
    """Bug: the examples installed `mrl-eval` without [st], then passed --model (or used the bundled model), which
    exits 1 asking for [st]."""
    jobs = _jobs(path)
    checked = 0
    for job, commands in jobs.items():
        installed: set[str] = set()
        for words in commands:
            if words[:2] == ["pip", "install"]:
                installed |= _installed_extras(words)
            elif words[0] == "mrl-eval" and words[1] in EMBEDDING_COMMANDS:
                needed = _needed_extra(words[1], words[2:])
                assert "core" in installed, f"{path.name} {job}: mrl-eval runs before it is installed"
                assert needed is None or needed in installed or "all" in installed, (
                    f"{path.name} {job}: `{shlex.join(words)}` needs mrl-eval[{needed}], but the job installs "
                    f"{sorted(installed - {'core'}) or 'no extra'}"
                )
                checked += 1
    assert checked, f"{path.name}: no mrl-eval command found"


def test_install_lines_are_read_as_pip_reads_them():
    def extras(line: str) -> set[str]:
        return _installed_extras(shlex.split(line, comments=True))

    assert extras("pip install mrl-eval") == {"core"}
    assert extras('pip install "mrl-eval[st]" einops  # a comment') == {"core", "st"}
    assert extras("pip install 'mrl-eval[st,openai]>=0.1'") == {"core", "st", "openai"}
    assert extras('pip install "mrl-eval[all] @ git+https://example.org/mrl-eval"') == {"core", "all"}
    assert extras("pip install torch --index-url https://download.pytorch.org/whl/cpu") == set()
    assert extras("pip install mrl-eval-plugin") == set()


def test_models_with_their_own_code_are_loaded_with_trust_remote_code():
    """nomic-embed-text-v1.5 ships its own model code: without --trust-remote-code it does not load."""
    for path in EXAMPLES:
        for job, commands in _jobs(path).items():
            for words in commands:
                if words[0] == "mrl-eval" and any("nomic-embed-text" in w for w in words):
                    assert "--trust-remote-code" in words, f"{path.name} {job}: {shlex.join(words)}"
