"""The `leafline` command: one module per command family, each only wiring over the core.

command.py builds the parser and dispatches; the exit codes are decided there only.
"""

from leafline.cli.command import build_parser, entrypoint, main

__all__ = ["build_parser", "entrypoint", "main"]
