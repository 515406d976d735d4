"""The Batch Transform emulator against hostile keys, a full disk and damaged input (issue 19: cases 4, 8, 10).

- Case 4: a key (a manifest entry, an S3 key under the prefix) never names a place outside its root, on disk or
  on S3; a refused manifest entry fails the job naming the manifest, the entry and the root, a refused output
  key fails only its file.
- Case 8: a full output disk fails the file naming the path and the process exits 1; it never hangs and
  leaves no .out or staging file behind (a real 64 KiB tmpfs, so root only).
- Case 10: input that cannot be read as its CompressionType says (not gzip, truncated, corrupt, a dropped S3
  stream) fails that file naming the object and the problem, never as an "internal emulator error".
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from moto.server import ThreadedMotoServer

from leafline.sagemaker.storage import Storage, UnsafeKeyError, child_uri, local_path
from leafline.transform.job import EmulatorOptions, ModelSource, TransformJobResult, run_transform_job
from tests.transform.helpers import FAKE_CONTAINER, id_lines, invocations, request, run_fake

JOB_TIMEOUT_S = 120  # a whole `leafline transform` subprocess; it ends in seconds unless it hangs
BUCKET = "scoring"


def manifest_request(manifest_uri: str, output_uri: str, **overrides: Any) -> dict[str, Any]:
    source = {"S3DataType": "ManifestFile", "S3Uri": manifest_uri}
    return request(manifest_uri, output_uri, TransformInput={"DataSource": {"S3DataSource": source}}, **overrides)


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A local S3 (moto's server on a free port) with an empty bucket; boto3 points at it. moto's state is
    per process, so it is reset before and after."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    _reset_moto(endpoint)
    client = boto3.client("s3", region_name="sa-east-1")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    try:
        yield client
    finally:
        _reset_moto(endpoint)  # other tests in this process use the same bucket name
        server.stop()


def _reset_moto(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()


def s3_keys(client: Any, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


# --- case 4: keys never leave their root ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("../other/b.csv", "a '..' segment"),
        ("sub/../../other/b.csv", "a '..' segment"),
        ("/other/b.csv", "absolute"),
        ("sub//b.csv", "an empty segment"),
        ("./a.csv", "a '.' segment"),
        ("a.csv\x00", "a NUL character"),
    ],
)
def test_a_manifest_entry_outside_its_prefix_fails_the_job_naming_manifest_entry_and_root(
    tmp_path: Path, entry: str, problem: str
) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.csv").write_bytes(id_lines(1, 3))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "b.csv").write_bytes(id_lines(10, 3))
    manifest = tmp_path / "inputs.manifest"
    prefix = (tmp_path / "in").as_uri() + "/"
    manifest.write_text(json.dumps([{"prefix": prefix}, "a.csv", entry]))
    before = files_under(tmp_path)

    result, _ = run_fake(manifest_request(manifest.as_uri(), (tmp_path / "out").as_uri()), tmp_path)

    assert result.status == "Failed"
    reason = result.describe["FailureReason"]
    assert reason.startswith(f"ClientError: {manifest.as_uri()}: entry 3 {entry!r}")
    assert f"not a key under the prefix {prefix}" in reason and problem in reason
    assert files_under(tmp_path) == before  # no .out anywhere, inside or outside S3OutputPath


def test_a_percent_encoded_manifest_entry_is_a_file_name_not_a_way_out(tmp_path: Path) -> None:
    """`%2e%2e` is the name of a file in the prefix's folder, never `..` once a URI is turned into a path."""
    (tmp_path / "in" / "%2e%2e" / "other").mkdir(parents=True)
    (tmp_path / "in" / "%2e%2e" / "other" / "b.csv").write_bytes(id_lines(5, 2))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "b.csv").write_bytes(id_lines(10, 3))
    manifest = tmp_path / "inputs.manifest"
    manifest.write_text(json.dumps([{"prefix": (tmp_path / "in").as_uri() + "/"}, "%2e%2e/other/b.csv"]))

    result, _ = run_fake(manifest_request(manifest.as_uri(), (tmp_path / "out").as_uri()), tmp_path)

    assert result.status == "Completed", result.describe.get("FailureReason")
    assert files_under(tmp_path / "out") == {"%2e%2e/other/b.csv.out"}
    assert (tmp_path / "out" / "%2e%2e" / "other" / "b.csv.out").read_text().split() == ["5", "6"]
    assert not (tmp_path / "other" / "b.csv.out").exists()


def test_a_url_special_character_in_a_file_name_keeps_its_output_beside_it(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for name in ("a#1.csv", "b?x.csv", "c%20d.csv"):
        (tmp_path / "in" / name).write_bytes(id_lines(1, 2))

    result, _ = run_fake(request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri()), tmp_path)

    assert result.status == "Completed", result.describe.get("FailureReason")
    assert sorted(files_under(tmp_path / "out")) == ["a#1.csv.out", "b?x.csv.out", "c%20d.csv.out"]


def test_a_manifest_on_s3_refuses_an_entry_outside_its_prefix(tmp_path: Path, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/a.csv", Body=id_lines(1, 3))
    s3.put_object(Bucket=BUCKET, Key="in/../other/b.csv", Body=id_lines(10, 3))  # S3 keeps `..` literally
    manifest = json.dumps([{"prefix": f"s3://{BUCKET}/in/"}, "a.csv", "../other/b.csv"]).encode()
    s3.put_object(Bucket=BUCKET, Key="manifests/inputs.manifest", Body=manifest)

    result, _ = run_fake(manifest_request(f"s3://{BUCKET}/manifests/inputs.manifest", f"s3://{BUCKET}/out/"), tmp_path)

    assert result.status == "Failed"
    assert result.describe["FailureReason"].startswith(
        f"ClientError: s3://{BUCKET}/manifests/inputs.manifest: entry 3 '../other/b.csv' is not a key under the "
        f"prefix s3://{BUCKET}/in/"
    )
    assert s3_keys(s3, "out") == [] and not files_under(tmp_path).intersection({"other/b.csv.out", "b.csv.out"})


def test_an_s3_key_with_dot_dot_fails_only_its_file_and_never_writes_outside_a_local_output(
    tmp_path: Path, s3: Any
) -> None:
    """S3 input, local output: the S3 key `in/../../escaped.csv` must not become ../../escaped.csv.out."""
    s3.put_object(Bucket=BUCKET, Key="in/a.csv", Body=id_lines(1, 3))
    s3.put_object(Bucket=BUCKET, Key="in/../../escaped.csv", Body=id_lines(10, 3))
    out = tmp_path / "deep" / "out"
    before = files_under(tmp_path)

    result, _ = run_fake(request(f"s3://{BUCKET}/in/", out.as_uri()), tmp_path)

    assert result.status == "Failed"
    (failed,) = [f for f in result.files if f.error]
    assert failed.input_uri == f"s3://{BUCKET}/in/../../escaped.csv"
    assert failed.error == (
        f"s3://{BUCKET}/in/../../escaped.csv: its output key '../../escaped.csv.out' is not a key under "
        f"S3OutputPath {out.as_uri()} (it has a '..' segment)"
    )
    assert files_under(out) == {"a.csv.out"}
    assert {p for p in files_under(tmp_path) - before if not p.startswith(("logs/", "fake-"))} == {"deep/out/a.csv.out"}


def test_an_s3_key_with_dot_dot_fails_only_its_file_on_an_s3_output(tmp_path: Path, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/a.csv", Body=id_lines(1, 3))
    s3.put_object(Bucket=BUCKET, Key="in/../x.csv", Body=id_lines(10, 3))
    s3.put_object(Bucket=BUCKET, Key="in//y.csv", Body=id_lines(20, 3))

    result, _ = run_fake(request(f"s3://{BUCKET}/in/", f"s3://{BUCKET}/out/"), tmp_path)

    assert result.status == "Failed"
    assert sorted((f.input_uri.removeprefix(f"s3://{BUCKET}/"), f.error is not None) for f in result.files) == [
        ("in/../x.csv", True), ("in//y.csv", True), ("in/a.csv", False)]  # fmt: skip
    assert s3_keys(s3, "out") == ["out/a.csv.out"]


def test_a_symbolic_link_inside_the_output_folder_is_not_followed_out_of_it(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.csv").write_bytes(id_lines(1, 2))
    (tmp_path / "in" / "sub" / "b.csv").write_bytes(id_lines(3, 2))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(tmp_path / "elsewhere")

    result, _ = run_fake(request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri()), tmp_path)

    assert result.status == "Failed"
    (failed,) = [f for f in result.files if f.error]
    assert failed.error is not None and failed.error.endswith(
        f"its output key 'sub/b.csv.out' is not a key under S3OutputPath {(tmp_path / 'out').as_uri()} "
        f"(it resolves to {tmp_path / 'elsewhere' / 'b.csv.out'}, through a symbolic link)"
    )
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert (tmp_path / "out" / "a.csv.out").exists()


@pytest.mark.parametrize(
    ("key", "stays"),
    [
        ("a.csv", True), ("day=1/late/c.csv", True), ("a\\..\\..\\b.csv", True),  # `\\` is no separator here
        ("..a/b..", True), ("../b.csv", False), ("a/..", False), ("a/./b", False), ("a//b", False), ("/b", False),
        ("", False),
    ],
)  # fmt: skip
def test_one_key_rule_for_folders_and_s3(tmp_path: Path, key: str, stays: bool) -> None:
    folder = tmp_path / "out"
    if stays:
        assert local_path(child_uri(folder.as_uri(), key)) == folder / key
        assert child_uri("s3://bucket/out", key) == f"s3://bucket/out/{key}"
        return
    for root in (folder.as_uri(), "s3://bucket/out"):
        with pytest.raises(UnsafeKeyError, match=f"^{re.escape(repr(key))} is not a key under {root} \\(it "):
            child_uri(root, key)


# --- case 8: a full output disk ---------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB filesystem (tmpfs), so writes end in ENOSPC as on a full disk."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a 64 KiB tmpfs needs root and mount(8)")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, timeout=30)


def features_csv(rows: int, seed: int) -> bytes:
    x = np.random.default_rng(seed).normal(size=(rows, 6))
    return ("\n".join(",".join(f"{v:.6f}" for v in row) for row in x) + "\n").encode()


def run_cli(
    tmp_path: Path, req: dict[str, Any], model_dir: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`leafline transform` as a process of its own, killed with its children if it outlives JOB_TIMEOUT_S."""
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(req))
    command = [sys.executable, "-m", "leafline", "transform", str(request_file), "--model-dir", str(model_dir),
               "--no-progress", "--logs", str(tmp_path / "logs")]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env={**os.environ, **env})  # fmt: skip
    try:
        out, err = process.communicate(timeout=JOB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"leafline transform still running after {JOB_TIMEOUT_S} s: it hangs")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.mark.parametrize("strategy", ["MultiRecord", "SingleRecord"])
def test_a_full_output_disk_fails_the_job_naming_the_path_and_never_hangs(
    tmp_path: Path, tiny_disk: Path, binary_model_dir: Path, strategy: str
) -> None:
    (tmp_path / "in").mkdir()
    for i in range(3):  # ~3 x 60 KB of scores for a 64 KiB disk
        (tmp_path / "in" / f"part-{i}.csv").write_bytes(features_csv(3000, i))
    out = tiny_disk / "out"
    req = request((tmp_path / "in").as_uri(), out.as_uri(), BatchStrategy=strategy, MaxConcurrentTransforms=2)

    done = run_cli(tmp_path, req, binary_model_dir, {})

    assert done.returncode == 1, done.stderr
    printed = json.loads(done.stdout)
    assert printed["TransformJobStatus"] == "Failed"
    failed = [f for f in printed["Metrics"]["per_file"] if f["error"]]
    assert failed and all("No space left on device writing " in f["error"] for f in failed), failed
    assert all(f["error"].startswith(f["input_uri"]) and f["output_uri"] in f["error"] for f in failed)
    left = files_under(out) if out.exists() else set()
    assert not {p for p in left if p.endswith(".partial")}  # no staging copy left behind
    finished = {Path(f["output_uri"]).name for f in printed["Metrics"]["per_file"] if not f["error"]}
    assert {p for p in left if p.endswith(".out")} == finished  # only whole outputs, under their final names


def test_a_full_staging_disk_fails_an_s3_output_and_never_hangs(
    tmp_path: Path, tiny_disk: Path, binary_model_dir: Path, s3: Any
) -> None:
    """An S3 output is staged in TMPDIR first: that disk filling up is the same failure, never a hang."""
    for i in range(2):  # ~77 KB of scores each: a staging copy is removed once uploaded, so each is over 64 KiB
        s3.put_object(Bucket=BUCKET, Key=f"in/part-{i}.csv", Body=features_csv(4000, i))

    done = run_cli(tmp_path, request(f"s3://{BUCKET}/in/", f"s3://{BUCKET}/out/"), binary_model_dir,
                   {"TMPDIR": str(tiny_disk)})  # fmt: skip

    assert done.returncode == 1, done.stderr
    printed = json.loads(done.stdout)
    errors = [f["error"] for f in printed["Metrics"]["per_file"]]
    assert len(errors) == 2 and all(f"No space left on device writing {tiny_disk}/" in str(e) for e in errors), errors
    assert not [p for p in files_under(tiny_disk) if p.endswith(".partial")]
    assert s3_keys(s3, "out/") == []


# --- case 10: input that cannot be read -------------------------------------------------------------------

GOOD_GZIP = gzip.compress(id_lines(1, 2000))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (id_lines(1, 5), "not gzip data (CompressionType is Gzip): Not a gzipped file (b'1,')"),
        (GOOD_GZIP[: len(GOOD_GZIP) // 2], "truncated gzip data: Compressed file ended before the end-of-stream"),
        (GOOD_GZIP[:40] + bytes([GOOD_GZIP[40] ^ 0xFF]) + GOOD_GZIP[41:], "corrupt gzip data: "),
        (GOOD_GZIP[:-8] + b"\0\0\0\0" + GOOD_GZIP[-4:], "corrupt gzip data: CRC check failed"),
    ],
    ids=["not-gzip", "truncated", "corrupt-deflate", "bad-crc"],
)
def test_damaged_gzip_input_fails_its_file_naming_the_object_and_the_problem(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good.csv.gz").write_bytes(gzip.compress(id_lines(1, 3)))
    (tmp_path / "in" / "bad.csv.gz").write_bytes(data)
    req = request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri(), TransformInput={"CompressionType": "Gzip"})

    result, _ = run_fake(req, tmp_path)

    assert result.status == "Failed"
    (failed,) = [f for f in result.files if f.error]
    assert failed.error is not None
    assert failed.error.startswith(f"{(tmp_path / 'in' / 'bad.csv.gz').as_uri()}: "), failed.error
    assert problem in failed.error and "internal emulator error" not in failed.error
    assert files_under(tmp_path / "out") == {"good.csv.gz.out"}


class _DroppingS3(Storage):
    """The bucket's real objects, but every GetObject body ends half-way (a connection dropped mid-stream)."""

    def __init__(self) -> None:
        super().__init__()
        real_get = self.s3.get_object

        def get_object(**kwargs: Any) -> Any:
            answer = real_get(**kwargs)
            body = answer["Body"].read()
            answer["Body"] = StreamingBody(io.BytesIO(body[: len(body) // 2]), len(body))
            return answer

        self.s3.get_object = get_object  # type: ignore[method-assign]


def test_an_s3_stream_dropped_mid_object_fails_its_file_naming_it(tmp_path: Path, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/a.csv", Body=id_lines(1, 500))
    model = ModelSource(tmp_path, {})
    options = EmulatorOptions(serve_command=FAKE_CONTAINER, log_dir=tmp_path / "logs")

    result = run_transform_job(request(f"s3://{BUCKET}/in/", f"s3://{BUCKET}/out/"), model, options,
                               storage=_DroppingS3())  # fmt: skip

    (failed,) = result.files
    assert failed.error is not None and failed.error.startswith(f"s3://{BUCKET}/in/a.csv: cannot read (")
    assert "internal emulator error" not in failed.error and "expected" in failed.error
    assert s3_keys(s3, "out/") == []


def test_single_record_reads_an_s3_object_line_by_line(tmp_path: Path, s3: Any) -> None:
    """A guard for the reader S3 bodies now go through (botocore's body iterates in 1 KiB chunks, not lines;
    its length and checksum checks are kept): each request is still exactly one record."""
    s3.put_object(Bucket=BUCKET, Key="in/a.csv", Body=id_lines(1, 300, width=30))

    result, log = run_fake(request(f"s3://{BUCKET}/in/", f"s3://{BUCKET}/out/", BatchStrategy="SingleRecord"),
                           tmp_path)  # fmt: skip

    assert result.status == "Completed", result.describe.get("FailureReason")
    assert [e["records"] for e in invocations(log)] == [1] * 300
    body = s3.get_object(Bucket=BUCKET, Key="out/a.csv.out")["Body"].read()
    assert body.decode().split() == [str(i) for i in range(1, 301)]


def test_a_manifest_entry_naming_a_folder_fails_the_job_as_a_missing_object(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.csv").write_bytes(id_lines(1, 2))
    manifest = tmp_path / "inputs.manifest"
    manifest.write_text(json.dumps([{"prefix": (tmp_path / "in").as_uri() + "/"}, "a.csv", "sub"]))

    result, _ = run_fake(manifest_request(manifest.as_uri(), (tmp_path / "out").as_uri()), tmp_path)

    assert result.status == "Failed"
    assert result.describe["FailureReason"] == (
        f"ClientError: {(tmp_path / 'in' / 'sub').as_uri()}: cannot read (a folder, not a file)"
    )


def test_a_fifo_under_the_prefix_is_not_an_object_and_does_not_block_the_job(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(id_lines(1, 2))
    fifo = tmp_path / "in" / "pipe.csv"
    os.mkfifo(fifo)
    outcome: list[TransformJobResult] = []
    job = threading.Thread(
        target=lambda: outcome.append(run_fake(request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri()),
                                               tmp_path)[0]),
        daemon=True,
    )  # fmt: skip
    job.start()
    job.join(timeout=60)
    if job.is_alive():  # blocked opening the FIFO: give it a writer so the job (and this test) can end
        with open(fifo, "wb"):
            pass
        job.join(timeout=60)
        pytest.fail("the job blocked reading a FIFO")

    (result,) = outcome
    assert result.status == "Completed", result.describe.get("FailureReason")
    assert files_under(tmp_path / "out") == {"a.csv.out"}


DEEP = "[" * 100_000 + "]" * 100_000  # past Python's recursion limit: json raises RecursionError, not ValueError


def test_a_deeply_nested_manifest_fails_the_job_naming_it(tmp_path: Path) -> None:
    manifest = tmp_path / "inputs.manifest"
    manifest.write_text(DEEP)

    result, _ = run_fake(manifest_request(manifest.as_uri(), (tmp_path / "out").as_uri()), tmp_path)

    assert result.status == "Failed"
    assert result.describe["FailureReason"].startswith(f"ClientError: {manifest.as_uri()}: the manifest is not valid")
    assert "nested too deeply" in result.describe["FailureReason"]


def test_a_deeply_nested_input_record_fails_its_file_under_data_processing(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good.jsonl").write_text('{"id": 1, "features": 5}\n')
    (tmp_path / "in" / "deep.jsonl").write_text('{"id": 1, "features": 5}\n' + DEEP + "\n")
    req = request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri(),
                  TransformInput={"ContentType": "application/jsonlines"},
                  TransformOutput={"Accept": "application/jsonlines"},
                  DataProcessing={"InputFilter": "$.features"})  # fmt: skip

    result, _ = run_fake(req, tmp_path)

    assert result.status == "Failed"
    (failed,) = [f for f in result.files if f.error]
    assert failed.input_uri.endswith("/deep.jsonl") and failed.error is not None
    assert "not valid application/jsonlines (nested too deeply)" in failed.error, failed.error
    assert "internal emulator error" not in failed.error
    assert files_under(tmp_path / "out") == {"good.jsonl.out"}


def test_a_deeply_nested_request_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from leafline.cli import main

    (tmp_path / "request.json").write_text(DEEP)

    code = main(["transform", str(tmp_path / "request.json"), "--model-dir", str(tmp_path)])

    assert code == 2
    assert "request.json: not valid JSON (nested too deeply)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content_type", "response", "problem"),
    [
        ("application/jsonlines", DEEP.encode(), "nested too deeply"),
        ("text/csv", b'"' + b"x" * 200_000 + b'"\n', "field larger than field limit"),
    ],
)
def test_a_container_response_the_join_cannot_read_fails_with_a_named_error(
    content_type: str, response: bytes, problem: str
) -> None:
    from leafline.sagemaker.request import parse_request
    from leafline.transform.dataprocessing import DataProcessingError, build_processor

    raw = request("file:///in/", "file:///out/", TransformInput={"ContentType": content_type},
                  TransformOutput={"Accept": content_type}, DataProcessing={"JoinSource": "Input"})  # fmt: skip
    parsed = parse_request(raw)
    processor = build_processor(parsed.data_processing, content_type, content_type, split_lines=True, inclusive=True)
    assert processor is not None

    with pytest.raises(DataProcessingError, match=f"records from 1: unreadable container response .*{problem}"):
        processor.assemble(b'{"id": 1}' if content_type != "text/csv" else b"1,2", response, 1)
