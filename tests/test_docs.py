"""The documentation: the MkDocs site builds with --strict (a broken link, a missing page or a missing included file
fails), the generated CLI reference covers every command and option, and the README stays the front door."""

from __future__ import annotations

import os
import re
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
