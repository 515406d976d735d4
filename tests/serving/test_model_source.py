"""Models from S3 (moto's real server over HTTP) and from model.tar.gz archives."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from leafline.processes.server import ServerProcess, free_port
from leafline.serving.errors import ModelLoadError
from leafline.serving.model_source import extract_archive


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _s3(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="sa-east-1")


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_model_is_downloaded_from_the_seed_layout_in_s3(
    s3_endpoint: str, binary_model_dir: Path, tmp_path: Path
) -> None:
    s3 = _s3(s3_endpoint)
    s3.create_bucket(Bucket="models", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    s3.put_object(Bucket="models", Key="churn/exp-7/model.txt", Body=(binary_model_dir / "model.txt").read_bytes())
    env = {
        "MODEL_S3_BUCKET": "models",
        "MODEL_S3_KEY": "churn/exp-7/model.txt",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "LEAFLINE_DOWNLOAD_DIR": str(tmp_path / "download"),
    }
    with ServerProcess(tmp_path / "unused", env=env) as server:
        status, _, body = server.request("POST", "/invocations", b"1,2,3,4,5,6\n", {"Content-Type": "text/csv"})
    assert status == 200 and float(body) > 0
    model = (binary_model_dir / "model.txt").read_bytes()
    # Kept under the hash of what was downloaded, so a reused folder never serves an older model.
    assert (tmp_path / "download" / hashlib.sha256(model).hexdigest() / "model.txt").read_bytes() == model


def test_model_tar_gz_in_s3_is_unpacked(s3_endpoint: str, binary_model_dir: Path, tmp_path: Path) -> None:
    s3 = _s3(s3_endpoint)
    s3.create_bucket(Bucket="archives", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    body = _archive({"model.txt": (binary_model_dir / "model.txt").read_bytes()})
    s3.put_object(Bucket="archives", Key="p/e/model.tar.gz", Body=body)
    env = {
        "MODEL_S3_BUCKET": "archives",
        "MODEL_S3_KEY": "p/e/model.tar.gz",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "LEAFLINE_DOWNLOAD_DIR": str(tmp_path / "d"),
    }
    with ServerProcess(tmp_path / "unused", env=env) as server:
        assert server.request("GET", "/ping")[0] == 200


def test_missing_s3_object_fails_start_naming_the_uri(s3_endpoint: str, tmp_path: Path) -> None:
    env = {
        "MODEL_S3_BUCKET": "nobucket",
        "MODEL_S3_KEY": "a/b/model.txt",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "LEAFLINE_DOWNLOAD_DIR": str(tmp_path / "d"),
    }
    with pytest.raises(Exception, match=r"s3://nobucket/a/b/model.txt: cannot download the model"):
        ServerProcess(tmp_path, env=env).start()


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil.txt", "sub/../../evil.txt"])
def test_archive_members_that_escape_the_model_dir_are_rejected(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(_archive({"model.txt": b"x", name: b"evil"}))
    target = tmp_path / "model"
    target.mkdir()
    with pytest.raises(ModelLoadError, match="escapes the model directory"):
        extract_archive(archive, target)
    assert not (tmp_path / "evil.txt").exists()
    assert list(target.iterdir()) == []


def test_symlink_out_of_the_model_dir_is_rejected(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("model.txt")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(buffer.getvalue())
    (tmp_path / "model").mkdir()
    with pytest.raises(ModelLoadError, match=r"link 'model.txt' -> '/etc/passwd' escapes"):
        extract_archive(archive, tmp_path / "model")


def test_large_model_downloads_in_parallel_ranges_intact(s3_endpoint: str, tmp_path: Path, monkeypatch) -> None:
    """Above 8 MB the transfer manager splits the GET into ranges; the file must come back byte-exact."""
    from leafline.serving.model_source import download_s3_object

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    data = bytes(range(256)) * (20 * 2**20 // 256 + 7)
    s3 = _s3(s3_endpoint)
    s3.create_bucket(Bucket="big", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    s3.put_object(Bucket="big", Key="p/e/model.txt", Body=data)
    target = tmp_path / "model.txt"
    download_s3_object("big", "p/e/model.txt", target, "sa-east-1")
    assert target.read_bytes() == data
    assert not (tmp_path / "model.txt.partial").exists()
