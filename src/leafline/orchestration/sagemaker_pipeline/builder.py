"""leafline's nightly scoring as a SageMaker Pipeline (SageMaker Python SDK v3).

RegisterModel -> CreateModel -> BatchTransform -> ValidateOutput -> CheckValidation (-> ValidationFailed).
Every request comes from `leafline.orchestration.sagemaker_pipeline.plan`, i.e. from the builders the
Airflow DAG sends; this module only turns the plan's "{Parameters.X}" / "{Steps.Y.Z}" references into the SDK's pipeline
variables and the requests into steps.

- The two model steps are `ModelRequestStep`s holding the builders' requests as they are: v3's
  ModelStep takes its arguments only from ModelBuilder, which cannot create a model from a registered
  package (the approval gate) and registers with leftover script-mode environment variables.
- The transform goes through the SDK's Transformer; InstanceCount stays a plain number because v3
  rejects a ParameterInteger there (a pydantic error): re-upsert to change it.
- The validation step runs leafline's validator in leafline's image (`python3 -m
  leafline.validation.step`) and writes the report the condition step reads.

Importing the SDK takes seconds: only `leafline pipeline ...` loads this module, never the DAG. Set
AWS_DEFAULT_REGION before importing it (the SDK creates a client at import time);
leafline.cli.pipeline.load_pipeline_module does.
"""

from __future__ import annotations

from typing import Any

import boto3
from sagemaker.core.network import NetworkConfig
from sagemaker.core.processing import Processor
from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output
from sagemaker.core.transformer import Transformer
from sagemaker.core.workflow.conditions import ConditionEquals
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import Properties, PropertyFile
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.steps import ConfigurableRetryStep, ProcessingStep, StepTypeEnum, TransformStep

from leafline.orchestration.sagemaker_pipeline import plan as plan_names
from leafline.orchestration.sagemaker_pipeline.plan import PipelinePlan, split_references
from leafline.validation import step as validation_step

# The SDK's telemetry opt-out: without it every step builder starts a background call to AWS.
SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
_TRANSFORM_KEYS = {"ModelName", "BatchStrategy", "ModelClientConfig", "Environment", "TransformInput",
                   "TransformOutput", "TransformResources", "Tags", "MaxConcurrentTransforms", "MaxPayloadInMB",
                   "DataProcessing"}  # fmt: skip


class BucketPipelineSession(PipelineSession):  # type: ignore[misc]  # the SDK ships no type hints
    """A PipelineSession whose default bucket is the spec's: the SDK would otherwise list and create
    buckets (s3:ListBuckets, HeadBucket, CreateBucket) just to build a definition."""

    def default_bucket(self) -> str:
        return str(self._default_bucket_name_override)


class ModelRequestStep(ConfigurableRetryStep):  # type: ignore[misc]
    """A RegisterModel or Model (CreateModel) step whose arguments are exactly the given request."""

    def __init__(self, name: str, step_type: StepTypeEnum, request: dict[str, Any], depends_on: Any = None):
        super().__init__(name, step_type, None, None, depends_on, None)
        self._request = request
        shape = "DescribeModelPackageOutput" if step_type == StepTypeEnum.REGISTER_MODEL else "DescribeModelOutput"
        self._properties = Properties(step_name=name, step=self, shape_name=shape)

    @property
    def arguments(self) -> dict[str, Any]:
        return self._request

    @property
    def properties(self) -> Properties:
        return self._properties


def session(region: str, bucket: str, boto_session: Any = None) -> PipelineSession:
    return BucketPipelineSession(
        boto_session=boto_session or boto3.Session(region_name=region),
        sagemaker_config=SDK_CONFIG,
        default_bucket=bucket,
    )


def build_pipeline(plan: PipelinePlan, sagemaker_session: PipelineSession) -> Pipeline:
    spec = plan.spec
    parameters: dict[str, Any] = {
        p.name: ParameterString(p.name, default_value=p.default)
        if p.kind == "String"
        else ParameterInteger(p.name, default_value=p.default)
        for p in plan.parameters
    }
    steps: dict[str, Any] = {}

    def variables(value: Any) -> Any:
        """The plan's references as pipeline variables: a whole reference becomes the variable, a string
        holding some becomes a Join."""
        if isinstance(value, dict):
            return {key: variables(item) for key, item in value.items()}
        if isinstance(value, list):
            return [variables(item) for item in value]
        if not isinstance(value, str) or all(reference is None for _, reference in split_references(value)):
            return value
        parts = pieces(value)
        return parts[0] if len(parts) == 1 else Join(on="", values=parts)

    def pieces(text: str) -> list[Any]:
        return [text if reference is None else _variable(reference, parameters, steps)
                for text, reference in split_references(text)]  # fmt: skip

    register = ModelRequestStep(plan_names.REGISTER, StepTypeEnum.REGISTER_MODEL, variables(plan.register_model))
    steps[register.name] = register
    create = ModelRequestStep(plan_names.CREATE_MODEL, StepTypeEnum.CREATE_MODEL, variables(plan.create_model))
    steps[create.name] = create
    transform = TransformStep(name=plan_names.TRANSFORM, step_args=_transform_args(variables(plan.transform),
                                                                                  sagemaker_session))  # fmt: skip
    steps[transform.name] = transform

    validation = variables(plan.validation)
    report = PropertyFile(name=plan_names.REPORT_PROPERTY_FILE, output_name="validation",
                          path=validation_step.REPORT_FILE)  # fmt: skip
    processor = Processor(
        role=spec.role_arn,
        image_uri=validation["ImageUri"],
        instance_count=1,
        instance_type=validation["InstanceType"],
        entrypoint=["python3", "-m", "leafline.validation.step"],
        volume_kms_key=spec.volume_kms_key_id,
        output_kms_key=spec.output_kms_key_id,
        tags=plan.transform["Tags"],
        network_config=NetworkConfig(
            enable_network_isolation=spec.enable_network_isolation,
            subnets=list(spec.subnets) or None,
            security_group_ids=list(spec.security_group_ids) or None,
        ),
        sagemaker_session=sagemaker_session,
    )
    root = validation_step.ROOT
    validate = ProcessingStep(
        name=plan_names.VALIDATE,
        property_files=[report],
        step_args=processor.run(
            inputs=[
                ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
                    s3_uri=uri, local_path=str(root / validation_step.INPUTS[name]), s3_data_type="S3Prefix",
                    s3_input_mode="File"))
                for name, uri in validation["Inputs"].items()
            ],
            outputs=[
                ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
                    s3_uri=validation[key], local_path=str(root / local), s3_upload_mode="EndOfJob"))
                for name, key, local in (("validation", "ReportUri", validation_step.REPORT_DIR),
                                         ("record", "RecordUri", validation_step.RECORD_DIR),
                                         ("run", "RunUri", validation_step.RUN_DIR))
            ],
            arguments=validation["Arguments"],
        ),
    )  # fmt: skip
    passed = ConditionEquals(
        left=JsonGet(step_name=validate.name, property_file=report, json_path="passed"), right=True
    )
    report_uri = plan.validation["ReportUri"] + validation_step.REPORT_FILE
    message = ["the scores of ", parameters["RunDate"], " failed validation; report: ", *pieces(report_uri)]
    failed = FailStep(
        name=plan_names.FAIL, error_message=Join(on="", values=message)
    )  # one flat Join: they do not nest
    check = ConditionStep(name=plan_names.CHECK, conditions=[passed], if_steps=[], else_steps=[failed])
    return Pipeline(
        name=plan.name,
        parameters=list(parameters.values()),
        steps=[register, create, transform, validate, check],
        sagemaker_session=sagemaker_session,
    )


def _variable(reference: str, parameters: dict[str, Any], steps: dict[str, Any]) -> Any:
    kind, name, *attributes = reference.split(".")
    if kind == "Parameters":
        return parameters[name]
    if kind == "Execution":  # PipelineExecutionId, PipelineExecutionArn
        return getattr(ExecutionVariables, {"PipelineExecutionId": "PIPELINE_EXECUTION_ID",
                                            "PipelineExecutionArn": "PIPELINE_EXECUTION_ARN"}[name])  # fmt: skip
    value = steps[name].properties
    for attribute in attributes:
        value = getattr(value, attribute)
    return value


def _transform_args(request: dict[str, Any], sagemaker_session: PipelineSession) -> Any:
    """The SDK's Transformer fed from the request; any field it would not carry is an error, not a drop."""
    unmapped = sorted(set(request) - _TRANSFORM_KEYS)
    if unmapped:
        raise ValueError(f"the pipeline does not carry these CreateTransformJob fields yet: {', '.join(unmapped)}")
    source, output = request["TransformInput"], request["TransformOutput"]
    resources, processing = request["TransformResources"], request.get("DataProcessing", {})
    transformer = Transformer(
        model_name=request["ModelName"],
        instance_count=resources["InstanceCount"],
        instance_type=resources["InstanceType"],
        strategy=request["BatchStrategy"],
        assemble_with=output.get("AssembleWith"),
        output_path=output["S3OutputPath"],
        output_kms_key=output.get("KmsKeyId"),
        accept=output.get("Accept"),
        max_concurrent_transforms=request.get("MaxConcurrentTransforms"),
        max_payload=request.get("MaxPayloadInMB"),
        tags=request.get("Tags"),
        env=request.get("Environment"),
        volume_kms_key=resources.get("VolumeKmsKeyId"),
        sagemaker_session=sagemaker_session,
    )
    return transformer.transform(
        data=source["DataSource"]["S3DataSource"]["S3Uri"],
        data_type=source["DataSource"]["S3DataSource"]["S3DataType"],
        content_type=source.get("ContentType"),
        compression_type=source.get("CompressionType"),
        split_type=source.get("SplitType"),
        input_filter=processing.get("InputFilter"),
        output_filter=processing.get("OutputFilter"),
        join_source=processing.get("JoinSource"),
        model_client_config=request.get("ModelClientConfig"),
    )
