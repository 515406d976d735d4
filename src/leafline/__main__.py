"""`python -m leafline` is the `leafline` command."""

from leafline.cli import entrypoint

entrypoint()
