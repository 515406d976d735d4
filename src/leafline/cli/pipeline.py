"""`leafline pipeline definition|upsert|start|schedule`: the SageMaker Pipeline of the job spec.

`definition` builds the Pipeline with leafline.orchestration.sagemaker_pipeline.builder without AWS: no credentials, no
network, no upload. `upsert` creates or updates it (after ensuring the model package group); `start`
starts an execution for a run date; `schedule` makes EventBridge Scheduler start one every night
(leafline.cli.schedule). AWS_ENDPOINT_URL may point them at a local AWS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from leafline.cli.model import add_spec_arguments, spec_from_args
from leafline.cli.schedule import add_schedule_parser, run_schedule
from leafline.errors import UsageError
from leafline.model.packaging import PackageInfo
from leafline.orchestration.sagemaker_pipeline.plan import PipelinePlan, pipeline_name, plan_pipeline
from leafline.orchestration.settings import dag_spec
from leafline.spec.jobspec import JobSpec, parse_overrides

DAG_SPEC_HELP = "the DAG's: $LEAFLINE_SPECS_DIR's only spec, else $LEAFLINE_SPEC, else the shipped one"
DEFAULT_PIPELINE_MODULE = "leafline.orchestration.sagemaker_pipeline.builder"


def add_parsers(commands: Any) -> None:
    pipeline = commands.add_parser(
        "pipeline",
        help="the job as a SageMaker Pipeline: print its definition offline, upsert it, start it, schedule it",
        description="The nightly scoring as a SageMaker Pipeline (leafline.orchestration.sagemaker_pipeline.builder): "
        "RegisterModel -> CreateModel -> BatchTransform -> ValidateOutput -> CheckValidation, every request "
        "rendered by the builders the Airflow DAG uses. Run inputs are pipeline parameters (RunDate, "
        "TransformInstanceType, MaxConcurrentTransforms, MaxPayloadInMB, Threshold, ModelApprovalStatus, "
        "ArtifactSha256).",
    )
    actions = pipeline.add_subparsers(dest="action", required=True, metavar="ACTION")
    definition = actions.add_parser(
        "definition",
        help="print the pipeline definition JSON (offline: no credentials, network or upload)",
        description="Print the definition JSON. Parameter defaults: MaxConcurrentTransforms/MaxPayloadInMB from "
        "the spec, else the package's tuned profile, else the container's rule for the instance type; "
        "ArtifactSha256 from the package (without --package every execution must give it).",
    )
    definition.add_argument(
        "--package", metavar="PATH_OR_URI", help="a model.tar.gz from `leafline package`: its hash and tuned profile"
    )
    definition.add_argument("--output", type=Path, default=None, help="write the JSON here instead of stdout")
    upsert = actions.add_parser(
        "upsert",
        help="create or update the pipeline in SageMaker from the spec and the experiment's package",
        description="Create or update the pipeline; the parameter defaults come from the experiment's "
        "model.tar.gz (the spec's, or --package). The model package group is created if missing.",
    )
    upsert.add_argument("--package", metavar="URI", default=None, help="the model.tar.gz (default: the spec's)")
    start = actions.add_parser(
        "start",
        help="start an execution for a run date",
        description="Start an execution of the upserted pipeline; prints its ARN and status.",
    )
    start.add_argument("--run-date", default=None, help="the input date, YYYY-MM-DD (default: today)")
    start.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="another pipeline parameter, e.g. MaxPayloadInMB=4 (repeatable)")  # fmt: skip
    schedule = add_schedule_parser(actions)
    add_spec_arguments(schedule)
    for parser in (definition, upsert, start):
        add_spec_arguments(parser, default_help=DAG_SPEC_HELP if parser is definition else None)
        parser.add_argument("--pipeline-file", type=Path, default=None,
                            help="a module file with build_pipeline and session (default: $LEAFLINE_PIPELINE_FILE, "
                            f"else leafline's {DEFAULT_PIPELINE_MODULE})")  # fmt: skip


def run_pipeline_command(args: argparse.Namespace) -> int:
    # An offline definition may default to the DAG's spec; what reaches AWS (upsert, start) names its own.
    spec = spec_from_args(args, dag_spec() if args.action == "definition" and args.spec is None else None)
    if args.action == "start":
        return _start(args, spec)
    if args.action == "schedule":
        return run_schedule(args, spec)
    if args.action == "definition":
        # The SDK builds a boto3 client at import; without credentials botocore would ask the EC2 metadata
        # service for some. A definition needs none, so it asks nobody.
        os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    package = _package(args.package or (spec.model_data_url if args.action == "upsert" else None), spec)
    plan = plan_pipeline(spec, package)
    module = load_pipeline_module(args.pipeline_file, spec.region)
    pipeline = module.build_pipeline(plan, module.session(spec.region, spec.bucket))
    if args.action == "definition":
        text = json.dumps(json.loads(pipeline.definition()), indent=2) + "\n"
        if args.output:
            args.output.write_text(text)
            print(f"wrote {args.output}")
        else:
            sys.stdout.write(text)
        return 0
    import boto3

    from leafline.model.registry import ensure_group

    ensure_group(boto3.client("sagemaker", region_name=spec.region), spec)
    response = pipeline.upsert(role_arn=spec.role_arn, description=f"leafline nightly scoring of {spec.project_id}"
                               f"/{spec.experiment_id}")  # fmt: skip
    print(f"upserted pipeline {plan.name}: {response['PipelineArn']}")
    _print_parameters(plan)
    return 0


def load_pipeline_module(path: Path | None, region: str) -> ModuleType:
    """The pipeline builder: a module file loaded by path (as Airflow loads dags/) when given or named by
    LEAFLINE_PIPELINE_FILE, else leafline's own. The SDK needs a region at import."""
    named = path or (Path(os.environ["LEAFLINE_PIPELINE_FILE"]) if os.environ.get("LEAFLINE_PIPELINE_FILE") else None)
    if named is not None and not named.is_file():
        raise UsageError(f"{named}: no pipeline module there (set --pipeline-file or LEAFLINE_PIPELINE_FILE)")
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    with warnings.catch_warnings():  # the SDK's own deprecation shims and docstring escapes, at import
        warnings.simplefilter("ignore")
        try:
            import sagemaker.mlops  # noqa: F401  (the `pipeline` extra)
        except ImportError:
            raise UsageError("the SageMaker Python SDK is not installed: install leafline[pipeline]") from None
        module = importlib.import_module(DEFAULT_PIPELINE_MODULE) if named is None else _module_from_file(named)
    # The SDK logs its config search and warns that a PipelineSession starts no job: noise for this CLI.
    for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "sagemaker"] + ["sagemaker"]:
        logging.getLogger(name).setLevel(logging.ERROR)  # the SDK sets levels on its own loggers
    warnings.filterwarnings("ignore", message="Running within a PipelineSession", category=UserWarning)
    return module


def _module_from_file(path: Path) -> ModuleType:
    module_spec = importlib.util.spec_from_file_location("leafline_pipeline_module", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def start_parameters(declared: list[dict[str, Any]], run_date: str, pairs: list[str]) -> list[dict[str, str]]:
    """PipelineParameters for StartPipelineExecution, checked against the parameters the pipeline declares."""
    given = {"RunDate": run_date, **parse_overrides(pairs)}
    known = {p["Name"]: p for p in declared}
    for name, value in given.items():
        if name not in known:
            raise UsageError(f"--param {name}: the pipeline has no such parameter ({', '.join(known)})")
        if known[name]["Type"] == "Integer" and (isinstance(value, bool) or not isinstance(value, int)):
            raise UsageError(f"--param {name}={value!r}: an integer")
    missing = [name for name, p in known.items() if "DefaultValue" not in p and name not in given]
    if missing:
        raise UsageError(f"parameter(s) without a default need a value: {', '.join(missing)}")
    return [{"Name": name, "Value": str(value)} for name, value in given.items()]


def _start(args: argparse.Namespace, spec: JobSpec) -> int:
    import boto3

    from leafline.spec.jobspec import check_run_date

    run_date = args.run_date or dt.date.today().isoformat()
    check_run_date(run_date)
    name = pipeline_name(spec)
    client = boto3.client("sagemaker", region_name=spec.region)
    try:
        described = client.describe_pipeline(PipelineName=name)
    except client.exceptions.ClientError as exc:
        if not any(text in str(exc) for text in ("ResourceNotFound", "does not exist", "Could not find")):
            raise
        raise UsageError(f"no pipeline {name}: run `leafline pipeline upsert` first") from None
    declared = json.loads(described["PipelineDefinition"])["Parameters"]
    parameters = start_parameters(declared, run_date, args.param)
    response = client.start_pipeline_execution(PipelineName=name, PipelineParameters=parameters)
    status = client.describe_pipeline_execution(PipelineExecutionArn=response["PipelineExecutionArn"])
    print(f"started {name}: {response['PipelineExecutionArn']} ({status['PipelineExecutionStatus']})")
    for parameter in parameters:
        print(f"  {parameter['Name']} = {parameter['Value']}")
    return 0


def _package(uri: str | None, spec: JobSpec) -> PackageInfo | None:
    if uri is None:
        return None
    from leafline.model.packaging import read_archive_info
    from leafline.sagemaker.storage import Storage

    package = read_archive_info(Storage(region=spec.region), uri)
    if package is None:
        raise UsageError(f"{uri}: no model package there; run `leafline package MODEL_DIR --spec ...` first")
    return package


def _print_parameters(plan: PipelinePlan) -> None:
    for parameter in plan.parameters:
        default = "(required)" if parameter.default is None else repr(parameter.default)
        print(f"  {parameter.name:24s} {default:28s} {parameter.meaning}")
