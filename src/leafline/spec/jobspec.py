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
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from types import UnionType
from typing import Any, get_args, get_origin, get_type_hints

from leafline.errors import UsageError
from leafline.spec.instance_types import INSTANCE_TYPES
from leafline.spec.schedule_checks import cron_problem, deadline_after_s, local_time_problem, timezone_problem

MAX_NAME = 63
# The nightly DAG's default spec, shipped inside the package (the local demo's settings): what the DAG reads
# unless LEAFLINE_SPEC says otherwise, and what `leafline pipeline` and `leafline dashboard` default to.
DEFAULT_SPEC = Path(__file__).with_name("leafline-spec.toml")
_ROLE = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/.+$")
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9-]+")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TOPIC = re.compile(r"^arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_\-]{1,256}(\.fifo)?$")
# The nightly keys the deployment may default (orchestration.settings reads them from LEAFLINE_* variables).
DEPLOYMENT_DEFAULTS = ("schedule", "timezone", "retries", "retry_delay_s")
WEEK_S = 7 * 24 * 3600
# The SageMaker Pipeline renders its requests once, with the run date left for each execution to fill in.
RUN_DATE_PARAMETER = "{Parameters.RunDate}"
LINE_CONTENT_TYPES = ("text/csv", "application/jsonlines", "application/json")
# Columnar inputs are sent an object at a time (SplitType None): their bytes have no lines to split at.
WHOLE_OBJECT_CONTENT_TYPES = ("application/x-parquet", "application/vnd.apache.arrow.stream")
ACCEPT_TYPES = LINE_CONTENT_TYPES


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
    # The nightly DAG's own (the SageMaker Pipeline is started by whoever runs it):
    schedule: str = "0 2 * * *"  # 5-field cron, in `timezone`
    timezone: str = "America/Sao_Paulo"  # an IANA name
    owner: str = "leafline"
    dag_tags: tuple[str, ...] = ()  # Airflow's tags (`tags` are the AWS resources' tags)
    retries: int = 2
    retry_delay_s: int = 120
    alert_topic_arn: str | None = None  # SNS topic told of a failed run or a missed deadline
    deadline: str | None = None  # local HH:MM by which the night's scores must be validated
    transform_timeout_s: int = 12 * 3600  # the wait for the transform job
    run_timeout_s: int = 24 * 3600  # the whole DAG run

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


def load_spec(
    path: Path | None, overrides: Mapping[str, Any] | None = None, defaults: Mapping[str, Any] | None = None
) -> JobSpec:
    """A spec from a .json/.toml file (or none) plus overrides; `transform.max_payload_mb=4` reaches nested keys.
    `defaults` fill top-level keys the file omits (a deployment's LEAFLINE_SCHEDULE, for instance).

    Every refusal names the file and the key: `spec dags/leafline-spec.toml: missing key 'bucket'`."""
    source = f"spec {path}" if path is not None else "spec (no file, overrides only)"
    try:
        data = {**(defaults or {}), **(_read_spec(path) if path is not None else {})}
        for key, value in (overrides or {}).items():
            _override(data, key, value)
        return spec_from_mapping(data)
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from None


def _read_spec(path: Path) -> dict[str, Any]:
    kind = "TOML" if path.suffix == ".toml" else "JSON"
    try:
        text = path.read_text()
        data = tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except OSError as exc:
        raise SpecError(f"cannot read it ({exc.strerror})") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"not valid {kind} ({exc})") from None
    if not isinstance(data, dict):
        raise SpecError(f"expected a {'table' if kind == 'TOML' else 'JSON object'} of settings")
    return data


def _override(data: dict[str, Any], key: str, value: Any) -> None:
    target = data
    *parents, leaf = key.split(".")
    for depth, parent in enumerate(parents, start=1):
        target = target.setdefault(parent, {})
        if not isinstance(target, dict):
            raise SpecError(f"override {key!r}: {'.'.join(parents[:depth])!r} is not a table of settings")
    target[leaf] = value


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
    """A checked spec from settings as a file holds them; a SpecError names each missing or invalid key."""
    transform = data.get("transform") or {}
    if not isinstance(transform, Mapping):
        raise SpecError(f"transform = {transform!r}: expected a table of settings")
    top = {k: v for k, v in data.items() if k != "transform"}
    _check_keys(top, JobSpec, "")
    _check_keys(transform, TransformSettings, "transform.")
    spec = JobSpec(**{**top, "transform": TransformSettings(**transform)})
    spec = replace(
        spec,
        subnets=tuple(spec.subnets),
        security_group_ids=tuple(spec.security_group_ids),
        dag_tags=tuple(spec.dag_tags),
    )
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
    validate_nightly(spec)


def validate_nightly(spec: JobSpec) -> None:
    """The nightly DAG's keys: a schedule Airflow can read, and timeouts and a deadline that can be met."""
    for key, problem in (("schedule", cron_problem), ("timezone", timezone_problem)):
        reason = problem(getattr(spec, key))
        if reason:
            raise SpecError(f"{key} {getattr(spec, key)!r}: {reason}")
    if not spec.owner.strip():
        raise SpecError(f"owner {spec.owner!r}: must not be empty")
    for tag in spec.dag_tags:
        if not tag or len(tag) > 100:  # Airflow's limit on a tag's length
            raise SpecError(f"dag_tags: tag {tag!r} must be 1..100 characters")
    _check_int("retries", spec.retries, 0, 100)
    _check_int("retry_delay_s", spec.retry_delay_s, 0, 24 * 3600)
    if spec.alert_topic_arn is not None and not _TOPIC.match(spec.alert_topic_arn):
        raise SpecError(
            f"alert_topic_arn {spec.alert_topic_arn!r}: "
            "expected an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"
        )
    if spec.deadline is not None:
        reason = local_time_problem(spec.deadline)
        if reason:
            raise SpecError(f"deadline {spec.deadline!r}: {reason}")
        if deadline_after_s(spec.schedule, spec.deadline) is None:
            raise SpecError(
                f"deadline {spec.deadline!r}: counts from the run's time of day, and schedule {spec.schedule!r} "
                "has none (its minute and hour must be plain numbers)"
            )
    _check_int("transform_timeout_s", spec.transform_timeout_s, 1, WEEK_S)
    _check_int("run_timeout_s", spec.run_timeout_s, 1, WEEK_S)
    if spec.transform_timeout_s > spec.run_timeout_s:
        raise SpecError(
            f"transform_timeout_s = {spec.transform_timeout_s} is longer than run_timeout_s = {spec.run_timeout_s}: "
            "the run would end before its wait"
        )


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
    if _media(settings.content_type) not in LINE_CONTENT_TYPES + WHOLE_OBJECT_CONTENT_TYPES:
        raise SpecError(f"transform.content_type {settings.content_type!r}: one of "
                        f"{', '.join(LINE_CONTENT_TYPES + WHOLE_OBJECT_CONTENT_TYPES)}")  # fmt: skip
    if _media(settings.accept) not in ACCEPT_TYPES:
        raise SpecError(f"transform.accept {settings.accept!r}: one of {', '.join(ACCEPT_TYPES)}")
    processing = [key for key in ("input_filter", "join_source", "output_filter") if getattr(settings, key)]
    if processing and _media(settings.content_type) in WHOLE_OBJECT_CONTENT_TYPES:
        raise SpecError(
            f"transform.{processing[0]} with transform.content_type {settings.content_type!r}: SageMaker associates "
            "inferences with input records in CSV and JSON input only; join Parquet input after the job instead"
        )
    if settings.batch_strategy not in ("SingleRecord", "MultiRecord"):
        raise SpecError(f"transform.batch_strategy {settings.batch_strategy!r}: SingleRecord or MultiRecord")
    _check_int("transform.invocations_timeout_s", settings.invocations_timeout_s, 1, 3600)
    _check_int("transform.invocations_max_retries", settings.invocations_max_retries, 0, 3)


def split_type(content_type: str) -> str:
    """TransformInput.SplitType for a content type: Line for text records, None for a columnar object."""
    return "None" if _media(content_type) in WHOLE_OBJECT_CONTENT_TYPES else "Line"


def _media(content_type: object) -> str:
    """'text/csv; charset=utf-8' -> 'text/csv' (a value that is not a string is refused by _check_keys)."""
    return str(content_type).split(";", 1)[0].strip().lower()


def _check_int(key: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(f"{key} = {value!r}: must be an integer in {low}..{high}")


def check_run_date(run_date: str) -> None:
    if run_date != RUN_DATE_PARAMETER and not _DATE.match(run_date):
        raise SpecError(f"run date {run_date!r}: expected YYYY-MM-DD")


def _check_keys(data: Mapping[str, Any], kind: type, prefix: str) -> None:
    """Unknown keys, missing required keys and values of the wrong type, each named with its dotted key."""
    known = {f.name: f for f in fields(kind)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise SpecError(f"unknown setting(s): {', '.join(prefix + k for k in unknown)}")
    required = [name for name, f in known.items() if f.default is MISSING and f.default_factory is MISSING]
    missing = [prefix + name for name in required if name not in data]
    if missing:
        raise SpecError(f"missing key{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}")
    hints = get_type_hints(kind)
    for name, value in data.items():
        expected = _expected(value, hints[name])
        if expected:
            raise SpecError(f"{prefix}{name} = {value!r}: expected {expected}")


_KINDS = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}


def _expected(value: Any, hint: Any) -> str | None:
    """What `hint` asks for, when `value` is not it (None when it is): the few shapes a spec's fields have."""
    options = get_args(hint) if isinstance(hint, UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    kind = next(o for o in options if o is not type(None))
    origin = get_origin(kind)
    if origin is tuple:
        ok = isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
        return None if ok else "a list of strings"
    if origin is dict:
        ok = isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())
        return None if ok else "a table of string values"
    wanted = _KINDS.get(kind, f"a {getattr(kind, '__name__', kind)}")
    if isinstance(value, bool) and kind is not bool:
        return wanted
    ok = isinstance(value, int | float) if kind is float else isinstance(value, kind)
    return None if ok else wanted
