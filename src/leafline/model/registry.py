"""The project's model package group: register a packaged model once, and score only Approved versions.

A version carries the artifact's sha256 in its CustomerMetadataProperties, so registering the same
model again finds that version instead of creating another; the tuning profile rides along in the
same metadata, so nightly runs reuse it without downloading the archive. Every function takes a boto3
SageMaker client: the caller decides where it points (AWS, moto, local AWS).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from leafline.errors import LeaflineError
from leafline.model.packaging import PackageInfo
from leafline.spec.aws_requests import ARTIFACT_HASH_KEY, create_model_package, create_model_package_group
from leafline.spec.jobspec import JobSpec

TUNING_KEY = "leafline:tuning"
APPROVED = "Approved"
PENDING = "PendingManualApproval"


class RegistryError(LeaflineError):
    """The registry cannot give a version to score; the message says which and what to do."""


class ModelNotApprovedError(RegistryError):
    """The version exists but is not Approved: scoring it is refused, as SageMaker would."""


@dataclass(frozen=True)
class ModelVersion:
    arn: str
    group: str
    version: int
    approval: str
    metadata: dict[str, str]
    model_data_url: str | None = None

    @property
    def artifact_sha256(self) -> str | None:
        return self.metadata.get(ARTIFACT_HASH_KEY)

    @property
    def tuning(self) -> dict[str, Any] | None:
        raw = self.metadata.get(TUNING_KEY)
        if not raw:
            return None
        if raw.startswith("{"):  # a version registered before the metadata had to satisfy SageMaker's pattern
            return dict(json.loads(raw))
        return {key: json.loads(value) for key, _, value in (pair.partition("=") for pair in raw.split())}


@dataclass(frozen=True)
class Registration:
    version: ModelVersion
    created: bool  # False: the same artifact was registered before, and that version is returned
    changes: tuple[str, ...] = ()  # what a rerun updated on the existing version


def version_metadata(package: PackageInfo, compact_profile: dict[str, Any] | None) -> dict[str, str]:
    """CustomerMetadataProperties: at most 50 keys of at most 256 characters each, values of letters, spaces,
    digits and _.:/=+-@ only (SageMaker's pattern): so no JSON and no commas."""
    data = package.data
    metadata = {
        ARTIFACT_HASH_KEY: package.artifact_sha256,
        "leafline:objective": str(data["objective"])[:256],
        "leafline:num_features": str(data["num_features"]),
        "leafline:lightgbm_version": str(data.get("lightgbm_version") or "unknown"),
        "leafline:compiled_for": " ".join(sorted({c["arch"] for c in data.get("compiled", [])})) or "none",
    }
    if compact_profile is not None:
        text = " ".join(f"{key}={json.dumps(value)}" for key, value in sorted(compact_profile.items()))
        if len(text) > 256:
            raise ValueError(f"the compact tuning profile is {len(text)} characters, over the 256 limit")
        metadata[TUNING_KEY] = text
    return metadata


def register_version(client: Any, spec: JobSpec, model_data_url: str, metadata: dict[str, str]) -> Registration:
    """Find the version holding this artifact or create it; the group is created on first use."""
    ensure_group(client, spec)
    sha = metadata[ARTIFACT_HASH_KEY]
    for version in _versions(client, spec.model_package_group):
        if version.artifact_sha256 == sha:
            return _refresh(client, spec, version, metadata)
    request = create_model_package(spec, model_data_url, metadata)
    arn = client.create_model_package(**request)["ModelPackageArn"]
    return Registration(describe_version(client, arn), created=True)


def resolve_approved(client: Any, spec: JobSpec, version: int | None = None) -> ModelVersion:
    """The version to score: the given one if Approved, else the newest Approved one."""
    group = spec.model_package_group
    if version is not None:
        for candidate in _versions(client, group):
            if candidate.version == version:
                if candidate.approval != APPROVED:
                    raise ModelNotApprovedError(
                        f"model package group {group!r} version {version} is {candidate.approval}, not Approved: "
                        f"approve it (aws sagemaker update-model-package --model-package-arn {candidate.arn} "
                        "--model-approval-status Approved) before scoring with it"
                    )
                return candidate
        raise RegistryError(f"model package group {group!r} has no version {version}")
    versions = list(_versions(client, group))
    approved = [v for v in versions if v.approval == APPROVED]
    if approved:
        return max(approved, key=lambda v: v.version)
    if not versions:
        raise RegistryError(f"model package group {group!r} has no versions: run `leafline register` first")
    pending = ", ".join(f"{v.version} ({v.approval})" for v in versions)
    raise ModelNotApprovedError(
        f"model package group {group!r} has no Approved version (versions: {pending}); approve one, "
        "or set auto_approve = true in a development spec"
    )


def approve_version(client: Any, spec: JobSpec, version: int | None = None) -> tuple[ModelVersion, bool]:
    """Approve a version (default: the newest), as a reviewer would; returns it and whether it changed."""
    group = spec.model_package_group
    versions = list(_versions(client, group))
    if not versions:
        raise RegistryError(f"model package group {group!r} has no versions: run `leafline register` first")
    chosen = versions[0] if version is None else next((v for v in versions if v.version == version), None)
    if chosen is None:
        raise RegistryError(f"model package group {group!r} has no version {version}")
    if chosen.approval == APPROVED:
        return chosen, False
    update: dict[str, Any] = {"ModelPackageArn": chosen.arn, "ModelApprovalStatus": APPROVED}
    if chosen.metadata:  # resent: moto drops it on an update that leaves it out (AWS keeps it)
        update["CustomerMetadataProperties"] = chosen.metadata
    client.update_model_package(**update)
    return describe_version(client, chosen.arn), True


def describe_version(client: Any, arn: str) -> ModelVersion:
    answer = client.describe_model_package(ModelPackageName=arn)
    containers = answer.get("InferenceSpecification", {}).get("Containers", [])
    return ModelVersion(
        arn=answer["ModelPackageArn"],
        group=answer.get("ModelPackageGroupName", ""),
        version=int(answer.get("ModelPackageVersion", 0)),
        approval=answer.get("ModelApprovalStatus", ""),
        metadata=dict(answer.get("CustomerMetadataProperties") or {}),
        model_data_url=containers[0].get("ModelDataUrl") if containers else None,
    )


def ensure_group(client: Any, spec: JobSpec) -> None:
    try:
        client.describe_model_package_group(ModelPackageGroupName=spec.model_package_group)
        return
    except client.exceptions.ClientError as exc:
        if "does not exist" not in str(exc):
            raise
    try:
        client.create_model_package_group(**create_model_package_group(spec))
    except client.exceptions.ClientError as exc:  # created meanwhile by a concurrent run: fine
        if "already exists" not in str(exc):
            raise


def _versions(client: Any, group: str) -> Iterator[ModelVersion]:
    """Newest first; each is described, since only the description carries the metadata."""
    paginator = client.get_paginator("list_model_packages")
    pages = paginator.paginate(ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending")
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            yield describe_version(client, summary["ModelPackageArn"])


def _refresh(client: Any, spec: JobSpec, version: ModelVersion, metadata: dict[str, str]) -> Registration:
    """A rerun keeps the version; it updates a newer tuning profile and, in development, approves it."""
    update: dict[str, Any] = {}
    changes = []
    if version.metadata.get(TUNING_KEY) != metadata.get(TUNING_KEY) and TUNING_KEY in metadata:
        update["CustomerMetadataProperties"] = {**version.metadata, **metadata}
        changes.append("tuning profile")
    if spec.auto_approve and version.approval == PENDING:  # a Rejected version stays rejected: a human said no
        update["ModelApprovalStatus"] = APPROVED
        changes.append("approved (auto_approve)")
    if not update:
        return Registration(version, created=False)
    # Always resend the metadata: moto drops it on any update that leaves it out (AWS keeps it).
    update.setdefault("CustomerMetadataProperties", {**version.metadata, **metadata})
    client.update_model_package(ModelPackageArn=version.arn, **update)
    return Registration(describe_version(client, version.arn), created=False, changes=tuple(changes))
