"""The command line: parse options, call the library, render, map errors to exit codes (the only code that prints
or exits)."""

from mrl_eval.cli.app import app, main

__all__ = ["app", "main"]
