"""`leafline package` and `leafline register`: wiring over packaging.py and registry.py."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.spec.jobspec import DEFAULT_SPEC, JobSpec, load_spec, parse_overrides

# The image's instance type when no spec is given: JobSpec's own default.
DEFAULT_INSTANCE_TYPE = str(JobSpec.__dataclass_fields__["instance_type"].default)


def add_spec_arguments(
    parser: argparse.ArgumentParser, required: bool = False, default_help: str | None = None
) -> None:
    default = f"; default: {default_help}, {DEFAULT_SPEC.name} in the leafline package" if default_help else ""
    parser.add_argument("--spec", type=Path, required=required, help=f"the job spec (.toml or .json){default}")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec setting (repeatable; dotted keys such as transform.max_payload_mb=4)",
    )


def spec_from_args(args: argparse.Namespace, default: Path | None = None) -> JobSpec:
    """--spec FILE (else `default`) with the --set overrides; errors name the file and the key."""
    path = args.spec or default
    if path is None and not args.set:
        raise UsageError("no job spec: give --spec FILE (plus --set KEY=VALUE overrides if needed)")
    return load_spec(path, parse_overrides(args.set))


def add_parsers(commands: Any) -> None:
    package = commands.add_parser(
        "package",
        help="build model.tar.gz from a model directory and upload it to the experiment's prefix",
        description="Build model.tar.gz from MODEL_DIR: model.txt, the compiled artifacts, the tuning profile and "
        "leafline-package.json (sha256, LightGBM version, objective, feature count). Reproducible: the same "
        "directory gives the same bytes. With --spec it is uploaded to s3://{bucket}/{project_id}/{experiment_id}/"
        "model.tar.gz (AWS_ENDPOINT_URL may point at a local S3); an experiment never receives a second, "
        "different model.",
    )
    package.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    package.add_argument("--output", type=Path, default=None, help="also keep the archive here")
    package.add_argument("--to", metavar="URI", default=None, help="upload here instead (s3:// or file://)")
    add_spec_arguments(package)

    register = commands.add_parser(
        "register",
        help="register the packaged model as a version of the project's model package group (idempotent)",
        description="Create a version in the project's model package group with leafline's image in the "
        "inference specification. The same artifact (sha256 of model.txt) is never registered twice: a rerun "
        "finds the existing version and updates its tuning profile. Versions start PendingManualApproval "
        "unless the spec sets auto_approve (development); only Approved versions are scored.",
    )
    register.add_argument("--model-data", metavar="URI", default=None, help="the model.tar.gz (default: the spec's)")
    add_spec_arguments(register, required=False)

    approve = commands.add_parser(
        "approve",
        help="approve a version of the project's model package group, so that runs score with it",
        description="Set a version's ModelApprovalStatus to Approved (what a reviewer does in SageMaker Studio or "
        "with `aws sagemaker update-model-package`). Runs score with the newest Approved version, and a model can "
        "only be created from an Approved one.",
    )
    approve.add_argument("--version", type=int, default=None, help="the version (default: the newest)")
    add_spec_arguments(approve, required=False)


def run_package_command(args: argparse.Namespace) -> int:
    from leafline.model.packaging import build_archive, compiled_model_line, ensure_bucket, publish_archive
    from leafline.sagemaker.storage import Storage, absolute_location

    if not args.model_dir.is_dir():
        raise UsageError(f"{args.model_dir}: no such model directory")
    spec = spec_from_args(args) if (args.spec or args.set) else None
    if args.to:
        target: str | None = absolute_location(args.to)
    else:
        target = spec.model_data_url if spec is not None else None
    if target is None and args.output is None:
        raise UsageError("nowhere to put the package: give --spec (upload), --to URI or --output FILE")
    instance_type = spec.instance_type if spec is not None else DEFAULT_INSTANCE_TYPE
    with tempfile.TemporaryDirectory(prefix="leafline-package-") as workdir:
        archive = args.output or Path(workdir) / "model.tar.gz"
        package = build_archive(args.model_dir, archive)
        print(f"packaged {args.model_dir} -> {archive} ({archive.stat().st_size:,} bytes)")
        print(f"  artifact sha256 {package.artifact_sha256}")
        tuned = "yes" if package.tuning_profile else "no (run `leafline tune` first to store one)"
        print(f"  objective {package.data['objective']}, {package.data['num_features']} features, "
              f"tuning profile: {tuned}")  # fmt: skip
        _, line = compiled_model_line(package, "model.tar.gz", instance_type, _remedy(args.model_dir, instance_type))
        print(f"  {line}")
        if target is not None:
            storage = Storage(region=spec.region if spec is not None else None)
            created = ensure_bucket(storage, target, "from --to" if args.to else "spec key `bucket`")
            if created:
                print(f"  {created}")
            uploaded = publish_archive(storage, archive, package, target)
            print(f"  {'uploaded to' if uploaded else 'already at'} {target}")
    return 0


def _remedy(model_dir: Path, instance_type: str) -> str:
    """What to run for a compiled model; nothing to run when the compiler cannot reproduce this one."""
    from leafline.model.compiler import unsupported_reason
    from leafline.model.packaging import compile_remedy
    from leafline.serving.model_info import MODEL_FILE_NAME, read_model_info

    reason = unsupported_reason(read_model_info(model_dir / MODEL_FILE_NAME))
    if reason is not None:
        return f"the compiler cannot reproduce this model ({reason})"
    return compile_remedy(model_dir, instance_type)


def run_register_command(args: argparse.Namespace) -> int:
    import boto3

    from leafline.model.packaging import compiled_model_line, read_archive_info
    from leafline.model.registry import register_version, version_metadata
    from leafline.sagemaker.storage import Storage, absolute_location

    spec = spec_from_args(args)
    # The version keeps this location for every later run, wherever it runs: a local one is made absolute.
    model_data = absolute_location(args.model_data) if args.model_data else spec.model_data_url
    package = read_archive_info(Storage(region=spec.region), model_data)
    if package is None:
        raise UsageError(f"{model_data}: no package there; run `leafline package MODEL_DIR --spec ...` first")
    from leafline.tuning.profile import compact_profile

    remedy = "compile the model (`leafline compile MODEL_DIR`) and package it again"
    compiled, line = compiled_model_line(package, model_data, spec.instance_type, remedy)
    if not compiled:  # it registers all the same: LightGBM scores it, only slower
        print(f"leafline register: warning: {line}", file=sys.stderr)
    profile = package.tuning_profile
    metadata = version_metadata(package, compact_profile(profile) if profile else None)
    client = boto3.client("sagemaker", region_name=spec.region)
    registration = register_version(client, spec, model_data, metadata)
    version = registration.version
    verb = "registered" if registration.created else "already registered as"
    print(f"{verb} {version.group} version {version.version}: {version.approval}")
    print(f"  {version.arn}")
    if registration.changes:
        print(f"  updated: {', '.join(registration.changes)}")
    if version.approval != "Approved":
        print("  only Approved versions are scored: aws sagemaker update-model-package --model-package-arn "
              f"{version.arn} --model-approval-status Approved")  # fmt: skip
    return 0


def run_approve_command(args: argparse.Namespace) -> int:
    import boto3

    from leafline.model.registry import approve_version

    spec = spec_from_args(args)
    version, changed = approve_version(boto3.client("sagemaker", region_name=spec.region), spec, args.version)
    print(f"{'approved' if changed else 'already approved:'} {version.group} version {version.version}")
    print(f"  {version.arn}")
    return 0
