"""leafline's core error hierarchy; the CLI maps these to exit codes, never the library."""

from __future__ import annotations


class LeaflineError(Exception):
    """A failure the user can act on; the message says what and where."""

    exit_code = 1


class UsageError(LeaflineError):
    """A command was called with arguments or files it cannot use."""

    exit_code = 2


class CompileError(LeaflineError):
    """The model could not be compiled, or the compiled model disagrees with LightGBM."""
