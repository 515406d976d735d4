"""`--engine process|container` for the emulator and local AWS: what runs each instance or endpoint."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.transform.instances import ServeCommand

DEFAULT_WORKDIR = Path(".cache") / "image"  # where `make image` keeps the engine's configuration and store
ENGINES = ("process", "container")


def add_engine_arguments(parser: Any, runs: str) -> None:
    """--engine and --image, for a command whose `runs` (what it starts) can be processes or the image."""
    what = f"run {runs} as `serve` processes (default) or as the built image, as SageMaker runs it"
    parser.add_argument("--engine", choices=ENGINES, default="process", help=what)
    parser.add_argument("--image", default="leafline:latest", help="the image for --engine container")


def workdir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("LEAFLINE_IMAGE_WORKDIR") or DEFAULT_WORKDIR).resolve()  # podman wants absolute paths


def serve_command_for(engine: str, image: str, environ: Mapping[str, str] | None = None) -> ServeCommand | None:
    """None: `serve` as a process of this Python; "container": the built image, run as SageMaker runs it."""
    if engine == "process":
        return None
    from leafline.tools.image.container import serve_command
    from leafline.tools.image.engine import EngineError, find_engine

    folder = workdir(environ)
    try:
        runner = find_engine(folder, environ=environ)
    except EngineError as exc:
        raise UsageError(f"--engine container: {exc}") from None
    if not runner.run("image", "inspect", "--format", "{{.Id}}", image, check=False).strip():
        raise UsageError(f"--engine container: no image {image!r} here; build it first (make image)")
    return serve_command(runner, image, folder / "models")
