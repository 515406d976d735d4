"""Server settings, read once from an injectable environment mapping (the only env reader)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from leafline.serving.errors import ConfigurationError

DEFAULT_PORT = 8080
DEFAULT_MODEL_DIR = "/opt/ml/model"
DEFAULT_REGION = "sa-east-1"
SUPPORTED_ACCEPTS = ("text/csv", "application/json", "application/jsonlines")
# Batch Transform sends each body whole and at once (InvocationsTimeoutInSeconds defaults to 600 s), so a
# minute without a byte means a client that stalled, not one that is slow.
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_IDLE_TIMEOUT = 60.0
# Bytes per second a body must average once its first read timeout has passed (mod_reqtimeout's default);
# a 100 MB body may take 56 hours at that rate: only a client trickling bytes on purpose falls behind.
DEFAULT_MIN_BODY_RATE = 500.0
# A model archive that unpacks past this is refused (a 2 MB archive of zeros can expand to 2 GB).
DEFAULT_MAX_UNPACKED_MB = 4096
DEFAULT_MAX_ARCHIVE_MEMBERS = 10_000


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    model_dir: Path
    download_dir: Path
    s3_bucket: str | None
    s3_key: str | None
    region: str
    max_payload_mb: int | None  # None: the server derives it; 0: no limit (SageMaker's chunked mode)
    max_concurrency: int | None  # None: the server derives it from the cores
    batch_strategy: str | None
    threshold: float | None
    default_accept: str
    backend: str  # "auto" uses a matching compiled artifact; "lightgbm" forces the fallback
    profiling: bool
    read_timeout: float = DEFAULT_READ_TIMEOUT  # a whole header section; a body (or reply) without a byte
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT  # seconds a keep-alive connection may wait for a request
    min_body_rate: float = DEFAULT_MIN_BODY_RATE  # bytes/s a body must average after its first read timeout
    workers: int | None = None  # requests read or answered at once; None: derived from the concurrency
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_MB * 2**20
    max_archive_members: int = DEFAULT_MAX_ARCHIVE_MEMBERS
    csv_reader: str = "auto"  # "auto" tries the native CSV reader first; "pyarrow" reads every body as before

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if environ is None else environ
        bucket = env.get("MODEL_S3_BUCKET") or None
        key = env.get("MODEL_S3_KEY") or None
        if (bucket is None) != (key is None):
            raise ConfigurationError("MODEL_S3_BUCKET and MODEL_S3_KEY must be set together")
        threshold = _optional_float(env, "PREDICTION_THRESHOLD")
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise ConfigurationError(f"PREDICTION_THRESHOLD={threshold} must be between 0 and 1 (exclusive)")
        default_accept = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv").strip().lower()
        if default_accept not in SUPPORTED_ACCEPTS:
            raise ConfigurationError(
                f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={default_accept!r} is not one of {', '.join(SUPPORTED_ACCEPTS)}"
            )
        backend = env.get("LEAFLINE_BACKEND", "auto").strip().lower()
        if backend not in ("auto", "lightgbm"):
            raise ConfigurationError(f"LEAFLINE_BACKEND={backend!r} must be 'auto' or 'lightgbm'")
        csv_reader = env.get("LEAFLINE_CSV_READER", "auto").strip().lower()
        if csv_reader not in ("auto", "pyarrow"):
            raise ConfigurationError(f"LEAFLINE_CSV_READER={csv_reader!r} must be 'auto' or 'pyarrow'")
        concurrency = _optional_int(env, "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", minimum=0)
        return cls(
            host=env.get("LEAFLINE_HOST", "0.0.0.0"),  # noqa: S104 - SageMaker connects from outside the container
            port=_port(env),
            model_dir=Path(env.get("LEAFLINE_MODEL_DIR", DEFAULT_MODEL_DIR)),
            download_dir=Path(env.get("LEAFLINE_DOWNLOAD_DIR", "/tmp/leafline-model")),  # noqa: S108
            s3_bucket=bucket,
            s3_key=key,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            max_payload_mb=_payload_mb(env),
            max_concurrency=concurrency or None,  # 0 means "let the container decide", as in the API
            batch_strategy=env.get("SAGEMAKER_BATCH_STRATEGY") or None,
            threshold=threshold,
            default_accept=default_accept,
            backend=backend,
            profiling=env.get("LEAFLINE_PROFILING", "").strip().lower() in ("1", "true", "yes", "on"),
            read_timeout=_seconds(env, "LEAFLINE_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
            idle_timeout=_seconds(env, "LEAFLINE_IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT),
            min_body_rate=_rate(env, "LEAFLINE_MIN_BODY_RATE", DEFAULT_MIN_BODY_RATE),
            workers=_optional_int(env, "LEAFLINE_WORKERS", minimum=1),
            max_unpacked_bytes=_positive_int(env, "LEAFLINE_MAX_UNPACKED_MB", DEFAULT_MAX_UNPACKED_MB) * 2**20,
            max_archive_members=_positive_int(env, "LEAFLINE_MAX_ARCHIVE_MEMBERS", DEFAULT_MAX_ARCHIVE_MEMBERS),
            csv_reader=csv_reader,
        )


def _port(env: Mapping[str, str]) -> int:
    port = _optional_int(env, "SAGEMAKER_BIND_TO_PORT", minimum=0)  # 0: any free port (tests)
    if port is not None and port > 65535:
        raise ConfigurationError(f"SAGEMAKER_BIND_TO_PORT={port} is not a TCP port")
    return DEFAULT_PORT if port is None else port


def _payload_mb(env: Mapping[str, str]) -> int | None:
    value = _optional_int(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", minimum=0)
    if value is not None and value > 100:
        raise ConfigurationError(f"SAGEMAKER_MAX_PAYLOAD_IN_MB={value} exceeds SageMaker's limit of 100")
    return value


def _optional_int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigurationError(f"{name}={value} must be >= {minimum}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _optional_int(env, name, minimum=1)
    return default if value is None else value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = _optional_float(env, name)
    if value is None:
        return default
    if not 0 < value < 86_400:
        raise ConfigurationError(f"{name}={value:g} must be a number of seconds above 0 and below 86400")
    return value


def _rate(env: Mapping[str, str], name: str, default: float) -> float:
    value = _optional_float(env, name)
    if value is None:
        return default
    if not 0 <= value < math.inf:
        raise ConfigurationError(f"{name}={value:g} must be a number of bytes per second, 0 or above (0: off)")
    return value


def _optional_float(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
