"""Hostile and stale model archives (issue 19, cases 2 and 6), against the real `serve` process.

A reused download folder must never serve the model a previous run left there, and an archive that
expands past the configured limit is refused before it fills the disk, leaving nothing behind.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import lightgbm
import numpy as np
import pytest
from moto.server import ThreadedMotoServer

from leafline.processes.server import ServerProcess, free_port
from leafline.serving.errors import ModelLoadError
from leafline.serving.model_source import ExtractionLimits, extract_archive
from tests.conftest import kind_by_name
from tests.model_kinds import scoring_rows, to_csv, train

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Model B: same features as the binary fixture (model A), different trees and scores."""
    return train(kind_by_name("dart"), tmp_path_factory.mktemp("model-b"))


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _scores(env: dict[str, str], tmp_path: Path, x: np.ndarray) -> np.ndarray:
    with ServerProcess(tmp_path / "unused", env=env) as server:
        status, _, body = server.request("POST", "/invocations", to_csv(x), CSV)
    assert status == 200, body
    return np.array([float(line) for line in body.decode().splitlines()])


def _lightgbm(model_dir: Path, x: np.ndarray) -> np.ndarray:
    return np.asarray(lightgbm.Booster(model_file=str(model_dir / "model.txt")).predict(x))


def test_a_reused_download_dir_serves_the_model_just_fetched(
    s3_endpoint: str, binary_model_dir: Path, other_model_dir: Path, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="sa-east-1")
    s3.create_bucket(Bucket="reuse", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    model_a, model_b = (binary_model_dir / "model.txt").read_bytes(), (other_model_dir / "model.txt").read_bytes()
    s3.put_object(Bucket="reuse", Key="p/a/model.txt", Body=model_a)
    s3.put_object(Bucket="reuse", Key="p/b/model.tar.gz", Body=_archive({"model.txt": model_b}))
    s3.put_object(Bucket="reuse", Key="p/a/model.tar.gz", Body=_archive({"model.txt": model_a}))
    shared = {"MODEL_S3_BUCKET": "reuse", "AWS_ENDPOINT_URL": s3_endpoint, "LEAFLINE_DOWNLOAD_DIR": str(tmp_path / "d")}
    # What a server killed mid-download or mid-unpack an hour ago left behind is cleared on the next start.
    leftovers = [tmp_path / "d" / ".incoming-dead.partial", tmp_path / "d" / ".staging-dead" / "model.txt"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a model")
    for path in (*leftovers, leftovers[1].parent):
        os.utime(path, (time.time() - 7200,) * 2)
    x = scoring_rows(6, rows=50)
    expected_a, expected_b = _lightgbm(binary_model_dir, x), _lightgbm(other_model_dir, x)
    assert np.abs(expected_a - expected_b).max() > 1e-3  # the two models are told apart by their scores

    for key, expected in [("p/a/model.txt", expected_a), ("p/b/model.tar.gz", expected_b),
                          ("p/a/model.tar.gz", expected_a), ("p/b/model.tar.gz", expected_b)]:  # fmt: skip
        np.testing.assert_allclose(_scores({**shared, "MODEL_S3_KEY": key}, tmp_path, x), expected, atol=1e-12)
    # Nothing half-written is left beside the content-addressed models.
    assert not [p.name for p in (tmp_path / "d").iterdir() if p.name.startswith(".")]


def _serve_until_exit(env: dict[str, str]) -> tuple[int, list[dict[str, object]]]:
    done = subprocess.run(
        [sys.executable, "-m", "leafline.serving", "serve"],
        env={"PATH": "/usr/bin:/bin", "LEAFLINE_HOST": "127.0.0.1", "SAGEMAKER_BIND_TO_PORT": "0", **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_an_archive_expanding_past_the_limit_is_refused_and_leaves_nothing(
    binary_model_dir: Path, tmp_path: Path
) -> None:
    bomb = _archive({"model.txt": (binary_model_dir / "model.txt").read_bytes(), "padding": bytes(3 * 2**20)})
    assert len(bomb) < 64 * 1024  # 3 MB of zeros compress to a few KB
    (tmp_path / "model.tar.gz").write_bytes(bomb)
    code, events = _serve_until_exit({"LEAFLINE_MODEL_DIR": str(tmp_path), "LEAFLINE_MAX_UNPACKED_MB": "1"})
    failure = [e for e in events if e.get("level") == "error"]
    assert code == 1 and len(failure) == 1
    message = str(failure[0]["error"])
    assert f"{tmp_path / 'model.tar.gz'}: unpacks to more than 1048576 bytes" in message
    assert "LEAFLINE_MAX_UNPACKED_MB=1" in message and "'padding'" in message
    assert [p.name for p in tmp_path.iterdir()] == ["model.tar.gz"]


def test_an_archive_with_too_many_members_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(_archive({f"f{i}": b"" for i in range(6)}))
    (tmp_path / "out").mkdir()
    with pytest.raises(ModelLoadError, match=r"more than 5 members \(LEAFLINE_MAX_ARCHIVE_MEMBERS=5\)"):
        extract_archive(archive, tmp_path / "out", ExtractionLimits(max_bytes=2**20, max_members=5))
    assert list((tmp_path / "out").iterdir()) == []


def test_an_archive_within_the_limits_unpacks_whole(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(_archive({"model.txt": b"x" * 1000, "compiled/manifest.json": b"{}"}))
    (tmp_path / "out").mkdir()
    extract_archive(archive, tmp_path / "out", ExtractionLimits(max_bytes=1002, max_members=3))
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")) == [
        "compiled", "compiled/manifest.json", "model.txt",
    ]  # fmt: skip
