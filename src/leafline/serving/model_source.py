"""Where the model comes from: /opt/ml/model (as SageMaker unpacks model.tar.gz) or S3.

The seeds' layout is s3://{bucket}/{project_id}/{experiment_id}/model.txt; MODEL_S3_KEY may also name a
model.tar.gz, which is unpacked with every member checked to stay inside the model directory and the
whole kept within a size and member limit. A model fetched from S3 lands in
LEAFLINE_DOWNLOAD_DIR/<sha256 of what was downloaded>/, made whole in a temporary folder and renamed into
place: a reused folder can only ever hold complete models under their own hash, so what a previous run
left there is never served in place of what this run fetched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from leafline.serving.errors import ModelLoadError
from leafline.serving.model_info import MODEL_FILE_NAME
from leafline.serving.settings import DEFAULT_MAX_ARCHIVE_MEMBERS, DEFAULT_MAX_UNPACKED_MB

if TYPE_CHECKING:
    from leafline.serving.settings import ServerSettings

ARCHIVE_NAME = "model.tar.gz"
_CHUNK_BYTES = 8 * 2**20
_LEFTOVER_SECONDS = 3600


@dataclass(frozen=True)
class ExtractionLimits:
    """What an archive may unpack to; checked against each member's header before its bytes are written."""

    max_bytes: int = DEFAULT_MAX_UNPACKED_MB * 2**20
    max_members: int = DEFAULT_MAX_ARCHIVE_MEMBERS


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
    limits = ExtractionLimits(settings.max_unpacked_bytes, settings.max_archive_members)
    if settings.s3_bucket and settings.s3_key:
        model_dir = _fetch(settings.s3_bucket, settings.s3_key, settings.download_dir, settings.region, limits)
    else:
        model_dir = settings.model_dir
        archive = model_dir / ARCHIVE_NAME
        if not (model_dir / MODEL_FILE_NAME).exists() and archive.exists():
            extract_archive(archive, model_dir, limits)
    if not (model_dir / MODEL_FILE_NAME).is_file():
        present = sorted(p.name for p in model_dir.iterdir()) if model_dir.is_dir() else []
        detail = f"found: {', '.join(present)}" if present else "the directory is empty or missing"
        raise ModelLoadError(f"{model_dir / MODEL_FILE_NAME}: no model file ({detail})")
    return model_dir


def _fetch(bucket: str, key: str, root: Path, region: str, limits: ExtractionLimits) -> Path:
    """s3://bucket/key (model.txt or model.tar.gz) as root/<sha256>/, complete or not at all."""
    root.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(root)
    incoming = root / f".incoming-{secrets.token_hex(8)}"
    staging = root / f".staging-{secrets.token_hex(8)}"
    try:
        download_s3_object(bucket, key, incoming, region)
        model_dir = root / _sha256(incoming)
        if model_dir.is_dir():  # only ever created by the rename below, so it is whole
            return model_dir
        staging.mkdir()
        if PurePosixPath(key).name.endswith((".tar.gz", ".tgz")):
            extract_archive(incoming, staging, limits)
        else:
            incoming.replace(staging / MODEL_FILE_NAME)
        try:
            staging.rename(model_dir)
        except OSError:
            if not model_dir.is_dir():  # not another server that unpacked the same model first
                raise
        return model_dir
    except OSError as exc:  # a full disk or a folder the server may not write
        raise ModelLoadError(f"s3://{bucket}/{key}: cannot store the model in {root} ({exc})") from None
    finally:
        incoming.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def _remove_leftovers(root: Path) -> None:
    """Downloads and unpackings a killed server left behind; an hour untouched, so none still in progress."""
    cutoff = time.time() - _LEFTOVER_SECONDS
    for entry in root.iterdir():
        if not entry.name.startswith((".incoming-", ".staging-")):
            continue
        with contextlib.suppress(OSError):  # another server's cleanup got there first
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


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


def extract_archive(archive: Path, destination: Path, limits: ExtractionLimits | None = None) -> None:
    """Unpack model.tar.gz into destination, whole or not at all: members are streamed into a temporary
    folder inside it (refusing any that would land outside, or pass the limits) and moved up at the end."""
    limits = limits or ExtractionLimits()
    root = destination.resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=root))
    except OSError as exc:
        raise ModelLoadError(f"{archive}: cannot unpack the model archive ({exc})") from None
    try:
        _stream_members(archive, staging, limits)
        for entry in staging.iterdir():
            _replace(entry, root / entry.name)
    except OSError as exc:
        raise ModelLoadError(f"{archive}: cannot move the unpacked model into {root} ({exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stream_members(archive: Path, root: Path, limits: ExtractionLimits) -> None:
    total = 0
    try:
        with tarfile.open(archive, "r|*") as tar:  # a stream: nothing is decompressed ahead of the checks
            for count, member in enumerate(tar, start=1):
                if count > limits.max_members:
                    raise ModelLoadError(
                        f"{archive}: more than {limits.max_members} members "
                        f"(LEAFLINE_MAX_ARCHIVE_MEMBERS={limits.max_members}); refused"
                    )
                _check_member(member, root, archive)
                total += member.size if member.isfile() else 0
                if total > limits.max_bytes:
                    raise ModelLoadError(
                        f"{archive}: unpacks to more than {limits.max_bytes} bytes (member {member.name!r} brings it "
                        f"to {total}; LEAFLINE_MAX_UNPACKED_MB={limits.max_bytes // 2**20}); refused before "
                        "writing past the limit"
                    )
                tar.extract(member, root, filter=_data_keeping_directories_writable)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ModelLoadError(f"{archive}: cannot unpack the model archive ({exc})") from None


def _data_keeping_directories_writable(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter; a directory keeps the default mode, as a read-only one, set the moment it
    is made (a stream cannot defer it as extractall does), would refuse the files inside it."""
    member = tarfile.data_filter(member, path)
    return member.replace(mode=None, deep=False) if member.isdir() else member  # type: ignore[arg-type]


def _replace(source: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    source.replace(target)


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
