"""The scoring job's specification: one place both orchestrators read every setting from.

A spec is a JSON or TOML file plus overrides (KEY=VALUE, dotted for nested keys), checked once with
errors that name the key and the limit. The artifact layout follows the seeds:
s3://{bucket}/{project_id}/{experiment_id}/model.tar.gz, and per run date
s3://{bucket}/{project_id}/{experiment_id}/scoring/{run_date}/input/ and .../output/.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.instance_types import INSTANCE_TYPES

MAX_NAME = 63
_ROLE = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/.+$")
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9-]+")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The SageMaker Pipeline renders its requests once, with the run date left for each execution to fill in.
RUN_DATE_PARAMETER = "{Parameters.RunDate}"


class SpecError(UsageError):
    """The job spec is invalid; the message names the key."""


@dataclass(frozen=True)
class TransformSettings:
    max_concurrent_transforms: int | None = None  # None: the tuned profile, else the container decides
    max_payload_mb: int | None = None
    batch_strategy: str = "MultiRecord"
    content_type: str = "text/csv"
    accept: str = "text/csv"
    invocations_timeout_s: int = 600
    invocations_max_retries: int = 3
    input_filter: str | None = None
    join_source: str | None = None
    output_filter: str | None = None


@dataclass(frozen=True)
class JobSpec:
    project_id: str
    experiment_id: str
    bucket: str
    role_arn: str
    image_uri: str
    region: str = "sa-east-1"
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    transform: TransformSettings = field(default_factory=TransformSettings)
    threshold: float | None = None
    input_prefix: str | None = None  # default: the layout's scoring/{run_date}/input/; may contain {run_date}
    output_kms_key_id: str | None = None
    volume_kms_key_id: str | None = None
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    enable_network_isolation: bool = True  # the container needs no network: S3 is moved by SageMaker
    tags: dict[str, str] = field(default_factory=dict)
    auto_approve: bool = False  # development only: register versions as Approved
    validation_instance_type: str = "ml.m5.large"  # the Pipeline's validation step (a processing job)

    @property
    def experiment_prefix(self) -> str:
        return f"s3://{self.bucket}/{self.project_id}/{self.experiment_id}/"

    @property
    def model_data_url(self) -> str:
        return self.experiment_prefix + "model.tar.gz"

    @property
    def model_package_group(self) -> str:
        return safe_name(self.project_id)

    def input_uri(self, run_date: str) -> str:
        check_run_date(run_date)
        if self.input_prefix:
            return self.input_prefix.replace("{run_date}", run_date)
        return f"{self.experiment_prefix}scoring/{run_date}/input/"

    def output_uri(self, run_date: str) -> str:
        check_run_date(run_date)
        return f"{self.experiment_prefix}scoring/{run_date}/output/"

    def runs_prefix(self) -> str:
        return f"s3://{self.bucket}/{self.project_id}/runs/"


def safe_name(*parts: str, limit: int = MAX_NAME) -> str:
    """A SageMaker name from free text: [a-zA-Z0-9-], <= 63 characters, deterministic.

    Too long a name keeps its start and gains 8 hex digits of the full text's hash, so two runs whose
    names differ only at the end stay distinct."""
    text = "-".join(_NAME_CHARS.sub("-", part).strip("-") for part in parts if part)
    text = re.sub(r"-{2,}", "-", text).strip("-") or "leafline"
    if len(text) <= limit:
        return text
    digest = hashlib.sha256("-".join(parts).encode()).hexdigest()[:8]
    return text[: limit - 9].rstrip("-") + "-" + digest


def run_names(spec: JobSpec, run_id: str) -> dict[str, str]:
    """The model and job names for one run: the same run id (an Airflow run, a pipeline execution) gives
    the same names, so a retry reattaches instead of creating a second job."""
    return {
        "model": safe_name("lf", spec.project_id, spec.experiment_id, run_id),
        "transform_job": safe_name("lf", spec.project_id, run_id),
    }


def load_spec(path: Path | None, overrides: Mapping[str, Any] | None = None) -> JobSpec:
    """A spec from a .json/.toml file (or none) plus overrides; `transform.max_payload_mb=4` reaches nested keys."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text()
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except OSError as exc:
            raise SpecError(f"{path}: cannot read the spec ({exc.strerror})") from None
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise SpecError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'} ({exc})") from None
    for key, value in (overrides or {}).items():
        target = data
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return spec_from_mapping(data)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE strings as overrides; a value that reads as JSON (2, true, ["a"]) takes that type."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SpecError(f"--set {pair!r}: expected KEY=VALUE (dotted keys reach nested settings)")
        try:
            overrides[key] = json.loads(raw)
        except ValueError:
            overrides[key] = raw
    return overrides


def spec_from_mapping(data: Mapping[str, Any]) -> JobSpec:
    transform = dict(data.get("transform") or {})
    top = {k: v for k, v in data.items() if k != "transform"}
    _reject_unknown(top, JobSpec, "")
    _reject_unknown(transform, TransformSettings, "transform.")
    try:
        spec = JobSpec(**{**top, "transform": TransformSettings(**transform)})
    except TypeError as exc:
        raise SpecError(f"missing or invalid setting: {exc}") from None
    spec = replace(spec, subnets=tuple(spec.subnets), security_group_ids=tuple(spec.security_group_ids))
    validate_spec(spec)
    return spec


def validate_spec(spec: JobSpec) -> None:
    for key in ("project_id", "experiment_id", "bucket", "image_uri"):
        if not isinstance(getattr(spec, key), str) or not getattr(spec, key):
            raise SpecError(f"{key} is required")
    if not _ROLE.match(spec.role_arn or ""):
        raise SpecError(f"role_arn {spec.role_arn!r}: expected an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    if safe_name(spec.project_id) != spec.project_id:
        raise SpecError(f"project_id {spec.project_id!r}: names the model package group: 1-63 letters, digits, hyphens")
    if spec.instance_type not in INSTANCE_TYPES:
        families = sorted({name.split(".")[1] for name in INSTANCE_TYPES})
        raise SpecError(f"instance_type {spec.instance_type!r}: unknown; leafline knows ml.{{{','.join(families)}}}.*")
    if spec.validation_instance_type not in INSTANCE_TYPES:
        raise SpecError(f"validation_instance_type {spec.validation_instance_type!r}: unknown instance type")
    _check_int("instance_count", spec.instance_count, 1, 100)
    _check_transform(spec.transform)
    if spec.threshold is not None and not 0.0 <= spec.threshold <= 1.0:
        raise SpecError(f"threshold {spec.threshold}: must be within [0, 1]")
    if bool(spec.subnets) != bool(spec.security_group_ids):
        raise SpecError("subnets and security_group_ids go together (a VPC config needs both)")
    if len(spec.tags) > 50:
        raise SpecError(f"tags: {len(spec.tags)} tags, over the limit of 50")


def _check_transform(settings: TransformSettings) -> None:
    mct, payload = settings.max_concurrent_transforms, settings.max_payload_mb
    if mct is not None:
        _check_int("transform.max_concurrent_transforms", mct, 1, 1000)
    if payload is not None:
        _check_int("transform.max_payload_mb", payload, 0, 100)
    if mct and payload and mct * payload > 100:
        raise SpecError(
            f"transform.max_concurrent_transforms x transform.max_payload_mb = {mct} x {payload} = {mct * payload} MB, "
            "over SageMaker's 100 MB limit"
        )
    if settings.batch_strategy not in ("SingleRecord", "MultiRecord"):
        raise SpecError(f"transform.batch_strategy {settings.batch_strategy!r}: SingleRecord or MultiRecord")
    _check_int("transform.invocations_timeout_s", settings.invocations_timeout_s, 1, 3600)
    _check_int("transform.invocations_max_retries", settings.invocations_max_retries, 0, 3)


def _check_int(key: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(f"{key} = {value!r}: must be an integer in {low}..{high}")


def check_run_date(run_date: str) -> None:
    if run_date != RUN_DATE_PARAMETER and not _DATE.match(run_date):
        raise SpecError(f"run date {run_date!r}: expected YYYY-MM-DD")


def _reject_unknown(data: Mapping[str, Any], kind: type, prefix: str) -> None:
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"unknown setting(s): {', '.join(prefix + k for k in unknown)}")
