"""`leafline package` and `leafline register` under moto: reproducible archives, one version per artifact,
and only Approved versions scored."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from leafline.cli import main
from leafline.model.packaging import PACKAGE_FILE, build_archive
from leafline.model.registry import ModelNotApprovedError, RegistryError, resolve_approved
from leafline.serving.model_info import read_model_info
from leafline.serving.model_source import extract_archive
from leafline.spec.jobspec import load_spec
from tests.conftest import kind_by_name
from tests.model_kinds import train

SPEC = {
    "project_id": "churn",
    "experiment_id": "exp-1",
    "bucket": "models-bucket",
    "role_arn": "arn:aws:iam::123456789012:role/leafline-scoring",
    "image_uri": "123456789012.dkr.ecr.sa-east-1.amazonaws.com/leafline:1.0",
}


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    return path


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        boto3.client("s3", region_name="sa-east-1").create_bucket(
            Bucket="models-bucket", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"}
        )
        yield


@pytest.fixture
def model_dir(binary_model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(binary_model_dir, copy)
    return copy


def _sagemaker() -> Any:
    return boto3.client("sagemaker", region_name="sa-east-1")


def test_the_archive_is_reproducible_and_describes_the_model(model_dir: Path, tmp_path: Path) -> None:
    first = build_archive(model_dir, tmp_path / "a" / "model.tar.gz")
    build_archive(model_dir, tmp_path / "b" / "model.tar.gz")
    assert (tmp_path / "a" / "model.tar.gz").read_bytes() == (tmp_path / "b" / "model.tar.gz").read_bytes()
    info = read_model_info(model_dir / "model.txt")
    assert first.artifact_sha256 == info.sha256
    assert first.data["objective"].startswith("binary") and first.data["num_features"] == info.num_features
    assert first.data["lightgbm_version"] and first.data["compiled"][0]["arch"]
    with tarfile.open(tmp_path / "a" / "model.tar.gz") as tar:
        names = tar.getnames()
    assert names[0] == PACKAGE_FILE and "model.txt" in names
    assert any(name.startswith("compiled/") and name.endswith(".so") for name in names)
    unpacked = tmp_path / "unpacked"
    extract_archive(tmp_path / "a" / "model.tar.gz", unpacked)  # the server's own extractor accepts it
    assert (unpacked / "model.txt").read_bytes() == (model_dir / "model.txt").read_bytes()


def test_package_uploads_once_and_refuses_a_different_model_for_the_experiment(
    aws: None, model_dir: Path, spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["package", str(model_dir), "--spec", str(spec_file)]) == 0
    assert "uploaded to s3://models-bucket/churn/exp-1/model.tar.gz" in capsys.readouterr().out
    body = boto3.client("s3").get_object(Bucket="models-bucket", Key="churn/exp-1/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert "model.txt" in tar.getnames()
    assert main(["package", str(model_dir), "--spec", str(spec_file)]) == 0
    assert "already at s3://models-bucket/churn/exp-1/model.tar.gz" in capsys.readouterr().out

    other = train(kind_by_name("regression"), tmp_path / "other")
    assert main(["package", str(other), "--spec", str(spec_file)]) == 2
    err = capsys.readouterr().err
    assert "already holds another model" in err and "new experiment_id" in err
    still = boto3.client("s3").get_object(Bucket="models-bucket", Key="churn/exp-1/model.tar.gz")["Body"].read()
    assert still == body  # nothing lost

    assert main(["package", str(other), "--spec", str(spec_file), "--set", "experiment_id=exp-2"]) == 0


def test_register_is_idempotent_by_artifact_hash(
    aws: None, model_dir: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["package", str(model_dir), "--spec", str(spec_file)]) == 0
    assert main(["register", "--spec", str(spec_file)]) == 0
    out = capsys.readouterr().out
    assert "registered churn version 1: PendingManualApproval" in out
    assert "update-model-package" in out  # says how to approve
    assert main(["register", "--spec", str(spec_file)]) == 0
    assert "already registered as churn version 1" in capsys.readouterr().out
    versions = _sagemaker().list_model_packages(ModelPackageGroupName="churn")["ModelPackageSummaryList"]
    assert len(versions) == 1
    described = _sagemaker().describe_model_package(ModelPackageName=versions[0]["ModelPackageArn"])
    sha = read_model_info(model_dir / "model.txt").sha256
    assert described["CustomerMetadataProperties"]["leafline:artifact_sha256"] == sha
    container = described["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == SPEC["image_uri"]
    assert container["ModelDataUrl"] == "s3://models-bucket/churn/exp-1/model.tar.gz"


def test_register_without_a_package_says_what_to_run(aws: None, spec_file: Path, capsys) -> None:
    assert main(["register", "--spec", str(spec_file)]) == 2
    assert "run `leafline package MODEL_DIR --spec" in capsys.readouterr().err


def test_only_approved_versions_are_scored(aws: None, model_dir: Path, spec_file: Path, tmp_path: Path) -> None:
    spec = load_spec(spec_file)
    with pytest.raises(RegistryError, match="has no versions: run `leafline register` first"):
        resolve_approved(_sagemaker(), spec)
    assert main(["package", str(model_dir), "--spec", str(spec_file)]) == 0
    assert main(["register", "--spec", str(spec_file)]) == 0
    with pytest.raises(ModelNotApprovedError, match=r"no Approved version \(versions: 1 \(PendingManualApproval\)\)"):
        resolve_approved(_sagemaker(), spec)
    with pytest.raises(ModelNotApprovedError, match="version 1 is PendingManualApproval, not Approved"):
        resolve_approved(_sagemaker(), spec, version=1)
    with pytest.raises(RegistryError, match="has no version 7"):
        resolve_approved(_sagemaker(), spec, version=7)

    # development: auto_approve approves the pending version on the next register
    assert main(["register", "--spec", str(spec_file), "--set", "auto_approve=true"]) == 0
    chosen = resolve_approved(_sagemaker(), spec)
    assert (chosen.version, chosen.approval) == (1, "Approved")
    assert chosen.artifact_sha256 == read_model_info(model_dir / "model.txt").sha256


def test_a_rejected_version_is_never_auto_approved_and_the_newest_approved_wins(
    aws: None, model_dir: Path, spec_file: Path, tmp_path: Path
) -> None:
    second = train(kind_by_name("regression"), tmp_path / "second")
    for directory, experiment in ((model_dir, "exp-1"), (second, "exp-2")):
        overrides = ["--set", f"experiment_id={experiment}", "--set", "auto_approve=true"]
        assert main(["package", str(directory), "--spec", str(spec_file), *overrides]) == 0
        assert main(["register", "--spec", str(spec_file), *overrides]) == 0
    spec = load_spec(spec_file)
    assert resolve_approved(_sagemaker(), spec).version == 2
    arn = resolve_approved(_sagemaker(), spec).arn
    _sagemaker().update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    assert resolve_approved(_sagemaker(), spec).version == 1
    overrides = ["--set", "experiment_id=exp-2", "--set", "auto_approve=true"]
    assert main(["register", "--spec", str(spec_file), *overrides]) == 0
    assert _sagemaker().describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Rejected"


# issue 18: the bucket, and whether the package carries a compiled model for the image's architecture


def test_package_creates_the_bucket_when_local_aws_is_the_target(
    local_aws: Any, model_dir: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["package", str(model_dir), "--spec", str(spec_file)]) == 0
    out = capsys.readouterr().out
    assert f"created bucket models-bucket (local AWS at {local_aws.url})" in out
    assert "uploaded to s3://models-bucket/churn/exp-1/model.tar.gz" in out
    boto3.client("s3").head_object(Bucket="models-bucket", Key="churn/exp-1/model.tar.gz")
    assert main(["package", str(model_dir), "--spec", str(spec_file)]) == 0  # the bucket is there now
    assert "created bucket" not in capsys.readouterr().out


def test_package_against_aws_without_the_bucket_is_one_line_naming_the_bucket_and_the_key(
    model_dir: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():  # AWS's own endpoints: leafline never creates a bucket there
        assert main(["package", str(model_dir), "--spec", str(spec_file)]) == 2
        assert boto3.client("s3", region_name="sa-east-1").list_buckets()["Buckets"] == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "bucket 'models-bucket' (spec key `bucket`) does not exist" in err
    assert "aws s3 mb s3://models-bucket --region sa-east-1" in err


def test_package_says_in_one_line_whether_it_carries_a_compiled_model_for_the_image(
    aws: None, model_dir: Path, spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leafline.serving.artifacts import machine_arch

    here = machine_arch()
    assert main(["package", str(model_dir), "--spec", str(spec_file)]) == 0
    assert f"model.tar.gz carries a compiled model for {here} (lleaves " in capsys.readouterr().out

    plain = train(kind_by_name("regression"), tmp_path / "plain")  # never compiled
    assert main(["package", str(plain), "--output", str(tmp_path / "b.tar.gz")]) == 0
    out = capsys.readouterr().out
    assert (f"model.tar.gz carries NO compiled model for {here} (ml.m5.xlarge): the container will score with "
            f"LightGBM, ~4x slower; run `leafline compile {plain}` first") in out  # fmt: skip
    assert "compiled for none" not in out


def test_register_warns_when_the_package_has_no_compiled_model_for_the_image(
    aws: None, model_dir: Path, spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leafline.serving.artifacts import machine_arch

    assert main(["package", str(model_dir), "--spec", str(spec_file)]) == 0
    assert main(["register", "--spec", str(spec_file)]) == 0
    assert "warning" not in capsys.readouterr().err
    plain = train(kind_by_name("regression"), tmp_path / "plain")  # never compiled
    other = ["--set", "experiment_id=exp-2"]  # a package is immutable once registered
    assert main(["package", str(plain), "--spec", str(spec_file), *other]) == 0
    assert main(["register", "--spec", str(spec_file), *other]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert (f"leafline register: warning: s3://models-bucket/churn/exp-2/model.tar.gz carries NO compiled model for "
            f"{machine_arch()} (ml.m5.xlarge): the container will score with LightGBM, ~4x slower") in err  # fmt: skip


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [
        ("https://s3.sa-east-1.amazonaws.com", False),
        ("https://s3-fips.us-east-1.amazonaws.com", False),
        ("https://bucket.vpce-0a1b.s3.us-east-1.vpce.amazonaws.com", False),
        ("https://s3.cn-north-1.amazonaws.com.cn", False),
        ("https://s3.dualstack.eu-west-1.api.aws", False),
        ("http://127.0.0.1:5055", True),
        ("http://localhost:4566", True),
        ("http://local-aws:5000", True),  # a compose service name
        ("http://amazonaws.com.example:80", True),  # not AWS's domain, only a look-alike
    ],
)
def test_an_endpoint_is_local_unless_it_is_one_of_aws_s_own(endpoint: str, local: bool) -> None:
    from leafline.model.packaging import is_local_endpoint

    assert is_local_endpoint(endpoint) is local


def test_package_to_a_uri_on_local_aws_creates_its_bucket_too(
    local_aws: Any, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["package", str(model_dir), "--to", "s3://elsewhere/m/model.tar.gz"]) == 0
    assert "created bucket elsewhere (local AWS at" in capsys.readouterr().out
    boto3.client("s3").head_object(Bucket="elsewhere", Key="m/model.tar.gz")
