"""The job spec and the request builders both orchestrators use: checked against botocore's service model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import leafline.spec
from leafline.orchestration.settings import DagSettings
from leafline.sagemaker.request import parse_request
from leafline.spec import aws_requests
from leafline.spec.jobspec import DEFAULT_SPEC, SpecError, TransformSettings, load_spec, run_names, safe_name

ROOT = Path(__file__).resolve().parents[1]

SPEC_TOML = """
project_id = "churn"
experiment_id = "exp-2026-11"
bucket = "models-bucket"
role_arn = "arn:aws:iam::123456789012:role/leafline-scoring"
image_uri = "123456789012.dkr.ecr.sa-east-1.amazonaws.com/leafline:1.0"
instance_type = "ml.c5.xlarge"
threshold = 0.5
output_kms_key_id = "alias/scores"
subnets = ["subnet-1"]
security_group_ids = ["sg-1"]

[transform]
max_concurrent_transforms = 4
max_payload_mb = 6

[tags]
team = "risk"
"""


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC_TOML)
    return path


def test_a_spec_file_with_overrides_gives_the_seed_layout(spec_file: Path) -> None:
    spec = load_spec(spec_file, {"instance_count": 2, "transform.max_payload_mb": 12})

    assert (spec.instance_count, spec.transform.max_payload_mb, spec.transform.max_concurrent_transforms) == (2, 12, 4)
    assert spec.model_data_url == "s3://models-bucket/churn/exp-2026-11/model.tar.gz"
    assert spec.input_uri("2026-11-20") == "s3://models-bucket/churn/exp-2026-11/scoring/2026-11-20/input/"
    assert spec.output_uri("2026-11-20") == "s3://models-bucket/churn/exp-2026-11/scoring/2026-11-20/output/"
    assert spec.region == "sa-east-1"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"instance_type": "ml.z9.huge"}, "instance_type 'ml.z9.huge': unknown"),
        (
            {"transform.max_payload_mb": 101, "transform.max_concurrent_transforms": None},
            "must be an integer in 0..100",
        ),
        ({"transform.max_concurrent_transforms": 20}, "20 x 6 = 120 MB, over SageMaker's 100 MB limit"),
        ({"project_id": "p" * 64}, "names the model package group: 1-63"),
        ({"project_id": "churn_model"}, "names the model package group"),
        ({"role_arn": ""}, "role_arn '': expected an IAM role ARN"),
        ({"instance_count": 0}, "instance_count = 0: must be an integer in 1..100"),
        ({"threshold": 1.5}, "threshold 1.5: must be within [0, 1]"),
        ({"security_group_ids": []}, "subnets and security_group_ids go together"),
        ({"colour": "blue"}, "unknown setting(s): colour"),
        ({"transform.speed": 1}, "unknown setting(s): transform.speed"),
        ({"transform.content_type": "text/xml"}, "transform.content_type 'text/xml': one of text/csv, "),
        ({"transform.accept": "application/x-parquet"}, "transform.accept 'application/x-parquet': one of text/csv"),
        (
            {"transform.content_type": "application/x-parquet", "transform.join_source": "Input"},
            "transform.join_source with transform.content_type 'application/x-parquet': SageMaker associates "
            "inferences with input records in CSV and JSON input only",
        ),
    ],
)
def test_invalid_specs_are_refused_naming_the_key(spec_file: Path, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file, overrides)

    assert str(caught.value).startswith(f"spec {spec_file}: ") and message in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param('bucket = "models-bucket"\n', "", "missing key 'bucket'", id="missing_key"),
        pytest.param('project_id = "churn"\nexperiment_id = "exp-2026-11"\n', "",
                     "missing keys 'project_id', 'experiment_id'", id="missing_keys"),
        pytest.param('instance_type = "ml.c5.xlarge"', 'instance_count = "2"',
                     "instance_count = '2': expected an integer", id="string_for_integer"),
        pytest.param("threshold = 0.5", 'threshold = "half"', "threshold = 'half': expected a number", id="number"),
        pytest.param("threshold = 0.5", 'auto_approve = "yes"', "auto_approve = 'yes': expected true or false",
                     id="boolean"),
        pytest.param('subnets = ["subnet-1"]', 'subnets = "subnet-1"',
                     "subnets = 'subnet-1': expected a list of strings", id="list"),
        pytest.param('team = "risk"', "team = 1", "tags = {'team': 1}: expected a table of string values", id="tags"),
        pytest.param("max_payload_mb = 6", 'max_payload_mb = "6"',
                     "transform.max_payload_mb = '6': expected an integer", id="nested"),
        pytest.param("[transform]\nmax_concurrent_transforms = 4\nmax_payload_mb = 6\n", 'transform = "fast"\n',
                     "transform = 'fast': expected a table of settings", id="table"),
    ],
)  # fmt: skip
def test_a_missing_or_mistyped_key_is_named_with_the_file(spec_file: Path, old: str, new: str, message: str) -> None:
    assert old in SPEC_TOML
    spec_file.write_text(SPEC_TOML.replace(old, new))

    with pytest.raises(SpecError) as caught:
        load_spec(spec_file)

    assert str(caught.value) == f"spec {spec_file}: {message}"


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("[1, 2]", {}, "expected a JSON object of settings"),
        ('{"bucket": ', {}, "not valid JSON (Expecting value: line 1 column 12 (char 11))"),
        (None, {}, "cannot read it (No such file or directory)"),
        ("{}", {"region.name": "x"}, "override 'region.name': 'region' is not a table of settings"),
    ],
)
def test_an_unusable_spec_file_or_override_is_named(
    tmp_path: Path, text: str | None, overrides: dict[str, Any], message: str
) -> None:
    path = tmp_path / "spec.json"
    if text is not None:
        path.write_text(text)

    with pytest.raises(SpecError) as caught:
        load_spec(path, {"region": "sa-east-1", **overrides})

    assert str(caught.value) == f"spec {path}: {message}"


def test_without_a_file_the_overrides_must_hold_every_required_key() -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(None, {"project_id": "churn", "experiment_id": "e"})

    assert str(caught.value) == "spec (no file, overrides only): missing keys 'bucket', 'role_arn', 'image_uri'"


def test_the_dags_default_spec_ships_in_the_package() -> None:
    assert DagSettings.from_env({}).spec_path == DEFAULT_SPEC
    assert DEFAULT_SPEC.parent == Path(leafline.spec.__file__).parent  # package data, not a checkout path
    assert (ROOT / "dags" / "leafline-spec.toml").resolve() == DEFAULT_SPEC.resolve()  # what the README names
    assert load_spec(DEFAULT_SPEC).project_id == "leafline-demo"


def test_a_bad_run_date_is_refused(spec_file: Path) -> None:
    with pytest.raises(SpecError, match="run date '20261120': expected YYYY-MM-DD"):
        load_spec(spec_file).input_uri("20261120")


def test_names_are_deterministic_short_and_distinct() -> None:
    long_run = "manual__2026-11-20T03:00:00.123456+00:00" * 3

    first, again = safe_name("lf", "churn", long_run), safe_name("lf", "churn", long_run)
    other = safe_name("lf", "churn", long_run + "x")

    assert first == again
    assert len(first) <= 63 and len(other) <= 63
    assert first != other
    assert set(first) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
    assert (
        safe_name("lf", "churn", "scheduled__2026-11-20T03:00:00+00:00")
        == "lf-churn-scheduled-2026-11-20T03-00-00-00-00"
    )


def test_run_names_follow_the_run_id(spec_file: Path) -> None:
    spec = load_spec(spec_file)

    assert run_names(spec, "scheduled__2026-11-20") == run_names(spec, "scheduled__2026-11-20")
    assert run_names(spec, "scheduled__2026-11-20") != run_names(spec, "manual__2026-11-20")


def sagemaker_client() -> Any:
    return boto3.client("sagemaker", region_name="sa-east-1")


def test_every_request_is_valid_for_botocore(spec_file: Path) -> None:
    spec = load_spec(spec_file)
    names = run_names(spec, "scheduled__2026-11-20")
    arn = "arn:aws:sagemaker:sa-east-1:123456789012:model-package/churn/3"
    metadata = {aws_requests.ARTIFACT_HASH_KEY: "ab" * 32, "lightgbm": "4.6.0"}
    calls = [
        ("create_model_package_group", aws_requests.create_model_package_group(spec),
         {"ModelPackageGroupArn": "arn:aws:sagemaker:sa-east-1:123456789012:model-package-group/churn"}),
        ("create_model_package", aws_requests.create_model_package(spec, spec.model_data_url, metadata),
         {"ModelPackageArn": arn}),
        ("create_model", aws_requests.create_model(spec, names["model"], arn),
         {"ModelArn": "arn:aws:sagemaker:sa-east-1:123456789012:model/x"}),
        ("create_transform_job", aws_requests.create_transform_job(spec, names["transform_job"], names["model"],
                                                                   "2026-11-20"),
         {"TransformJobArn": "arn:aws:sagemaker:sa-east-1:123456789012:transform-job/x"}),
    ]  # fmt: skip
    client = sagemaker_client()
    with Stubber(client) as stubber:
        for operation, request, response in calls:
            stubber.add_response(operation, response, expected_params=request)
            getattr(client, operation)(**request)  # botocore validates the request against the service model
        stubber.assert_no_pending_responses()


def test_the_transform_request_carries_the_spec(spec_file: Path) -> None:
    spec = load_spec(spec_file)

    request = aws_requests.create_transform_job(spec, "lf-churn-run", "lf-churn-model", "2026-11-20")

    assert request["MaxConcurrentTransforms"] == 4 and request["MaxPayloadInMB"] == 6
    assert request["Environment"]["PREDICTION_THRESHOLD"] == "0.5"
    assert request["TransformOutput"]["KmsKeyId"] == "alias/scores"
    assert {"Key": "team", "Value": "risk"} in request["Tags"]
    parsed = parse_request(request)  # the emulator takes the very request the orchestrators send
    assert (parsed.max_concurrent_transforms, parsed.max_payload_mb, parsed.instance_type) == (4, 6, "ml.c5.xlarge")


@pytest.mark.parametrize(
    ("content_type", "split"),
    [("text/csv", "Line"), ("application/jsonlines", "Line"), ("application/x-parquet", "None"),
     ("application/vnd.apache.arrow.stream", "None")],
)  # fmt: skip
def test_a_columnar_content_type_sends_each_object_whole(spec_file: Path, content_type: str, split: str) -> None:
    spec = load_spec(spec_file, {"transform.content_type": content_type})

    request = aws_requests.create_transform_job(spec, "j", "m", "2026-11-20")

    assert request["TransformInput"]["ContentType"] == content_type
    assert request["TransformInput"]["SplitType"] == split
    assert parse_request(request).split_lines is (split == "Line")
    client = sagemaker_client()
    with Stubber(client) as stubber:
        stubber.add_response("create_transform_job", {"TransformJobArn": "arn:aws:sagemaker:sa-east-1:1:x/j"}, request)
        client.create_transform_job(**request)  # valid for botocore's service model


def test_unset_transform_settings_are_left_to_the_container(spec_file: Path) -> None:
    spec = load_spec(spec_file, {"transform.max_concurrent_transforms": None, "transform.max_payload_mb": None})

    request = aws_requests.create_transform_job(spec, "j", "m", "2026-11-20", TransformSettings())

    assert "MaxConcurrentTransforms" not in request and "MaxPayloadInMB" not in request


def test_models_come_from_a_registered_version_with_network_isolation(spec_file: Path) -> None:
    spec = load_spec(spec_file)
    arn = "arn:aws:sagemaker:sa-east-1:123456789012:model-package/churn/3"

    request = aws_requests.create_model(spec, "m", arn)
    version = aws_requests.create_model_package(spec, spec.model_data_url, {aws_requests.ARTIFACT_HASH_KEY: "cd" * 32})

    assert request["Containers"] == [{"ModelPackageName": arn}]  # the approval gate applies
    assert request["EnableNetworkIsolation"] is True
    assert request["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    assert version["ModelApprovalStatus"] == "PendingManualApproval"
    assert version["CustomerMetadataProperties"][aws_requests.ARTIFACT_HASH_KEY] == "cd" * 32
