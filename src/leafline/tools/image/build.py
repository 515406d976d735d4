"""Build inference_image/Dockerfile with the engine there is, and say how big the image came out."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from leafline.errors import LeaflineError
from leafline.tools.image.base import base_tag, ensure_base
from leafline.tools.image.engine import Engine, EngineError

IMAGE = "leafline:latest"
DOCKERFILE = Path("inference_image") / "Dockerfile"


class BuildError(LeaflineError):
    """The engine was there and the build failed: the message has the end of its log."""


@dataclass(frozen=True)
class Build:
    image: str
    arch: str
    seconds: float
    size_bytes: int
    base: str  # how the base image was obtained
    log: Path


def build_image(engine: Engine, root: Path, workdir: Path, arch: str = "amd64", image: str = IMAGE) -> Build:
    """Base first (synthesized or loaded when no registry is reachable), then the Dockerfile, layer-cached."""
    started = time.perf_counter()
    base = ensure_base(engine, workdir, arch)
    can_run_containers(engine, base_tag(arch))
    log = workdir / f"build-{arch}.log"
    arguments = ["build", "-f", str(root / DOCKERFILE), "-t", image, "--platform", f"linux/{arch}"]
    if engine.name == "podman":
        arguments.append("--layers")
    if arch != "amd64":
        arguments += ["--build-arg", f"BASE_IMAGE={base_tag(arch)}"]
    with log.open("w") as output:
        done = subprocess.run(engine.command(*arguments, str(root)), env=engine.environment(),
                              stdout=output, stderr=subprocess.STDOUT, check=False)  # fmt: skip
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise BuildError(f"building {image} failed (exit {done.returncode}); the end of {log}:\n{tail}")
    size = int(engine.run("image", "inspect", "--format", "{{.Size}}", image).strip())
    return Build(image, arch, time.perf_counter() - started, size, base, log)


def can_run_containers(engine: Engine, image: str) -> None:
    """The engine runs a container at all here (kernel, cgroups, limits): else EngineError, not a build failure."""
    if engine.name == "docker":
        return
    try:
        engine.run("run", "--rm", "--network", "none", image, "true", timeout=120)
    except (EngineError, subprocess.TimeoutExpired) as exc:
        raise EngineError(f"{engine.name} cannot run a container on this machine: {exc}") from None
