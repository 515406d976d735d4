"""The real image: built from inference_image/Dockerfile with the engine this machine has, run as SageMaker
runs it (`IMAGE serve`, non-root, read-only root, no network, the model mounted read-only), and the same HTTP
contract tests that run against the process, run against it. Skipped, saying why, where no engine can run."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from leafline.serving import artifacts
from leafline.tools.image import container
from leafline.tools.image.build import Build
from leafline.tools.image.engine import Engine, EngineError, missing_podman_packages
from tests.image.helpers import NEEDS_ROOT, SAGEMAKER_ENV, WORK, RunningImage, run_contract_suite


def test_podman_has_every_package_the_image_is_run_with(built: tuple[Engine, Build]) -> None:
    """`--init` needs catatonit and a published port slirp4netns, which podman only Recommends."""
    engine, _ = built
    if engine.name == "podman":
        assert missing_podman_packages() == []


@pytest.fixture(scope="module")
def running(built: tuple[Engine, Build], model_dir: Path) -> Iterator[container.Container]:
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT)
    engine, build = built
    started = container.start(engine, build.image, model_dir, SAGEMAKER_ENV)
    try:
        started.wait_ready()
        yield started
    finally:
        started.stop()


def test_the_image_runs_as_sagemaker_runs_it(running: container.Container) -> None:
    assert running.exec("id", "-u").stdout.strip() == "10001"  # the image's own non-root user
    assert "Read-only file system" in running.exec("touch", "/opt/program/x").stderr
    interfaces = [line.split(":")[0].strip() for line in running.exec("cat", "/proc/net/dev").stdout.splitlines()[2:]]
    assert interfaces == ["lo"]  # no network at all
    loaded = next(json.loads(line) for line in running.logs().splitlines() if '"model_loaded"' in line)
    assert loaded["backend"].startswith("compiled") and loaded["model"] == "/opt/ml/model/model.txt"


def test_the_http_contract_suite_passes_against_the_running_image(
    running: container.Container, built: tuple[Engine, Build], model_dir: Path
) -> None:
    engine, _ = built
    done = run_contract_suite(RunningImage(engine, running, model_dir))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_compiled_code_for_another_cpu_falls_back_to_lightgbm(
    built: tuple[Engine, Build], binary_model_dir: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT)
    engine, build = built
    private = tmp_path / "model"
    shutil.copytree(binary_model_dir, private)
    manifest = artifacts.manifest_path(private)  # as if compiled on a Graviton instance
    manifest.write_text(manifest.read_text().replace(f'"{artifacts.machine_arch()}"', '"aarch64"'))
    model = container.readable_model_dir(private, tmp_path / "readable")
    started = container.start(engine, build.image, model, SAGEMAKER_ENV)
    try:
        started.wait_ready()
        loaded = next(json.loads(line) for line in started.logs().splitlines() if '"model_loaded"' in line)
    finally:
        started.stop()
    assert loaded["backend"] == "lightgbm"
    assert loaded["fallback_reason"] == f"compiled artifacts exist for aarch64, this CPU is {artifacts.machine_arch()}"


def test_a_model_the_server_may_not_read_is_a_clear_error_not_a_traceback(
    built: tuple[Engine, Build], binary_model_dir: Path, tmp_path: Path
) -> None:
    engine, build = built
    private = tmp_path / "private"
    shutil.copytree(binary_model_dir, private)
    private.chmod(0o700)  # root's, and the image runs as uid 10001
    started = container.start(engine, build.image, private, SAGEMAKER_ENV)
    try:
        with pytest.raises(EngineError, match=r"no 200 from /ping \(container (exited|stopped)\)"):
            started.wait_ready(timeout=30)
        logs = started.logs()
    finally:
        started.stop()
    assert "Traceback" not in logs
    failure = next(json.loads(line) for line in logs.splitlines() if '"model_load_failed"' in line)
    assert "permission denied for the server's user (uid 10001)" in failure["error"]


def test_the_emulator_runs_a_job_on_the_image(
    built: tuple[Engine, Build], binary_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import lightgbm
    import numpy as np

    from leafline import samples
    from leafline.cli import main
    from tests.transform.helpers import request

    _, build = built
    monkeypatch.setenv("LEAFLINE_IMAGE_WORKDIR", str(WORK))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for part in range(3):
        (inputs / f"part-{part}.csv").write_bytes(samples.csv_batch(2000, part, 6))
    job = request(inputs.as_uri(), (tmp_path / "out").as_uri(), MaxConcurrentTransforms=2, MaxPayloadInMB=1)
    job["TransformResources"]["InstanceCount"] = 2
    (tmp_path / "job.json").write_text(json.dumps(job))

    code = main(["transform", str(tmp_path / "job.json"), "--model-dir", str(binary_model_dir), "--engine",
                 "container", "--image", build.image, "--logs", str(tmp_path / "logs"), "--no-progress"])  # fmt: skip

    result = json.loads(capsys.readouterr().out)
    assert code == 0, result.get("FailureReason")
    booster = lightgbm.Booster(model_file=str(binary_model_dir / "model.txt"))
    for part in range(3):
        served = [float(v) for v in (tmp_path / "out" / f"part-{part}.csv.out").read_text().split()]
        expected = booster.predict(np.genfromtxt(samples.csv_batch(2000, part, 6).splitlines(), delimiter=","))
        np.testing.assert_allclose(served, expected, atol=1e-9)
    logs = [p.read_text() for p in sorted((tmp_path / "logs").glob("instance-*.log"))]
    assert len(logs) == 2 and all('"model":"/opt/ml/model/model.txt"' in log for log in logs)  # in the image


def test_the_podman_configuration_is_absolute_and_within_this_machines_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resource

    from leafline.tools.image.engine import podman_environment

    monkeypatch.chdir(tmp_path)
    env = podman_environment(Path("work"))  # as `.cache/image` is given: relative to where make runs

    containers = Path(env["CONTAINERS_CONF"]).read_text()
    storage = Path(env["CONTAINERS_STORAGE_CONF"]).read_text()
    assert all(Path(value).is_absolute() for value in env.values() if "/" in value)
    assert f'graphroot = "{tmp_path / "work" / "storage" / "root"}"' in storage  # podman refuses relative paths
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert f"nofile={nofile}:{nofile}" in containers and 'runtime = "runc"' in containers
