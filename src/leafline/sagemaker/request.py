"""A CreateTransformJob request exactly as boto3 takes it, checked as the SageMaker API checks it.

Errors name the key path (TransformInput.DataSource.S3DataSource.S3Uri) and the limit broken. The
emulator supports what leafline's container serves: SplitType None and Line (RecordIO/TFRecord are
refused), CompressionType None and Gzip, S3Prefix and ManifestFile inputs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.sagemaker.jsonpath import JsonPath, JsonPathError, parse_jsonpath
from leafline.sagemaker.storage import absolute_location

DEFAULT_TIMEOUT_SECONDS = 600
DEFAULT_MAX_RETRIES = 3
MAX_PAYLOAD_LIMIT_MB = 100
DATA_PROCESSING_TYPES = ("text/csv", "application/json", "application/jsonlines")

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_TOP_LEVEL_KEYS = {
    "TransformJobName", "ModelName", "MaxConcurrentTransforms", "ModelClientConfig", "MaxPayloadInMB",
    "BatchStrategy", "Environment", "TransformInput", "TransformOutput", "DataCaptureConfig",
    "TransformResources", "DataProcessing", "Tags", "ExperimentConfig",
}  # fmt: skip
_STRATEGIES = {"SingleRecord": "SingleRecord", "MultiRecord": "MultiRecord",
               "SINGLE_RECORD": "SingleRecord", "MULTI_RECORD": "MultiRecord"}  # fmt: skip


class TransformRequestError(UsageError):
    """The request would be refused by CreateTransformJob (a ValidationException)."""


@dataclass(frozen=True)
class DataProcessing:
    input_filter: JsonPath
    join_input: bool
    output_filter: JsonPath

    @property
    def is_identity(self) -> bool:
        return self.input_filter.is_root and not self.join_input and self.output_filter.is_root


@dataclass(frozen=True)
class TransformRequest:
    name: str
    model_name: str
    input_uri: str
    input_is_manifest: bool
    content_type: str | None
    gzip_input: bool
    split_lines: bool
    output_path: str
    accept: str | None
    assemble_lines: bool
    instance_type: str
    instance_count: int
    max_concurrent_transforms: int | None  # None: ask the container, then default to 1
    max_payload_mb: int | None  # None: ask the container, then default to 6; 0 = unlimited
    batch_strategy: str | None  # SingleRecord | MultiRecord, or None
    environment: dict[str, str]
    invocations_timeout_s: int
    invocations_max_retries: int
    data_processing: DataProcessing
    raw: dict[str, Any] = field(repr=False)


def parse_request(raw: Mapping[str, Any]) -> TransformRequest:
    """Check every field the emulator uses; refuse unknown keys as boto3's parameter validation does."""
    unknown = sorted(set(raw) - _TOP_LEVEL_KEYS)
    if unknown:
        raise TransformRequestError(f"unknown parameter(s) in the request: {', '.join(unknown)}")
    name = _required_str(raw, "TransformJobName")
    if not _NAME.match(name):
        raise TransformRequestError(
            f"TransformJobName {name!r}: 1-63 letters, digits or hyphens, starting and ending with a letter or digit"
        )
    transform_input = _mapping(raw, "TransformInput", required=True)
    source = _mapping(_mapping(transform_input, "DataSource", "TransformInput.", required=True), "S3DataSource",
                      "TransformInput.DataSource.", required=True)  # fmt: skip
    output = _mapping(raw, "TransformOutput", required=True)
    resources = _mapping(raw, "TransformResources", required=True)
    client = _mapping(raw, "ModelClientConfig")
    split = _choice(transform_input, "SplitType", ("None", "Line", "RecordIO", "TFRecord"), "None", "TransformInput.")
    if split in ("RecordIO", "TFRecord"):
        raise TransformRequestError(
            f"TransformInput.SplitType {split}: leafline's container scores CSV, JSON Lines, Parquet and Arrow; "
            "use Line or None"
        )
    content_type = _optional_str(transform_input, "ContentType", "TransformInput.")
    accept = _optional_str(output, "Accept", "TransformOutput.")
    assemble = _choice(output, "AssembleWith", ("None", "Line"), "None", "TransformOutput.")
    request = TransformRequest(
        name=name,
        model_name=_required_str(raw, "ModelName"),
        input_uri=_uri(source, "S3Uri", "TransformInput.DataSource.S3DataSource."),
        input_is_manifest=_input_type(source) == "ManifestFile",
        content_type=content_type,
        gzip_input=_choice(transform_input, "CompressionType", ("None", "Gzip"), "None", "TransformInput.") == "Gzip",
        split_lines=split == "Line",
        output_path=_uri(output, "S3OutputPath", "TransformOutput."),
        accept=accept,
        assemble_lines=assemble == "Line",
        instance_type=_required_str(resources, "InstanceType", "TransformResources."),
        instance_count=_int(resources, "InstanceCount", 1, 100, "TransformResources.", required=True) or 1,
        max_concurrent_transforms=_int(raw, "MaxConcurrentTransforms", 0, None) or None,
        max_payload_mb=_int(raw, "MaxPayloadInMB", 0, MAX_PAYLOAD_LIMIT_MB),
        batch_strategy=_strategy(raw),
        environment=_environment(raw),
        invocations_timeout_s=_int(client, "InvocationsTimeoutInSeconds", 1, 3600, "ModelClientConfig.")
        or DEFAULT_TIMEOUT_SECONDS,
        invocations_max_retries=_retries(client),
        data_processing=_data_processing(raw),
        raw=dict(raw),
    )
    _check_limits(request)
    _check_data_processing(request, split)
    return request


def _check_limits(request: TransformRequest) -> None:
    mct, payload = request.max_concurrent_transforms, request.max_payload_mb
    if mct and payload and mct * payload > MAX_PAYLOAD_LIMIT_MB:
        raise TransformRequestError(
            f"MaxConcurrentTransforms x MaxPayloadInMB = {mct} x {payload} = {mct * payload} MB, over the "
            f"{MAX_PAYLOAD_LIMIT_MB} MB limit"
        )


def _check_data_processing(request: TransformRequest, split: str) -> None:
    if request.data_processing.is_identity:
        return
    media = (("TransformInput.ContentType", request.content_type), ("TransformOutput.Accept", request.accept))
    for key, value in media:
        if value not in DATA_PROCESSING_TYPES:
            raise TransformRequestError(
                f"DataProcessing (InputFilter, JoinSource, OutputFilter) needs {key} to be one of "
                f"{', '.join(DATA_PROCESSING_TYPES)} (got {value!r}): SageMaker associates inferences with "
                "input records in CSV and JSON input only; join Parquet input after the job instead"
            )
    if request.content_type == "text/csv" and (
        split != "Line" or not request.assemble_lines or request.accept != request.content_type
    ):
        raise TransformRequestError(
            "DataProcessing on CSV needs TransformInput.SplitType=Line, TransformOutput.AssembleWith=Line and "
            "TransformOutput.Accept=text/csv"
        )


def _data_processing(raw: Mapping[str, Any]) -> DataProcessing:
    section = _mapping(raw, "DataProcessing")
    paths = {}
    for key in ("InputFilter", "OutputFilter"):
        text = _optional_str(section, key, "DataProcessing.") or "$"
        if len(text) > 63:
            raise TransformRequestError(f"DataProcessing.{key}: {len(text)} characters, over the 63-character limit")
        try:
            paths[key] = parse_jsonpath(text)
        except JsonPathError as exc:
            raise TransformRequestError(f"DataProcessing.{key} {text!r}: {exc}") from None
    join = _choice(section, "JoinSource", ("None", "Input"), "None", "DataProcessing.")
    return DataProcessing(paths["InputFilter"], join == "Input", paths["OutputFilter"])


def _environment(raw: Mapping[str, Any]) -> dict[str, str]:
    env = _mapping(raw, "Environment")
    if len(env) > 16:
        raise TransformRequestError(f"Environment: {len(env)} entries, over the limit of 16")
    for key, value in env.items():
        if not isinstance(value, str):
            raise TransformRequestError(f"Environment.{key}: values must be strings, got {type(value).__name__}")
        if len(key) > 1024 or len(value) > 10240:
            raise TransformRequestError(f"Environment.{key}: keys are limited to 1024 and values to 10240 characters")
    return dict(env)


def _strategy(raw: Mapping[str, Any]) -> str | None:
    value = raw.get("BatchStrategy")
    if value is None:
        return None
    if value not in _STRATEGIES:
        raise TransformRequestError(f"BatchStrategy {value!r}: expected SingleRecord or MultiRecord")
    return _STRATEGIES[value]


def normalize_strategy(value: object) -> str | None:
    """`MULTI_RECORD` (AWS docs and containers) and `MultiRecord` (the API enum) both mean MultiRecord."""
    return _STRATEGIES.get(value) if isinstance(value, str) else None


def _retries(client: Mapping[str, Any]) -> int:
    value = _int(client, "InvocationsMaxRetries", 0, 3, "ModelClientConfig.")
    return DEFAULT_MAX_RETRIES if value is None else value


def _input_type(source: Mapping[str, Any]) -> str:
    kind = _choice(source, "S3DataType", ("S3Prefix", "ManifestFile", "AugmentedManifestFile"), None,
                   "TransformInput.DataSource.S3DataSource.")  # fmt: skip
    if kind == "AugmentedManifestFile":
        raise TransformRequestError("S3DataType AugmentedManifestFile is not supported by Batch Transform")
    return kind


def _mapping(parent: Mapping[str, Any], key: str, prefix: str = "", *, required: bool = False) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        if required:
            raise TransformRequestError(f"{prefix}{key} is required")
        return {}
    if not isinstance(value, Mapping):
        raise TransformRequestError(f"{prefix}{key}: expected an object, got {type(value).__name__}")
    return value


def _required_str(parent: Mapping[str, Any], key: str, prefix: str = "") -> str:
    value = _optional_str(parent, key, prefix)
    if not value:
        raise TransformRequestError(f"{prefix}{key} is required")
    return value


def _optional_str(parent: Mapping[str, Any], key: str, prefix: str = "") -> str | None:
    value = parent.get(key)
    if value is not None and not isinstance(value, str):
        raise TransformRequestError(f"{prefix}{key}: expected a string, got {type(value).__name__}")
    return value


def _uri(parent: Mapping[str, Any], key: str, prefix: str) -> str:
    value = _required_str(parent, key, prefix)
    if not value.startswith(("s3://", "file://")):
        raise TransformRequestError(f"{prefix}{key} {value!r}: expected an s3:// or file:// URI")
    return value


def _choice(
    parent: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str | None, prefix: str = ""
) -> str:
    value = parent.get(key, default)
    if value not in allowed:
        shown = "missing" if value is None else repr(value)
        raise TransformRequestError(f"{prefix}{key}: {shown}, expected one of {', '.join(allowed)}")
    return str(value)


def _int(
    parent: Mapping[str, Any], key: str, low: int, high: int | None, prefix: str = "", *, required: bool = False
) -> int | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise TransformRequestError(f"{prefix}{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TransformRequestError(f"{prefix}{key}: expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise TransformRequestError(f"{prefix}{key} = {value}: must be {bounds}")
    return value


def load_request(path: Path) -> dict[str, Any]:
    """A CreateTransformJob request from a JSON file; its file:// locations relative to the working directory
    are made absolute here, so what is printed and recorded names the same folders from anywhere."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the request ({exc.strerror})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise UsageError(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a CreateTransformJob request is a JSON object")
    return _absolute_locations(data)


def _absolute_locations(request: dict[str, Any]) -> dict[str, Any]:
    places = ((("TransformInput", "DataSource", "S3DataSource"), "S3Uri"), (("TransformOutput",), "S3OutputPath"))
    for keys, key in places:
        parent: Any = request
        for name in keys:
            parent = parent.get(name) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and isinstance(parent.get(key), str) and parent[key].startswith("file://"):
            parent[key] = absolute_location(parent[key])  # anything malformed is left for parse_request to name
    return request
