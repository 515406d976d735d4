"""`leafline package`: a model directory as the model.tar.gz SageMaker unpacks into /opt/ml/model.

The archive holds model.txt, the compiled artifacts (compiled/), the tuning profile when `leafline tune`
wrote one, and leafline-package.json describing them. It is built reproducibly (sorted members, zero
times and owners), so packaging the same directory twice gives the same bytes. The artifact's identity
is the sha256 of model.txt: registration keys on it, and an experiment's model.tar.gz is never replaced
by a different model, because registered versions point at it.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from leafline import __version__
from leafline.errors import UsageError
from leafline.sagemaker.storage import Storage, split_s3
from leafline.serving.artifacts import COMPILED_DIR, MANIFEST_NAME, machine_arch
from leafline.serving.errors import ModelLoadError
from leafline.serving.model_info import MODEL_FILE_NAME, read_model_info
from leafline.spec.instance_types import INSTANCE_TYPES

PACKAGE_FILE = "leafline-package.json"
PROFILE_FILE = "tuning-profile.json"
PACKAGE_SCHEMA = "leafline.package/1"
# Every endpoint of AWS's own is under one of these domains; any other S3 endpoint is an emulator.
_AWS_DOMAINS = ("amazonaws.com", "amazonaws.com.cn", "api.aws")


class PackageError(UsageError):
    """The model directory cannot be packaged, or the destination already holds a different model."""


@dataclass(frozen=True)
class PackageInfo:
    """What leafline-package.json says; registration copies the essentials into the version's metadata."""

    data: dict[str, Any]

    @property
    def artifact_sha256(self) -> str:
        return str(self.data["artifact_sha256"])

    @property
    def tuning_profile(self) -> dict[str, Any] | None:
        profile = self.data.get("tuning_profile")
        return profile if isinstance(profile, dict) else None

    def compiled_for(self, arch: str) -> dict[str, Any] | None:
        """The compiled artifact an instance of this architecture loads, or None (it scores with LightGBM)."""
        return next((c for c in self.data.get("compiled", []) if c.get("arch") == arch), None)


def compiled_model_line(package: PackageInfo, name: str, instance_type: str, remedy: str | None) -> tuple[bool, str]:
    """Whether the package carries a compiled model for the instance type's architecture, said in one line.

    Without one the container still scores, with LightGBM, so nothing fails: this line is the only sign of it.
    `remedy` (what to run) ends the line when there is none."""
    arch = INSTANCE_TYPES[instance_type].arch
    entry = package.compiled_for(arch)
    if entry is not None:
        backend = f"{entry['backend']} {entry['version']}"
        return True, f"{name} carries a compiled model for {arch} ({backend}, {instance_type})"
    line = f"{name} carries NO compiled model for {arch} ({instance_type}): the container will score with LightGBM"
    line += ", ~4x slower"
    return False, f"{line}; {remedy}" if remedy else line


def compile_remedy(model_dir: Path | str, instance_type: str) -> str:
    """What to run for a compiled model: `leafline compile` compiles for the machine it runs on."""
    arch = INSTANCE_TYPES[instance_type].arch
    where = "" if arch == machine_arch() else f" on an {arch} machine"
    return f"run `leafline compile {model_dir}`{where} first"


def is_local_endpoint(endpoint_url: str) -> bool:
    """Whether an S3 endpoint is an emulator (local AWS, moto's server) rather than one of AWS's own."""
    host = (urlsplit(endpoint_url).hostname or "").lower()
    return not any(host == domain or host.endswith(f".{domain}") for domain in _AWS_DOMAINS)


def ensure_bucket(storage: Storage, uri: str, named_by: str) -> str | None:
    """The bucket of an s3:// URI exists afterwards, or PackageError says which and how to make it.

    It is created only on an emulator (local AWS starts empty); on AWS a bucket is an account's decision
    (region, encryption, policy), so leafline never makes one. `named_by` says where the name came from.
    Returns what it did, for the user, or None when the bucket was there."""
    if not uri.startswith("s3://"):
        return None
    bucket, _ = split_s3(uri)
    client = storage.s3
    try:
        client.head_bucket(Bucket=bucket)
        return None
    except client.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            return None  # e.g. 403, another account's bucket: the upload's own error says so
    region = client.meta.region_name or "us-east-1"
    endpoint = client.meta.endpoint_url
    if not is_local_endpoint(endpoint):
        raise PackageError(
            f"bucket {bucket!r} ({named_by}) does not exist in {region}: create it "
            f"(aws s3 mb s3://{bucket} --region {region}) or name an existing one"
        )
    location: dict[str, Any] = (
        {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    client.create_bucket(Bucket=bucket, **location)
    return f"created bucket {bucket} (local AWS at {endpoint})"


def describe_model_dir(model_dir: Path) -> PackageInfo:
    try:
        info = read_model_info(model_dir / MODEL_FILE_NAME)
    except ModelLoadError as exc:
        raise PackageError(exc.message) from None
    compiled = []
    manifest = model_dir / COMPILED_DIR / MANIFEST_NAME
    if manifest.is_file():
        entries = json.loads(manifest.read_text()).get("artifacts", [])
        compiled = sorted({(e["arch"], e["backend"], e["backend_version"]) for e in entries if e.get("model_sha256")
                           == info.sha256})  # fmt: skip
    profile_path = model_dir / PROFILE_FILE
    profile = json.loads(profile_path.read_text()) if profile_path.is_file() else None
    if profile is not None and profile.get("model_sha256") != info.sha256:
        raise PackageError(f"{profile_path}: measured on another model (re-run `leafline tune` on this one)")
    return PackageInfo({
        "schema": PACKAGE_SCHEMA,
        "artifact_sha256": info.sha256,
        "model_format": info.format_version,
        "lightgbm_version": _lightgbm_version(),
        "objective": info.objective_spec,
        "num_features": info.num_features,
        "num_class": info.num_class,
        "num_trees": info.num_trees,
        "compiled": [{"arch": arch, "backend": backend, "version": version} for arch, backend, version in compiled],
        "tuning_profile": profile,
        "leafline_version": __version__,
    })  # fmt: skip


def build_archive(model_dir: Path, archive: Path) -> PackageInfo:
    """Write model.tar.gz reproducibly; leafline-package.json goes first so readers can stop there."""
    package = describe_model_dir(model_dir)
    members: list[tuple[str, bytes]] = [
        (PACKAGE_FILE, json.dumps(package.data, indent=2, sort_keys=True).encode()),
        (MODEL_FILE_NAME, (model_dir / MODEL_FILE_NAME).read_bytes()),
    ]
    if package.tuning_profile is not None:
        members.append((PROFILE_FILE, (model_dir / PROFILE_FILE).read_bytes()))
    compiled_dir = model_dir / COMPILED_DIR
    if package.data["compiled"]:
        members += [(f"{COMPILED_DIR}/{p.name}", p.read_bytes()) for p in sorted(compiled_dir.iterdir()) if p.is_file()]
    archive.parent.mkdir(parents=True, exist_ok=True)
    with (
        archive.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, body in members:
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode, entry.mtime = len(body), 0o644, 0
            tar.addfile(entry, io.BytesIO(body))
    return package


def read_archive_info(storage: Storage, uri: str) -> PackageInfo | None:
    """The leafline-package.json of a model.tar.gz, or None when there is no object there."""
    if not storage.exists(uri):
        return None
    with storage.open_read(uri) as stream, tarfile.open(fileobj=stream, mode="r|gz") as tar:
        for member in tar:
            if member.name == PACKAGE_FILE:
                handle = tar.extractfile(member)
                if handle is not None:
                    return PackageInfo(json.loads(handle.read()))
            break
    raise PackageError(f"{uri}: not a leafline package (no {PACKAGE_FILE} first in the archive)")


def publish_archive(storage: Storage, archive: Path, package: PackageInfo, uri: str) -> bool:
    """Upload unless the same model is already there; returns whether it uploaded.

    A different model at the same place is refused: registered versions point at this URI."""
    existing = read_archive_info(storage, uri)
    if existing is not None:
        if existing.artifact_sha256 != package.artifact_sha256:
            raise PackageError(
                f"{uri} already holds another model (sha256 {existing.artifact_sha256[:12]}, this one "
                f"{package.artifact_sha256[:12]}); registered versions point at it, so use a new experiment_id"
            )
        if existing.data == package.data:
            return False
    storage.publish_bytes(archive.read_bytes(), uri)
    return True


def _lightgbm_version() -> str | None:
    try:
        return metadata.version("lightgbm")
    except metadata.PackageNotFoundError:
        return None
