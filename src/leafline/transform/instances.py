"""The emulated instances: one `serve` process each, started as SageMaker starts the container.

The container sees the model's Environment, then the job's Environment, then what the platform sets:
SAGEMAKER_BATCH=true, and SAGEMAKER_MAX_PAYLOAD_IN_MB / SAGEMAKER_BATCH_STRATEGY /
SAGEMAKER_MAX_CONCURRENT_TRANSFORMS only when the request sets them (values the container itself returns
from /execution-parameters are not echoed back, as in AWS).
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leafline.errors import LeaflineError
from leafline.processes.server import ServerProcess, ServerStartError
from leafline.sagemaker.request import MAX_PAYLOAD_LIMIT_MB, TransformRequest, normalize_strategy
from leafline.sagemaker.storage import Storage, StorageError

DEFAULT_MAX_CONCURRENT_TRANSFORMS = 1
DEFAULT_BATCH_STRATEGY = "MultiRecord"
DEFAULT_MAX_PAYLOAD_MB = 6
_STRATEGY_ENV = {"SingleRecord": "SINGLE_RECORD", "MultiRecord": "MULTI_RECORD"}


class InstanceError(LeaflineError):
    """An instance never became healthy, or its /execution-parameters answer is unusable."""


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # "request" | "container" | "default"


@dataclass(frozen=True)
class TransformSettings:
    max_concurrent_transforms: Setting
    max_payload_mb: Setting
    batch_strategy: Setting

    @property
    def max_payload_bytes(self) -> int | None:
        megabytes = int(self.max_payload_mb.value)
        return megabytes * 2**20 if megabytes else None

    def to_json(self) -> dict[str, Any]:
        return {
            "MaxConcurrentTransforms": vars(self.max_concurrent_transforms),
            "MaxPayloadInMB": vars(self.max_payload_mb),
            "BatchStrategy": vars(self.batch_strategy),
        }


def container_environment(request: TransformRequest, model_environment: Mapping[str, str]) -> dict[str, str]:
    env = {**model_environment, **request.environment, "SAGEMAKER_BATCH": "true"}
    if request.max_payload_mb is not None:
        env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(request.max_payload_mb)
    if request.batch_strategy is not None:
        env["SAGEMAKER_BATCH_STRATEGY"] = _STRATEGY_ENV[request.batch_strategy]
    if request.max_concurrent_transforms is not None:
        env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(request.max_concurrent_transforms)
    return env


# How an instance's container starts: a fixed command ("{port}" replaced), or one made from the
# container's environment and model directory (an image run by a container engine).
ServeCommand = list[str] | Callable[[Mapping[str, str], Path], list[str]]


def start_instances(
    count: int,
    model_dir: Path,
    env: Mapping[str, str],
    log_dir: Path,
    command: ServeCommand | None,
    timeout_s: float,
) -> list[ServerProcess]:
    """All instances, started in parallel; if one fails, the others are stopped and the error names it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    argv = command(env, model_dir) if callable(command) else command
    servers = [
        ServerProcess(model_dir, env=env, log_path=log_dir / f"instance-{i + 1}.log", command=argv)
        for i in range(count)
    ]

    def start(server: ServerProcess) -> BaseException | None:
        try:
            server.start(timeout=timeout_s)
        except ServerStartError as exc:
            return exc
        return None

    with ThreadPoolExecutor(count) as pool:
        try:
            errors = list(pool.map(start, servers))
        except BaseException:  # a stop signal mid-start: the instances already up end too
            for server in servers:
                server.stop()
            raise
    failed = [(i, e) for i, e in enumerate(errors) if e is not None]
    if failed:
        for server in servers:
            server.stop()
        index, error = failed[0]
        raise InstanceError(f"instance {index + 1} did not become healthy: {error}")
    return servers


def execution_parameters(server: ServerProcess) -> dict[str, Any] | None:
    """The container's suggestion, or None when it does not implement GET /execution-parameters."""
    try:
        status, _, body = server.request("GET", "/execution-parameters", timeout=10)
    except OSError as exc:
        raise InstanceError(f"GET /execution-parameters failed: {exc}") from None
    if status != 200:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        raise InstanceError(f"GET /execution-parameters answered something other than JSON: {body[:200]!r}") from None
    if not isinstance(answer, dict):
        raise InstanceError(f"GET /execution-parameters answered {answer!r}, not a JSON object")
    return answer


def resolve_settings(request: TransformRequest, answer: Mapping[str, Any] | None) -> TransformSettings:
    """Precedence: the request, then the container's /execution-parameters, then 1 / MultiRecord / 6 MB."""
    answer = answer or {}
    mct = _pick(request.max_concurrent_transforms, answer, "MaxConcurrentTransforms", DEFAULT_MAX_CONCURRENT_TRANSFORMS,
                lambda v: _int_in(v, 1, None))  # fmt: skip
    payload = _pick(request.max_payload_mb, answer, "MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB,
                    lambda v: _int_in(v, 0, MAX_PAYLOAD_LIMIT_MB))  # fmt: skip
    strategy = _pick(request.batch_strategy, answer, "BatchStrategy", DEFAULT_BATCH_STRATEGY, normalize_strategy)
    if payload.value and mct.value * payload.value > MAX_PAYLOAD_LIMIT_MB:
        raise InstanceError(
            f"MaxConcurrentTransforms x MaxPayloadInMB = {mct.value} ({mct.source}) x {payload.value} "
            f"({payload.source}) is over the {MAX_PAYLOAD_LIMIT_MB} MB limit"
        )
    return TransformSettings(mct, payload, strategy)


def _pick(requested: Any, answer: Mapping[str, Any], key: str, default: Any, convert: Any) -> Setting:
    if requested is not None:
        return Setting(requested, "request")
    if key in answer:
        value = convert(answer[key])
        if value is None:
            raise InstanceError(f"GET /execution-parameters answered an invalid {key}: {answer[key]!r}")
        return Setting(value, "container")
    return Setting(default, "default")


def _int_in(value: Any, low: int, high: int | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        return None
    return value


def unpack_model(archive: Path, model_dir: Path) -> None:
    """model.tar.gz into a directory, as SageMaker unpacks it into /opt/ml/model."""
    from leafline.serving.errors import ModelLoadError
    from leafline.serving.model_source import extract_archive

    model_dir.mkdir(parents=True, exist_ok=True)
    try:
        extract_archive(archive, model_dir)
    except (ModelLoadError, tarfile.TarError) as exc:
        raise InstanceError(str(exc)) from None


def fetch_model(model_data_url: str, storage: Storage, workdir: Path) -> Path:
    """ModelDataUrl (s3:// or file:// model.tar.gz) downloaded and unpacked into workdir/model."""
    archive = workdir / "model.tar.gz"
    try:
        storage.copy_to_local(model_data_url, archive)
    except StorageError as exc:
        raise InstanceError(f"cannot fetch the model: {exc}") from None
    model_dir = workdir / "model"
    unpack_model(archive, model_dir)
    archive.unlink()
    return model_dir
