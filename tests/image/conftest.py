"""Fixtures the image tests share: the image built once per run (layer cache in `make image`'s work folder),
the container run as SageMaker runs it, and local registries."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from leafline.tools.image import container
from leafline.tools.image.build import Build, build_image
from leafline.tools.image.engine import Engine, EngineError, can_install_packages, find_engine, install_packages
from tests.image.helpers import NEEDS_ROOT, ROOT, SAGEMAKER_ENV, WORK, LocalRegistry, RunningImage, registry_config


@pytest.fixture(scope="session")
def built() -> tuple[Engine, Build]:
    try:
        engine = find_engine(WORK, install=True)
        return engine, build_image(engine, ROOT, WORK)
    except EngineError as exc:  # no engine, or no way to get a base image: not a failure of the image
        pytest.skip(f"no container engine to build the image with: {exc}")


@pytest.fixture(scope="session")
def model_dir(binary_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return container.readable_model_dir(binary_model_dir, tmp_path_factory.mktemp("image"))


@pytest.fixture
def serve_image(model_dir: Path) -> Callable[[Engine, str], AbstractContextManager[RunningImage]]:
    """Start an image as SageMaker runs it, serving model_dir, ready (/ping 200); removed on leaving."""
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT)

    @contextmanager
    def serve(engine: Engine, image: str) -> Iterator[RunningImage]:
        started = container.start(engine, image, model_dir, SAGEMAKER_ENV)
        try:
            started.wait_ready()
            yield RunningImage(engine, started, model_dir)
        finally:
            started.stop()

    return serve


def _registry_binary() -> None:
    """Debian's docker-registry, installed when missing and apt-get can (as root); else the tests skip."""
    if shutil.which("docker-registry"):
        return
    if not can_install_packages():
        pytest.skip("no docker-registry (Debian's package) and no apt-get as root to install it")
    try:
        install_packages(["docker-registry"])
    except EngineError as exc:
        pytest.skip(f"could not install Debian's docker-registry: {exc}")


def _registry(
    tmp_path_factory: pytest.TempPathFactory, *, read_only: bool = False, login: bool = False
) -> Iterator[LocalRegistry]:
    _registry_binary()
    folder = tmp_path_factory.mktemp("registry")
    (folder / "storage").mkdir()
    config = folder / "config.yml"
    config.write_text(registry_config(folder / "storage", read_only=read_only, login=login))
    registry = LocalRegistry.start(config)
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    yield from _registry(tmp_path_factory, read_only=False)


@pytest.fixture
def read_only_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    yield from _registry(tmp_path_factory, read_only=True)


@pytest.fixture
def registry_needing_login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    yield from _registry(tmp_path_factory, login=True)
