"""Requests AWS refuses are refused by local AWS too, before anything acts on them, with AWS's error code
and message: every member checked against botocore's model of the API (required, type, enum, range,
length, pattern). Clients here send with boto3's own checks off (or raw), so what is tested is the server."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from leafline.local_aws import validation
from leafline.local_aws.server import LocalAws
from leafline.local_aws.validation import check, translate
from leafline.spec import aws_requests
from leafline.spec.jobspec import DEFAULT_SPEC, load_spec

UNCHECKED = Config(parameter_validation=False)  # what the server answers, not what boto3 refuses first
INSTANCE_TYPES = validation._service("sagemaker").shape_for("TransformInstanceType").metadata["enum"]


def _job(name: str = "night-1", **extra: Any) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": "scorer",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}}},
        "TransformOutput": {"S3OutputPath": "s3://b/out/"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    }


def _refused(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.fixture
def sagemaker(local_aws: LocalAws) -> Any:
    return boto3.client("sagemaker", config=UNCHECKED)


def test_an_instance_type_sagemaker_does_not_have_is_refused(sagemaker: Any) -> None:
    resources = {"InstanceType": "ml.foo.bar", "InstanceCount": 1}
    assert _refused(sagemaker.create_transform_job, **_job(TransformResources=resources)) == (
        "ValidationException",
        "1 validation error detected: Value 'ml.foo.bar' at 'transformResources.instanceType' failed to satisfy "
        f"constraint: Member must satisfy enum value set: [{', '.join(INSTANCE_TYPES)}]",
    )
    assert sagemaker.list_transform_jobs()["TransformJobSummaries"] == []  # refused before anything ran


def test_the_containers_spelling_of_a_batch_strategy_is_refused_in_a_request(sagemaker: Any) -> None:
    assert _refused(sagemaker.create_transform_job, **_job(BatchStrategy="MULTI_RECORD")) == (
        "ValidationException",
        "1 validation error detected: Value 'MULTI_RECORD' at 'batchStrategy' failed to satisfy constraint: "
        "Member must satisfy enum value set: [MultiRecord, SingleRecord]",
    )


def test_max_results_past_the_models_range_is_refused(sagemaker: Any) -> None:
    assert _refused(sagemaker.list_transform_jobs, MaxResults=101) == (
        "ValidationException",
        "1 validation error detected: Value '101' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 100",
    )


def test_a_missing_required_member_is_refused(sagemaker: Any) -> None:
    request = _job()
    del request["ModelName"], request["TransformResources"]["InstanceCount"]
    assert _refused(sagemaker.create_transform_job, **request) == (
        "ValidationException",
        "2 validation errors detected: Value null at 'modelName' failed to satisfy constraint: Member must not "
        "be null; Value null at 'transformResources.instanceCount' failed to satisfy constraint: Member must "
        "not be null",
    )


def test_a_too_long_name_failing_the_pattern_is_refused_for_both(sagemaker: Any) -> None:
    name = "night_" * 11
    assert _refused(sagemaker.create_transform_job, **_job(name)) == (
        "ValidationException",
        f"2 validation errors detected: Value '{name}' at 'transformJobName' failed to satisfy constraint: "
        f"Member must have length less than or equal to 63; Value '{name}' at 'transformJobName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    )


def test_a_name_failing_the_pattern_is_refused_on_calls_moto_answers(sagemaker: Any) -> None:
    role = "arn:aws:iam::123456789012:role/r"
    assert _refused(sagemaker.create_model, ModelName="my_model", ExecutionRoleArn=role) == (
        "ValidationException",
        "1 validation error detected: Value 'my_model' at 'modelName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?",
    )


def test_a_member_of_the_wrong_type_is_a_serialization_error(sagemaker: Any) -> None:
    code, message = _refused(sagemaker.list_transform_jobs, MaxResults="ten")
    assert (code, message) == ("SerializationException", "Unexpected string at 'maxResults': the member is an integer")


def test_a_member_the_model_lacks_is_passed_on_as_a_newer_client_may_send_it(local_aws: LocalAws) -> None:
    request = urllib.request.Request(
        local_aws.url, data=json.dumps({"MaxResults": 10, "AMemberFromANewerBotocore": 1}).encode(), method="POST",
        headers={"X-Amz-Target": "SageMaker.ListTransformJobs", "Content-Type": "application/x-amz-json-1.1"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
        assert "TransformJobSummaries" in json.loads(answer.read())


def test_an_invocation_with_an_invalid_endpoint_name_is_refused_as_the_runtime_does(local_aws: LocalAws) -> None:
    runtime = boto3.client("sagemaker-runtime", config=UNCHECKED)
    assert _refused(runtime.invoke_endpoint, EndpointName="my_endpoint", Body=b"1,2", ContentType="text/csv") == (
        "ValidationError",
        "1 validation error detected: Value 'my_endpoint' at 'endpointName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*",
    )


def test_valid_requests_pass_to_whoever_answers_them(sagemaker: Any) -> None:
    assert sagemaker.list_transform_jobs(MaxResults=100, StatusEquals="Completed")["TransformJobSummaries"] == []
    assert _refused(sagemaker.describe_transform_job, TransformJobName="never") == (
        "ValidationException", "Could not find requested job with name never")  # fmt: skip
    group = {"ModelPackageGroupName": "leafline-demo", "ModelPackageGroupDescription": "d"}
    assert sagemaker.create_model_package_group(**group)["ModelPackageGroupArn"].endswith("/leafline-demo")


def test_leaflines_own_requests_are_valid() -> None:
    spec = load_spec(DEFAULT_SPEC)
    arn = "arn:aws:sagemaker:sa-east-1:123456789012:model-package/leafline-demo/1"
    metadata = {aws_requests.ARTIFACT_HASH_KEY: "0" * 64}
    requests = {
        "CreateModelPackageGroup": aws_requests.create_model_package_group(spec),
        "CreateModelPackage": aws_requests.create_model_package(spec, "s3://b/model.tar.gz", metadata),
        "CreateModel": aws_requests.create_model(spec, "leafline-demo-20261121", arn),
        "CreateTransformJob": aws_requests.create_transform_job(spec, "leafline-demo-20261121", "m", "2026-11-21"),
    }
    for operation, params in requests.items():
        assert check("sagemaker", operation, params) is None, operation


# The walker, member by member: (operation, params, the error's code and message, or None for valid).
# fmt: off
WALKER_CASES = [
    ("DescribeTransformJob", {"TransformJobName": "a"}, None),
    ("DescribeTransformJob", {"TransformJobName": None},
     ("ValidationException", "1 validation error detected: Value null at 'transformJobName' failed to satisfy "
                             "constraint: Member must not be null")),
    ("ListTransformJobs", {"MaxResults": 0},
     ("ValidationException", "1 validation error detected: Value '0' at 'maxResults' failed to satisfy "
                             "constraint: Member must have value greater than or equal to 1")),
    ("ListTransformJobs", {"MaxResults": True},
     ("SerializationException", "Unexpected boolean at 'maxResults': the member is an integer")),
    ("ListTransformJobs", {"NameContains": "a_b", "SortOrder": "Up"},
     ("ValidationException", "2 validation errors detected: Value 'a_b' at 'nameContains' failed to satisfy "
                             "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9\\-]+; Value "
                             "'Up' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: "
                             "[Ascending, Descending]")),
    ("CreateTransformJob", _job(Tags=[{"Key": "k", "Value": "v"}, {"Key": "", "Value": "v"}]),
     ("ValidationException", "1 validation error detected: Value '' at 'tags.2.member.key' failed to satisfy "
                             "constraint: Member must have length greater than or equal to 1")),
    ("CreateTransformJob", _job(Tags=[{"Key": "k"}]),
     ("ValidationException", "1 validation error detected: Value null at 'tags.1.member.value' failed to "
                             "satisfy constraint: Member must not be null")),
    ("CreateTransformJob", _job(Environment={"K": "v" * 10241}),
     ("ValidationException", f"1 validation error detected: Value '{{K={'v' * 10241}}}' at 'environment' failed "
                             "to satisfy constraint: Map value must satisfy constraint: [Member must have length "
                             "less than or equal to 10240, Member must have length greater than or equal to 0, Member "
                             "must satisfy regular expression pattern: [\\S\\s]*]")),
    ("CreateTransformJob", _job(Environment={"1K": "v"}),
     ("ValidationException", "1 validation error detected: Value '{1K=v}' at 'environment' failed to satisfy "
                             "constraint: Map keys must satisfy constraint: [Member must have length less than or "
                             "equal to 1024, Member must have length greater than or equal to 0, Member must "
                             "satisfy regular expression pattern: [a-zA-Z_][a-zA-Z0-9_]{0,1023}]")),
    ("CreateTransformJob", _job(TransformInput={"DataSource": {}}),
     ("ValidationException", "1 validation error detected: Value null at 'transformInput.dataSource.s3DataSource' "
                             "failed to satisfy constraint: Member must not be null")),
    ("CreateTransformJob", _job(TransformInput=[]),
     ("SerializationException", "Unexpected list at 'transformInput': the member is a structure")),
    ("CreateTransformJob", _job(Tags=[{"Key": "ключ", "Value": "значение 1"}]), None),  # \p{L}: any script
    ("CreateTransformJob", _job(Tags=[{"Key": "k\x07", "Value": "v"}]),
     ("ValidationException", "1 validation error detected: Value 'k\x07' at 'tags.1.member.key' failed to satisfy "
                             "constraint: Member must satisfy regular expression pattern: "
                             "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)")),
    ("CreateModelPackage", {"InferenceSpecification": {"Containers": [{"Image": "i"}], "SupportedContentTypes": [],
                            "SupportedResponseMIMETypes": [],
                            "SupportedTransformInstanceTypes": ["ml.m5.large", "ml.foo"]}},
     ("ValidationException", "1 validation error detected: Value '[ml.m5.large, ml.foo]' at "
                             "'inferenceSpecification.supportedTransformInstanceTypes' failed to satisfy constraint: "
                             "Member must satisfy constraint: [Member must satisfy enum value set: "
                             f"[{', '.join(INSTANCE_TYPES)}], Member must not be null]")),
    ("NoSuchOperation", {"Anything": 1}, None),  # not this module's to refuse (unsupported operations are)
]
# fmt: on


@pytest.mark.parametrize(("operation", "params", "expected"), WALKER_CASES)
def test_the_walker_checks_each_constraint_as_aws_words_it(
    operation: str, params: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    error = check("sagemaker", operation, params)
    assert (None if error is None else (error.code, error.message)) == expected


@pytest.mark.parametrize(
    ("java", "matching", "not_matching"),
    [
        ("[\\p{L}\\p{M}\\p{Z}\\p{N}\\p{P}]{0,1024}", "Zürich, 東京 1.", "a\x00"),
        ("arn:[\\p{Alnum}\\-]+:lambda:.*", "arn:aws-cn:lambda:x", "arn:aws_é:lambda:x"),
        ("\\A\\S[\\p{Print}]*\\z", "a b", " a"),
        ("\\p{ASCII}*", "text/csv", "tëxt"),
        ("([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)${1,128}", "a b/c", "a!b"),
        ("[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*", "a\t😀", "a\x01"),
        ("\\d+", "123", "١٢٣"),  # Java's \d is ASCII
    ],
)
def test_java_patterns_are_translated_with_their_meaning(java: str, matching: str, not_matching: str) -> None:
    pattern = validation._pattern(java)
    assert pattern is not None, translate(java)
    assert pattern.fullmatch(matching) is not None
    assert pattern.fullmatch(not_matching) is None


def test_every_pattern_in_the_models_is_checked() -> None:
    """The patterns that cannot be translated (skipped, so not checked) are exactly these: none today."""
    for service in ("sagemaker", "sagemaker-runtime"):
        model = validation._service(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern is not None:
                validation._pattern(pattern)
    assert not validation.UNCHECKED_PATTERNS, validation.UNCHECKED_PATTERNS
    assert translate("[a-z&&[^b]]") is None  # class intersection: Python has none, so it is skipped


def test_validation_adds_well_under_a_millisecond_to_a_request() -> None:
    request = aws_requests.create_transform_job(load_spec(DEFAULT_SPEC), "leafline-demo-1", "m", "2026-11-21")
    assert check("sagemaker", "CreateTransformJob", request) is None  # models and patterns loaded and cached
    started = time.perf_counter()
    for _ in range(200):
        check("sagemaker", "CreateTransformJob", request)
    assert (time.perf_counter() - started) / 200 < 0.0005


def test_the_metadata_leafline_registers_a_version_with_is_valid_and_reads_back() -> None:
    """CustomerMetadataProperties values may hold only letters, spaces, digits and _.:/=+-@: no JSON, no commas."""
    from leafline.model.packaging import PackageInfo
    from leafline.model.registry import ModelVersion, version_metadata
    from leafline.tuning.profile import Summary

    summary = Summary(238780.4, 1, 15.0, 67.2, 52.24, 0.7061, 6.1)
    compiled = [{"arch": "x86_64"}, {"arch": "aarch64"}]
    package = PackageInfo({"artifact_sha256": "0" * 64, "objective": "binary sigmoid:1", "num_features": 6,
                           "lightgbm_version": "4.7.0", "compiled": compiled})  # fmt: skip
    metadata = version_metadata(package, summary.compact())
    request = aws_requests.create_model_package(load_spec(DEFAULT_SPEC), "s3://b/model.tar.gz", metadata)
    assert check("sagemaker", "CreateModelPackage", request) is None
    version = ModelVersion("arn", "leafline-demo", 1, "Approved", request["CustomerMetadataProperties"])
    assert version.tuning is not None
    assert Summary.from_compact(version.tuning) == Summary.from_compact(summary.compact())
