"""The documentation: the MkDocs site builds with --strict (a broken link, a missing page or a missing included file
fails), the generated CLI reference covers every command and option, and the README stays the front door."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import typer

from mrl_eval.cli.app import app
from scripts.docs_hooks import cli_reference, module_map
from tests.conftest import ROOT, checkout_env


def test_the_site_builds_with_strict(tmp_path):
    env = checkout_env(NO_MKDOCS_2_WARNING="1", PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    cli = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "generated:cli-reference" not in cli and "mrl-eval sweep" in cli
    assert "End to end" in (tmp_path / "site" / "performance" / "index.html").read_text(encoding="utf-8")


def _commands(command, path: str) -> list[tuple[str, object]]:
    """(typer vendors its own click, so the tree is walked by its attributes, not by click's classes)"""
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, f"{path} {name}")
    return found


def test_the_cli_reference_has_every_command_and_option():
    text = cli_reference()
    commands = _commands(typer.main.get_command(app), "mrl-eval")
    assert len(commands) >= 5  # sweep, recommend, compare, config, config show
    for path, command in commands:
        if path != "mrl-eval":
            assert f"`{path}`" in text, path
        for param in command.params:
            if getattr(param, "hidden", False):  # an old name (--id-column), kept working, not documented
                continue
            for flag in param.opts if param.param_type_name == "option" else []:
                assert f"`{flag}" in text or f", {flag}" in text, (path, flag)


def test_the_module_map_lists_every_module_with_a_docstring():
    rows = module_map().splitlines()[2:]
    modules = sorted(p for p in (ROOT / "mrl_eval").rglob("*.py") if p.name != "__main__.py")
    assert len(rows) == len(modules)
    assert all(re.fullmatch(r"\| `mrl_eval/\S+\.py` \| \S.* \|", row) for row in rows), rows


def test_the_readme_is_the_front_door():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 12_000
    assert "make demo" in readme and "make test" in readme and "mkdocs serve" in readme
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def _results_block(text: str) -> str:
    return re.search(r"<!-- results:start -->.*?<!-- results:end -->", text, re.S).group(0)


def test_the_readme_and_the_home_page_show_the_same_generated_results():
    readme = _results_block((ROOT / "README.md").read_text(encoding="utf-8"))
    home = _results_block((ROOT / "docs" / "index.md").read_text(encoding="utf-8"))
    assert readme.replace("](docs/results/", "](results/") == home


def test_bug_the_results_say_where_their_collection_comes_from_and_how_to_measure_it():
    """The results named `../shared/datasets/...`, which a reader of the repository does not have: the block says
    the collection is BEIR's SciFact, not shipped, and gives a command that measures it from a public source."""
    block = " ".join(_results_block((ROOT / "README.md").read_text(encoding="utf-8")).split())
    assert "SciFact, BEIR's test split" in block and "not shipped in this repository" in block
    assert "`scripts/make_results.py`" in block
    command = re.search(r"`(mrl-eval recommend --mteb-task SciFact [^`]+)`", block)
    assert command, "no command that measures the table from a public source"
    from typer.testing import CliRunner

    # the command parses as written: config show reads it as recommend would (no model is run here)
    shown = CliRunner().invoke(app, ["config", "show", *command.group(1).split()[1:], "--json"])
    assert shown.exit_code == 0, shown.output


_SHELL_LANGUAGES = ("bash", "sh", "shell", "console", "")
_SHELL_OPERATORS = re.compile(r"\s(?:\|\||&&|\||;)\s")


def shell_blocks(text: str) -> list[str]:
    """The fenced blocks of a Markdown page tagged as shell, or untagged."""
    blocks, current, language = [], None, None
    for line in text.splitlines():
        fence = re.match(r"\s*```(\w*)", line)
        if fence and current is None:
            current, language = [], fence.group(1)
        elif fence:
            if language in _SHELL_LANGUAGES:
                blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every `mrl-eval sweep|recommend|compare ...` line of a shell block in the README and the docs: (page, the
    words after `mrl-eval`), continuation lines joined, `VAR=value` prefixes and what follows a pipe dropped."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for block in shell_blocks(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                for part in _SHELL_OPERATORS.split(line):
                    if not re.match(r"(?:[A-Z_][A-Z0-9_]*=\S*\s+)*\S*mrl-eval\s", part):
                        continue  # not a command line (output, prose)
                    words = shlex.split(part, comments=True)
                    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                        words = words[1:]
                    if (
                        len(words) > 1
                        and words[0].endswith("mrl-eval")
                        and words[1] in ("sweep", "recommend", "compare")
                    ):
                        found.append((str(page.relative_to(ROOT)), words[1:]))
    return found


def test_every_documented_command_parses_as_written(cli_env):
    """A page's example with a flag renamed or removed (`--id-column` became `--doc-id-column`, `--no-plots` was
    never one) fails for the reader who copies it. Every `mrl-eval` command in a shell block of the README and the
    docs is read by `config show` exactly as the command would read it: every flag real, every value accepted (no
    model runs, no file is read)."""
    from typer.testing import CliRunner

    commands = documented_commands()
    assert len(commands) >= 25, commands  # the pages hold about thirty; a parser that finds none must fail
    failures = []
    for page, words in commands:
        shown = CliRunner().invoke(app, ["config", "show", *words, "--json"])
        if shown.exit_code != 0:
            failures.append(f"{page}: mrl-eval {shlex.join(words)}\n{shown.output}")
    assert not failures, "\n".join(failures)
