"""Tags, deleted model package versions and groups outlive a restart on the same state folder, like the
rest of local AWS's state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from leafline.local_aws.server import LocalAws
from tests.local_aws.helpers import BUCKET, ROLE

_IMAGE = "123456789012.dkr.ecr.sa-east-1.amazonaws.com/leafline:latest"
_SPEC: dict[str, Any] = {"Containers": [{"Image": _IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m/model.tar.gz"}],
                         "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}  # fmt: skip


@contextmanager
def _sagemaker(state: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with LocalAws(state_dir=state) as aws:
        for key, value in aws.environment().items():
            monkeypatch.setenv(key, value)
        yield boto3.client("sagemaker")


def test_tags_and_registry_deletes_survive_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    with _sagemaker(state, monkeypatch) as sagemaker:
        group = sagemaker.create_model_package_group(ModelPackageGroupName="Kept-Group",
                                                     Tags=[{"Key": "team", "Value": "scoring"}])  # fmt: skip
        group_arn = group["ModelPackageGroupArn"]
        sagemaker.add_tags(ResourceArn=group_arn, Tags=[{"Key": "stage", "Value": "dev"}])
        first = sagemaker.create_model_package(ModelPackageGroupName="Kept-Group", InferenceSpecification=_SPEC)
        sagemaker.create_model_package(ModelPackageGroupName="Kept-Group", InferenceSpecification=_SPEC)
        sagemaker.delete_model_package(ModelPackageName=first["ModelPackageArn"])
        sagemaker.create_model_package_group(ModelPackageGroupName="gone-group")
        sagemaker.delete_model_package_group(ModelPackageGroupName="gone-group")
        model = sagemaker.create_model(ModelName="kept-model", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": _IMAGE}, Tags=[{"Key": "owner", "Value": "me"}])  # fmt: skip
    assert group_arn in json.loads((state / "sagemaker-resources.json").read_text())["tags"]

    with _sagemaker(state, monkeypatch) as sagemaker:
        assert sagemaker.list_tags(ResourceArn=group_arn)["Tags"] == [{"Key": "team", "Value": "scoring"},
                                                                      {"Key": "stage", "Value": "dev"}]  # fmt: skip
        assert sagemaker.list_tags(ResourceArn=model["ModelArn"])["Tags"] == [{"Key": "owner", "Value": "me"}]
        listed = sagemaker.list_model_packages(ModelPackageGroupName="Kept-Group")["ModelPackageSummaryList"]
        assert [p["ModelPackageVersion"] for p in listed] == [2]
        third = sagemaker.create_model_package(ModelPackageGroupName="Kept-Group", InferenceSpecification=_SPEC)
        assert third["ModelPackageArn"].endswith("/kept-group/3")
        groups = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
        assert [g["ModelPackageGroupName"] for g in groups] == ["Kept-Group"]


def test_a_create_the_journal_never_kept_is_not_a_resource_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between the resources file's write and the journal's append: the replay says what exists."""
    state = tmp_path / "state"
    with _sagemaker(state, monkeypatch) as sagemaker:
        sagemaker.create_model_package_group(ModelPackageGroupName="real-group")
    table = json.loads((state / "sagemaker-resources.json").read_text())
    ghost = "arn:aws:sagemaker:sa-east-1:123456789012:model/ghost"
    table["tags"][ghost] = [{"Key": "team", "Value": "scoring"}]
    (state / "sagemaker-resources.json").write_text(json.dumps(table))

    with _sagemaker(state, monkeypatch) as sagemaker:
        created = sagemaker.create_model(ModelName="ghost", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": _IMAGE})
        assert created["ModelArn"] == ghost
        assert sagemaker.list_tags(ResourceArn=ghost)["Tags"] == []
