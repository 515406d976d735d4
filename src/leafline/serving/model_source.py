"""Where the model comes from: /opt/ml/model (as SageMaker unpacks model.tar.gz) or S3.

The seeds' layout is s3://{bucket}/{project_id}/{experiment_id}/model.txt; MODEL_S3_KEY may also name a
model.tar.gz, which is unpacked with every member checked to stay inside the model directory.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from leafline.serving.errors import ModelLoadError
from leafline.serving.model_info import MODEL_FILE_NAME

if TYPE_CHECKING:
    from leafline.serving.settings import ServerSettings

ARCHIVE_NAME = "model.tar.gz"
_CHUNK_BYTES = 8 * 2**20


def resolve_model_dir(settings: ServerSettings) -> Path:
    """The directory holding model.txt, fetching or unpacking it first when needed."""
    try:
        return _resolve(settings)
    except PermissionError as exc:  # a mounted model the container's user may not read
        raise ModelLoadError(
            f"{exc.filename}: permission denied for the server's user (uid {os.getuid()}); the model directory "
            "and its files must be readable by it (e.g. chmod -R a+rX on the host)"
        ) from None


def _resolve(settings: ServerSettings) -> Path:
    if settings.s3_bucket and settings.s3_key:
        model_dir = settings.download_dir
        model_dir.mkdir(parents=True, exist_ok=True)
        name = PurePosixPath(settings.s3_key).name
        target = model_dir / (ARCHIVE_NAME if name.endswith((".tar.gz", ".tgz")) else MODEL_FILE_NAME)
        download_s3_object(settings.s3_bucket, settings.s3_key, target, settings.region)
    else:
        model_dir = settings.model_dir
    archive = model_dir / ARCHIVE_NAME
    if not (model_dir / MODEL_FILE_NAME).exists() and archive.exists():
        extract_archive(archive, model_dir)
    if not (model_dir / MODEL_FILE_NAME).is_file():
        present = sorted(p.name for p in model_dir.iterdir()) if model_dir.is_dir() else []
        detail = f"found: {', '.join(present)}" if present else "the directory is empty or missing"
        raise ModelLoadError(f"{model_dir / MODEL_FILE_NAME}: no model file ({detail})")
    return model_dir


def download_s3_object(bucket: str, key: str, target: Path, region: str) -> None:
    """Parallel ranged GETs (boto3's transfer manager) into target, atomically."""
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    config = TransferConfig(multipart_threshold=_CHUNK_BYTES, multipart_chunksize=_CHUNK_BYTES, max_concurrency=8)
    partial = target.with_name(target.name + ".partial")
    try:
        boto3.client("s3", region_name=region).download_file(bucket, key, str(partial), Config=config)
    except (BotoCoreError, ClientError) as exc:
        partial.unlink(missing_ok=True)
        raise ModelLoadError(f"s3://{bucket}/{key}: cannot download the model ({exc})") from None
    partial.replace(target)


def extract_archive(archive: Path, destination: Path) -> None:
    """Unpack model.tar.gz, refusing any member that would land outside destination."""
    root = destination.resolve()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, root, archive)
            tar.extractall(root, members=members, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ModelLoadError(f"{archive}: cannot unpack the model archive ({exc})") from None


def _check_member(member: tarfile.TarInfo, root: Path, archive: Path) -> None:
    target = (root / member.name).resolve()
    if not target.is_relative_to(root):
        raise ModelLoadError(f"{archive}: member {member.name!r} escapes the model directory")
    if member.issym() or member.islnk():
        link_base = target.parent if member.issym() else root
        if not (link_base / member.linkname).resolve().is_relative_to(root):
            raise ModelLoadError(f"{archive}: link {member.name!r} -> {member.linkname!r} escapes the model directory")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise ModelLoadError(f"{archive}: member {member.name!r} is not a regular file or directory")
