"""Every call a client may send gets an answer in AWS's shape: served, or refused naming the operation
local AWS does not emulate; and the calls clients use on leafline's resources (tags, UpdateEndpoint, the
registry's deletes) behave as on SageMaker."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError, WaiterError

from leafline import samples
from leafline.local_aws.coverage import sagemaker_refusal
from tests.compat.conftest import Stack, transform_job
from tests.local_aws.helpers import BUCKET, ROLE, create_endpoint

FAST = {"Delay": 1, "MaxAttempts": 60}
NO_RETRY = {"retries": {"total_max_attempts": 1}}


def _unchecked(stack: Stack, service: str) -> Any:
    """A client that sends what it is given (no client-side validation) and never retries."""
    return stack.client(service, parameter_validation=False, **NO_RETRY)


def _refusal(call: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def test_every_sagemaker_operation_nobody_here_serves_is_refused_naming_it(stack: Stack) -> None:
    sagemaker = _unchecked(stack, "sagemaker")
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert stack.aws.app is not None
    lacking = [op for op in model.operation_names if sagemaker_refusal(op, stack.aws.app._actions) is not None]
    assert "UpdateEndpoint" not in lacking and "DeleteModelPackage" not in lacking
    assert len(lacking) > 200  # moto serves about a quarter of SageMaker's 400-odd operations (308 lacking)
    for operation in lacking:
        error = _refusal(lambda operation=operation: sagemaker._make_api_call(operation, {}))
        assert error.response["Error"]["Code"] == "UnknownOperationException", operation
        assert error.response["Error"]["Message"].startswith(f"local AWS does not emulate {operation}:")
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_an_s3_sub_resource_moto_does_not_read_is_not_implemented_and_changes_nothing(stack: Stack) -> None:
    s3 = _unchecked(stack, "s3")
    s3.put_object(Bucket=BUCKET, Key="compat/rename/source.csv", Body=b"1,2\n")
    s3.put_object(Bucket=BUCKET, Key="compat/rename/target.csv", Body=b"kept\n")
    calls = {
        "RenameObject": lambda: s3.rename_object(Bucket=BUCKET, Key="compat/rename/target.csv",
                                                 RenameSource=f"{BUCKET}/compat/rename/source.csv"),
        "GetBucketAnalyticsConfiguration": lambda: s3.get_bucket_analytics_configuration(Bucket=BUCKET, Id="x"),
        "ListBucketIntelligentTieringConfigurations": lambda: s3.list_bucket_intelligent_tiering_configurations(
            Bucket=BUCKET),
        "GetObjectTorrent": lambda: s3.get_object_torrent(Bucket=BUCKET, Key="compat/rename/source.csv"),
    }  # fmt: skip
    for operation, call in calls.items():
        error = _refusal(call)
        assert error.response["Error"]["Code"] == "NotImplemented", operation
        assert error.response["Error"]["Message"] == f"local AWS does not emulate {operation}"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 501
        assert error.response["ResponseMetadata"]["RetryAttempts"] == 0
    # moto would have answered ?renameObject as a PUT of an empty object over the target
    assert s3.get_object(Bucket=BUCKET, Key="compat/rename/target.csv")["Body"].read() == b"kept\n"
    # a sub-resource moto reads still reaches it
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "team", "Value": "scoring"}]})
    assert s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"] == [{"Key": "team", "Value": "scoring"}]


def test_runtime_calls_other_than_invoke_endpoint_are_refused_naming_them(stack: Stack) -> None:
    runtime = _unchecked(stack, "sagemaker-runtime")
    error = _refusal(lambda: runtime.invoke_endpoint_async(EndpointName="scorer", InputLocation="s3://b/k"))
    assert error.response["Error"]["Code"] == "UnknownOperationException"
    assert "local AWS does not emulate InvokeEndpointAsync" in error.response["Error"]["Message"]
    error = _refusal(lambda: runtime.invoke_endpoint_with_response_stream(EndpointName="scorer", Body=b"1"))
    assert "local AWS does not emulate InvokeEndpointWithResponseStream" in error.response["Error"]["Message"]


def _package(sagemaker: Any, group: str) -> str:
    container = {"Image": "123456789012.dkr.ecr.sa-east-1.amazonaws.com/leafline:latest",
                 "ModelDataUrl": f"s3://{BUCKET}/leafline-demo/exp-1/model.tar.gz"}  # fmt: skip
    spec = {"Containers": [container], "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"]}  # fmt: skip
    arn: str = sagemaker.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec)[
        "ModelPackageArn"]  # fmt: skip
    return arn


def test_tags_of_every_resource_leafline_creates_are_read_back_added_and_deleted(stack: Stack) -> None:
    sagemaker = stack.client("sagemaker", **NO_RETRY)
    given = [{"Key": "team", "Value": "scoring"}]
    variant = {"VariantName": "main", "ModelName": "tagged-model", "InitialInstanceCount": 1,
               "InstanceType": "ml.m5.large"}  # fmt: skip
    arns = {
        "model": sagemaker.create_model(ModelName="tagged-model", ExecutionRoleArn=ROLE, Tags=given,
                                        Containers=[{"ModelPackageName": stack.package_arn}])["ModelArn"],
        "endpoint-config": sagemaker.create_endpoint_config(EndpointConfigName="tagged-config", Tags=given,
                                                            ProductionVariants=[variant])["EndpointConfigArn"],
        "model-package-group": sagemaker.create_model_package_group(ModelPackageGroupName="tagged-group",
                                                                    Tags=given)["ModelPackageGroupArn"],
        "transform-job": sagemaker.create_transform_job(**transform_job("tagged-job", Tags=given))["TransformJobArn"],
    }  # fmt: skip
    arns["model-package"] = _package(sagemaker, "tagged-group")
    stack.wait_for_jobs()
    for kind, arn in arns.items():
        expected = [] if kind == "model-package" else given
        assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == expected, kind
        sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}, {"Key": "team", "Value": "ml"}])
        tags = sorted(sagemaker.list_tags(ResourceArn=arn)["Tags"], key=lambda tag: tag["Key"])
        assert tags == [{"Key": "stage", "Value": "dev"}, {"Key": "team", "Value": "ml"}], kind
        sagemaker.delete_tags(ResourceArn=arn, TagKeys=["team"])
        assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "dev"}], kind
    sagemaker.delete_model(ModelName="tagged-model")
    error = _refusal(lambda: sagemaker.list_tags(ResourceArn=arns["model"]))
    assert error.response["Error"]["Code"] == "ValidationException"


def test_a_resource_name_differing_only_in_case_is_the_same_resource(stack: Stack) -> None:
    sagemaker = stack.client("sagemaker", **NO_RETRY)
    created = sagemaker.create_model_package_group(ModelPackageGroupName="Case-Group")["ModelPackageGroupArn"]
    assert created.endswith(":model-package-group/case-group")
    error = _refusal(lambda: sagemaker.create_model_package_group(ModelPackageGroupName="CASE-group"))
    assert error.response["Error"]["Code"] == "ValidationException"
    assert sagemaker.list_tags(ResourceArn=created)["Tags"] == []


def test_update_endpoint_moves_a_serving_endpoint_to_a_new_config(stack: Stack) -> None:
    sagemaker, runtime = stack.client("sagemaker", **NO_RETRY), stack.client("sagemaker-runtime")
    create_endpoint(sagemaker, "updated", stack.model_name)
    waiter = sagemaker.get_waiter("endpoint_in_service")
    try:
        waiter.wait(EndpointName="updated", WaiterConfig=FAST)
        variant = {"VariantName": "second", "ModelName": stack.model_name, "InitialInstanceCount": 1,
                   "InstanceType": "ml.m5.large"}  # fmt: skip
        sagemaker.create_endpoint_config(EndpointConfigName="updated-2", ProductionVariants=[variant])
        answer = sagemaker.update_endpoint(EndpointName="updated", EndpointConfigName="updated-2")
        assert answer["EndpointArn"].endswith(":endpoint/updated")
        waiter.wait(EndpointName="updated", WaiterConfig=FAST)
        described = sagemaker.describe_endpoint(EndpointName="updated")
        assert described["EndpointConfigName"] == "updated-2"
        assert [v["VariantName"] for v in described["ProductionVariants"]] == ["second"]
        scored = runtime.invoke_endpoint(EndpointName="updated", ContentType="text/csv",
                                         Body=samples.csv_batch(2, 0, 6))  # fmt: skip
        assert scored["ResponseMetadata"]["HTTPHeaders"]["x-amzn-invoked-production-variant"] == "second"
        error = _refusal(lambda: sagemaker.update_endpoint(EndpointName="updated", EndpointConfigName="never-made"))
        assert error.response["Error"]["Code"] == "ValidationException"
    finally:
        sagemaker.delete_endpoint(EndpointName="updated")


def test_deleted_versions_keep_their_numbers_and_a_group_is_deleted_once_empty(stack: Stack) -> None:
    sagemaker = stack.client("sagemaker", **NO_RETRY)
    sagemaker.create_model_package_group(ModelPackageGroupName="numbered")
    first, second = _package(sagemaker, "numbered"), _package(sagemaker, "numbered")
    sagemaker.delete_model_package(ModelPackageName=first)
    third = _package(sagemaker, "numbered")
    assert (first[-2:], second[-2:], third[-2:]) == ("/1", "/2", "/3")  # AWS never reuses a version number
    listed = sagemaker.list_model_packages(ModelPackageGroupName="numbered")["ModelPackageSummaryList"]
    assert sorted(p["ModelPackageVersion"] for p in listed) == [2, 3]
    error = _refusal(lambda: sagemaker.delete_model_package_group(ModelPackageGroupName="numbered"))
    assert error.response["Error"]["Code"] == "ValidationException"
    for arn in (second, third):
        sagemaker.delete_model_package(ModelPackageName=arn)
    sagemaker.delete_model_package_group(ModelPackageGroupName="numbered")
    error = _refusal(lambda: sagemaker.describe_model_package_group(ModelPackageGroupName="numbered"))
    assert error.response["Error"]["Code"] == "ValidationException"


def test_list_models_filters_sorts_and_answers_summaries(stack: Stack) -> None:
    sagemaker = stack.client("sagemaker")
    for name in ("sorted-b", "sorted-a"):
        sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                               Containers=[{"ModelPackageName": stack.package_arn}])  # fmt: skip
    models = sagemaker.list_models(NameContains="SORTED-", SortBy="Name", SortOrder="Ascending")["Models"]
    assert [m["ModelName"] for m in models] == ["sorted-a", "sorted-b"]
    assert set(models[0]) == {"ModelName", "ModelArn", "CreationTime"}


def _model_without_data(sagemaker: Any, name: str) -> None:
    """A model SageMaker accepts but no endpoint can serve (its container names no model data)."""
    image = "123456789012.dkr.ecr.sa-east-1.amazonaws.com/leafline:latest"
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image})


def test_an_update_that_cannot_start_leaves_the_endpoint_serving_the_old_config(stack: Stack) -> None:
    sagemaker, runtime = stack.client("sagemaker", **NO_RETRY), stack.client("sagemaker-runtime")
    create_endpoint(sagemaker, "rolled-back", stack.model_name)
    waiter = sagemaker.get_waiter("endpoint_in_service")
    try:
        waiter.wait(EndpointName="rolled-back", WaiterConfig=FAST)
        _model_without_data(sagemaker, "no-data")
        variant = {"VariantName": "broken", "ModelName": "no-data", "InitialInstanceCount": 1,
                   "InstanceType": "ml.m5.large"}  # fmt: skip
        sagemaker.create_endpoint_config(EndpointConfigName="rolled-back-2", ProductionVariants=[variant])
        sagemaker.update_endpoint(EndpointName="rolled-back", EndpointConfigName="rolled-back-2")
        waiter.wait(EndpointName="rolled-back", WaiterConfig=FAST)
        described = sagemaker.describe_endpoint(EndpointName="rolled-back")
        assert described["EndpointConfigName"] == "rolled-back"
        assert "no-data" in described["FailureReason"]
        scored = runtime.invoke_endpoint(EndpointName="rolled-back", ContentType="text/csv",
                                         Body=samples.csv_batch(2, 0, 6))  # fmt: skip
        assert len(scored["Body"].read().decode().splitlines()) == 2
    finally:
        sagemaker.delete_endpoint(EndpointName="rolled-back")


def test_list_endpoints_shows_and_filters_on_the_status_describe_shows(stack: Stack) -> None:
    sagemaker = stack.client("sagemaker", **NO_RETRY)
    _model_without_data(sagemaker, "never-serves")
    create_endpoint(sagemaker, "listed-failed", "never-serves")
    try:
        waiter = sagemaker.get_waiter("endpoint_in_service")
        with pytest.raises(WaiterError):
            waiter.wait(EndpointName="listed-failed", WaiterConfig=FAST)
        failed = sagemaker.list_endpoints(StatusEquals="Failed")["Endpoints"]
        assert [e["EndpointName"] for e in failed] == ["listed-failed"]
        listed = sagemaker.list_endpoints(NameContains="listed-")["Endpoints"]
        assert [e["EndpointStatus"] for e in listed] == ["Failed"]
    finally:
        sagemaker.delete_endpoint(EndpointName="listed-failed")


def test_a_call_moto_fails_on_is_an_aws_error_not_an_html_page(stack: Stack) -> None:
    sagemaker = stack.client("sagemaker", **NO_RETRY)
    missing = f"arn:aws:sagemaker:{stack.aws.region}:123456789012:pipeline/never-made"
    error = _refusal(lambda: sagemaker.list_tags(ResourceArn=missing))
    assert error.response["Error"]["Code"] == "UnknownOperationException"
    assert error.response["Error"]["Message"].startswith("local AWS does not emulate ListTags for this request")
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
