"""The SageMaker Python SDK v3 against local AWS, as its documentation has a user write it: the Transformer
(sagemaker.core.transformer) and the sagemaker-core resource classes TransformJob, Model, EndpointConfig and
Endpoint, each driving a real transform job or a real endpoint serving the demo model."""

from __future__ import annotations

import warnings
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from leafline import samples
from tests.compat.conftest import INPUT_PREFIX, Stack
from tests.local_aws.helpers import BUCKET, ROLE

POLL_S = 1  # the SDK polls every 5 s by default; a local job ends in about 3


@pytest.fixture(scope="module", autouse=True)
def _sdk() -> None:
    """The SDK, imported once: its generated shapes hold docstrings with invalid escapes, a SyntaxWarning
    (an error under this suite's filterwarnings) whenever the module is compiled afresh."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sagemaker.core.resources
        import sagemaker.core.transformer  # noqa: F401


def _session() -> Any:
    """A boto3 session of its own: sagemaker-core caches one client per session, and the process-wide
    default one would outlive this module's local AWS."""
    return boto3.Session()


def _outputs(stack: Stack, prefix: str) -> dict[str, list[str]]:
    s3 = stack.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"].rsplit("/", 1)[1]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read().decode().split()
            for o in listed}  # fmt: skip


def _transformer(output: str) -> Any:
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.transformer import Transformer

    return Transformer(
        model_name="scorer", instance_count=1, instance_type="ml.m5.large", strategy="MultiRecord",
        assemble_with="Line", output_path=f"s3://{BUCKET}/{output}", sagemaker_session=Session(_session()),
    )  # fmt: skip


def test_transformer_runs_a_real_job_and_waits_for_it(stack: Stack) -> None:
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.transformer import Transformer

    transformer = _transformer("compat/output/v3-transformer/")
    transformer.transform(
        f"s3://{BUCKET}/{INPUT_PREFIX}",
        content_type="text/csv",
        split_type="Line",
        job_name="v3-transformer",
        wait=False,
    )
    stack.wait_for_jobs()  # the SDK's wait sleeps 5 s between polls: let its first poll see the end
    transformer.wait()  # as transform() waits by default: polls the job and follows its logs

    assert transformer.latest_transform_job.transform_job_status == "Completed"
    outputs = _outputs(stack, "compat/output/v3-transformer/")
    assert sorted(outputs) == ["part-0.csv.out", "part-1.csv.out"]
    assert [len(lines) for lines in outputs.values()] == [50, 50]
    assert all(0.0 <= float(score) <= 1.0 for lines in outputs.values() for score in lines)
    attached = Transformer.attach("v3-transformer", sagemaker_session=Session(_session()))
    assert (attached.model_name, attached.strategy, attached.output_path, attached.instance_type) == (
        "scorer", "MultiRecord", f"s3://{BUCKET}/compat/output/v3-transformer/", "ml.m5.large")  # fmt: skip


def test_transformer_names_its_job_after_the_model(stack: Stack) -> None:
    transformer = _transformer("compat/output/v3-named/")
    transformer.transform(f"s3://{BUCKET}/{INPUT_PREFIX}", content_type="text/csv", split_type="Line", wait=False)
    stack.wait_for_jobs()
    transformer.wait(logs=False)
    assert transformer.latest_transform_job.transform_job_name.startswith("scorer-")
    assert transformer.latest_transform_job.transform_job_status == "Completed"


def _transform_job(name: str, input_prefix: str = INPUT_PREFIX) -> Any:
    from sagemaker.core.resources import TransformJob
    from sagemaker.core.shapes import (
        TransformDataSource,
        TransformInput,
        TransformOutput,
        TransformResources,
        TransformS3DataSource,
    )

    session = _session()
    source = TransformS3DataSource(s3_data_type="S3Prefix", s3_uri=f"s3://{BUCKET}/{input_prefix}")
    return TransformJob.create(
        transform_job_name=name, model_name="scorer",
        transform_input=TransformInput(data_source=TransformDataSource(s3_data_source=source),
                                       content_type="text/csv", split_type="Line"),
        transform_output=TransformOutput(s3_output_path=f"s3://{BUCKET}/compat/output/{name}/", assemble_with="Line"),
        transform_resources=TransformResources(instance_type="ml.m5.large", instance_count=1),
        session=session, region=session.region_name,
    )  # fmt: skip


def test_transform_job_resource_creates_waits_gets_and_lists(stack: Stack) -> None:
    from sagemaker.core.resources import TransformJob

    job = _transform_job("v3-job")
    assert job.transform_job_status == "InProgress"
    job.wait(poll=POLL_S, timeout=60)

    assert job.transform_job_status == "Completed"
    assert job.transform_start_time < job.transform_end_time
    session = _session()
    assert TransformJob.get("v3-job", session=session, region=session.region_name).transform_job_status == "Completed"
    listed = TransformJob.get_all(name_contains="v3-job", session=session, region=session.region_name)
    assert [j.transform_job_name for j in listed] == ["v3-job"]
    assert sorted(_outputs(stack, "compat/output/v3-job/")) == ["part-0.csv.out", "part-1.csv.out"]


def test_transform_job_resource_wait_raises_the_failure_reason(stack: Stack) -> None:
    from sagemaker.core.utils.exceptions import FailedStatusError

    job = _transform_job("v3-failing", input_prefix="compat/none/")
    with pytest.raises(FailedStatusError, match="no objects found under"):
        job.wait(poll=POLL_S, timeout=60)
    assert job.transform_job_status == "Failed"


def test_model_resource_creates_gets_and_deletes(stack: Stack) -> None:
    from sagemaker.core.resources import Model
    from sagemaker.core.shapes import ContainerDefinition

    session = _session()
    where = {"session": session, "region": session.region_name}
    model = Model.create(model_name="v3-model", execution_role_arn=ROLE,
                         containers=[ContainerDefinition(model_package_name=stack.package_arn)], **where)  # fmt: skip
    assert model.model_arn.endswith(":model/v3-model")
    assert Model.get("v3-model", **where).containers[0].model_package_name == stack.package_arn
    model.delete()
    with pytest.raises(ClientError, match="Could not find model"):
        Model.get("v3-model", **where)


def test_endpoint_config_resource_creates_gets_and_deletes(stack: Stack) -> None:
    from sagemaker.core.resources import EndpointConfig
    from sagemaker.core.shapes import ProductionVariant

    session = _session()
    where = {"session": session, "region": session.region_name}
    variant = ProductionVariant(variant_name="main", model_name=stack.model_name, initial_instance_count=1,
                                instance_type="ml.m5.large")  # fmt: skip
    config = EndpointConfig.create(endpoint_config_name="v3-config", production_variants=[variant], **where)
    assert [v.model_name for v in EndpointConfig.get("v3-config", **where).production_variants] == ["scorer"]
    config.delete()
    with pytest.raises(ClientError):
        EndpointConfig.get("v3-config", **where)


def test_endpoint_resource_serves_refreshes_and_deletes(stack: Stack) -> None:
    from sagemaker.core.resources import Endpoint

    variant = {"VariantName": "main", "ModelName": stack.model_name, "InitialInstanceCount": 1,
               "InstanceType": "ml.m5.large"}  # fmt: skip
    stack.client("sagemaker").create_endpoint_config(EndpointConfigName="v3-endpoint", ProductionVariants=[variant])
    session = _session()
    where = {"session": session, "region": session.region_name}
    endpoint = Endpoint.create(endpoint_name="v3-endpoint", endpoint_config_name="v3-endpoint", **where)
    endpoint.wait_for_status("InService", poll=POLL_S, timeout=60)

    answer = endpoint.invoke(body=samples.csv_batch(3, 0, 6), content_type="text/csv", accept="text/csv")
    assert len(answer.body.read().decode().split()) == 3
    endpoint.refresh()
    assert endpoint.endpoint_status == "InService"
    endpoint.delete()
    endpoint.wait_for_delete(poll=POLL_S, timeout=60)
    with pytest.raises(ClientError):
        Endpoint.get("v3-endpoint", **where)
