"""MkDocs hooks (mkdocs.yml `hooks:`): the pages that are generated from the code, at every build.

- `<!-- generated:cli-reference -->` (docs/cli.md) becomes the CLI reference, written by typer's own Markdown
  generator (the one behind `typer ... utils docs`) from the typer app itself, so every command, argument, option,
  default and help text is the one `mrl-eval --help` shows.
- `<!-- generated:module-map -->` (docs/architecture.md) becomes one row per module of the package with the first
  paragraph of its docstring, read with `ast` (nothing is imported).

Generating at build time rather than committing the output means the pages cannot go stale and a change to a command
never needs a second commit; `mkdocs build --strict` (run by tests/test_docs.py) fails if generation fails.

    .venv/bin/python scripts/docs_hooks.py cli       # print the generated CLI reference
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI_MARKER = "<!-- generated:cli-reference -->"
MODULE_MARKER = "<!-- generated:module-map -->"


def cli_reference() -> str:
    """The whole command tree as Markdown, from typer's docs generator."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import typer
    import typer.cli

    from mrl_eval.cli.app import app

    command = typer.main.get_command(app)
    ctx = typer.Context(command)
    ctx.ensure_object(dict)[typer.cli.MARKUP_MODE_KEY] = app.rich_markup_mode
    text = typer.cli.get_docs_for_click(obj=command, ctx=ctx, name="mrl-eval")
    body = text.split("\n", 1)[1].strip()  # the page has its own title
    # one level deeper than typer writes them, under the page's "Commands" heading (code blocks hold no "#" lines)
    return "\n".join("#" + line if line.startswith("#") else line for line in body.splitlines()) + "\n"


def module_map() -> str:
    """| module | what it holds |, one row per module, from the first paragraph of each module docstring."""
    rows = ["| module | what it holds |", "|---|---|"]
    for path in sorted((ROOT / "mrl_eval").rglob("*.py")):
        if path.name == "__main__.py":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        first = " ".join(doc.split("\n\n")[0].split()).replace("|", "\\|")
        rows.append(f"| `{path.relative_to(ROOT).as_posix()}` | {first} |")
    return "\n".join(rows) + "\n"


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - MkDocs' hook signature
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if MODULE_MARKER in markdown:
        markdown = markdown.replace(MODULE_MARKER, module_map())
    return markdown


if __name__ == "__main__":
    print(cli_reference() if sys.argv[1:] == ["cli"] else module_map())
