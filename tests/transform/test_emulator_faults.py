"""The emulator against a misbehaving container: the faults SageMaker local mode gets wrong, one test each."""

from __future__ import annotations

import io
import json
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from leafline.transform.job import EmulatorOptions, ModelSource, run_transform_job
from leafline.transform.progress import JobProgress, ProgressLine
from tests.transform.helpers import FAKE_CONTAINER, id_lines, invocations, request, run_fake

MIB = 2**20


def folder(tmp_path: Path, files: dict[str, bytes]) -> str:
    root = tmp_path / "in"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root.as_uri()


def test_a_500_fails_the_file_instead_of_becoming_its_output(tmp_path: Path) -> None:
    req = request(folder(tmp_path, {"a.csv": id_lines(1, 10)}), (tmp_path / "out").as_uri(),
                  ModelClientConfig={"InvocationsMaxRetries": 0})  # fmt: skip

    result, log = run_fake(req, tmp_path, FAKE_FAIL_FIRST="1", FAKE_FAIL_STATUS="500")

    assert result.status == "Failed"
    assert result.describe["FailureReason"].endswith("a.csv: records 1-10: ClientError: 500: transient failure 1")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())  # no .out, no partial file
    assert len(invocations(log)) == 1


def test_a_container_answering_500_twice_then_200_is_retried_and_succeeds(tmp_path: Path) -> None:
    req = request(folder(tmp_path, {"a.csv": id_lines(1, 10)}), (tmp_path / "out").as_uri())

    result, log = run_fake(req, tmp_path, FAKE_FAIL_FIRST="2", FAKE_FAIL_STATUS="500")

    assert result.status == "Completed"
    assert (tmp_path / "out" / "a.csv.out").read_text().split() == [str(i) for i in range(1, 11)]
    assert len(invocations(log)) == 3
    assert result.metrics["instances"][0]["retries"] == 2


def test_a_400_is_not_retried(tmp_path: Path) -> None:
    req = request(folder(tmp_path, {"a.csv": id_lines(1, 3)}), (tmp_path / "out").as_uri())

    result, log = run_fake(req, tmp_path, FAKE_FAIL_FIRST="1", FAKE_FAIL_STATUS="400")

    assert result.status == "Failed"
    assert len(invocations(log)) == 1


def test_a_container_that_never_answers_in_time_fails_after_the_retries(tmp_path: Path) -> None:
    req = request(folder(tmp_path, {"a.csv": id_lines(1, 2)}), (tmp_path / "out").as_uri(),
                  ModelClientConfig={"InvocationsTimeoutInSeconds": 1, "InvocationsMaxRetries": 1})  # fmt: skip

    result, log = run_fake(req, tmp_path, FAKE_SLEEP_S="3")

    assert result.status == "Failed"
    assert (
        "a.csv: records 1-2: Unable to get response from algorithm: no response within 1 s"
        in (result.describe["FailureReason"])
    )
    assert len(invocations(log)) == 2  # the first try and one retry


def test_one_failing_file_among_many_fails_the_job_and_only_that_file(tmp_path: Path) -> None:
    files = {f"part-{i}.csv": id_lines(i * 100, 50) for i in range(6)}
    files["part-3.csv"] = id_lines(300, 20) + b"poison,1\n" + id_lines(321, 29)
    req = request(folder(tmp_path, files), (tmp_path / "out").as_uri(), MaxConcurrentTransforms=2,
                  TransformResources={"InstanceCount": 2})  # fmt: skip

    result, _ = run_fake(req, tmp_path, FAKE_FAIL_MARKER="poison")

    assert result.status == "Failed"
    reason = result.describe["FailureReason"]
    assert reason.startswith("ClientError: 1 of 6 input files failed: ")
    assert "part-3.csv: records 1-50: ClientError: 400: bad record: poison" in reason
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outputs == [f"part-{i}.csv.out" for i in (0, 1, 2, 4, 5)]  # no partial files left either


def test_requests_run_concurrently_and_come_back_in_input_order(tmp_path: Path) -> None:
    data = id_lines(1, 4000, width=1000)  # ~4 MB of 1000-byte records: ~4 payloads of 1 MB per file
    req = request(folder(tmp_path, {"big.csv": data}), (tmp_path / "out").as_uri(),
                  MaxConcurrentTransforms=4, MaxPayloadInMB=1)  # fmt: skip

    result, log = run_fake(req, tmp_path, FAKE_SLEEP_S="0.2")

    assert result.status == "Completed"
    assert max(entry["in_flight"] for entry in invocations(log)) == 4
    assert (tmp_path / "out" / "big.csv.out").read_text().split() == [str(i) for i in range(1, 4001)]


def test_multi_record_packs_whole_records_up_to_the_exact_byte_limit(tmp_path: Path) -> None:
    half = MIB // 2  # two records of half a MiB joined by one newline: exactly 1 MiB + 1 byte
    fits = id_lines(1, 1, width=half) + id_lines(2, 1, width=half - 1) + id_lines(3, 1, width=10)
    req = request(folder(tmp_path, {"a.csv": fits}), (tmp_path / "out").as_uri(), MaxPayloadInMB=1)

    result, log = run_fake(req, tmp_path)

    assert result.status == "Completed"
    assert [(e["bytes"], e["records"]) for e in invocations(log)] == [(MIB, 2), (10, 1)]


def test_single_record_sends_one_record_per_request(tmp_path: Path) -> None:
    req = request(folder(tmp_path, {"a.csv": id_lines(1, 5, width=20)}), (tmp_path / "out").as_uri(),
                  BatchStrategy="SingleRecord")  # fmt: skip

    result, log = run_fake(req, tmp_path)

    assert result.status == "Completed"
    assert [(e["bytes"], e["records"]) for e in invocations(log)] == [(20, 1)] * 5
    assert (tmp_path / "out" / "a.csv.out").read_text() == "1\n2\n3\n4\n5\n"


@pytest.mark.parametrize("strategy", ["SingleRecord", "MultiRecord"])
def test_a_record_of_exactly_the_limit_is_sent_and_one_byte_more_fails_its_file(tmp_path: Path, strategy: str) -> None:
    files = {"exact.csv": id_lines(1, 1, width=MIB), "over.csv": id_lines(1, 1) + id_lines(2, 1, width=MIB + 1)}
    req = request(folder(tmp_path, files), (tmp_path / "out").as_uri(), MaxPayloadInMB=1, BatchStrategy=strategy)

    result, log = run_fake(req, tmp_path)

    assert result.status == "Failed"
    assert "over.csv: record 2 (line 2) is" in result.describe["FailureReason"]
    assert "over the 1 MB (1048576 bytes) payload limit" in result.describe["FailureReason"]
    assert max(e["bytes"] for e in invocations(log)) == MIB  # the oversized record was never sent
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["exact.csv.out"]


def test_blank_lines_are_not_records_and_no_payload_is_empty(tmp_path: Path) -> None:
    req = request(folder(tmp_path, {"a.csv": b"\n\n1,a\n\n2,b\r\n\n", "empty.csv": b""}), (tmp_path / "out").as_uri(),
                  BatchStrategy="SingleRecord")  # fmt: skip

    result, log = run_fake(req, tmp_path)

    assert result.status == "Completed"
    assert [e["bytes"] for e in invocations(log)] == [3, 3]
    assert (tmp_path / "out" / "a.csv.out").read_text() == "1\n2\n"
    assert (tmp_path / "out" / "empty.csv.out").read_bytes() == b""  # every input file has its .out


def test_assemble_with_line_adds_no_blank_line_after_a_response_ending_in_newline(tmp_path: Path) -> None:
    source = folder(tmp_path, {"a.csv": id_lines(1, 3)})
    lines, _ = run_fake(request(source, (tmp_path / "line").as_uri()), tmp_path)
    raw, _ = run_fake(request(source, (tmp_path / "none").as_uri(), TransformOutput={"AssembleWith": "None"}), tmp_path)

    assert lines.status == raw.status == "Completed"
    assert (tmp_path / "line" / "a.csv.out").read_text() == "1\n2\n3\n"
    assert (tmp_path / "none" / "a.csv.out").read_text() == "1\n2\n3\n"  # the response bytes, as they came


def test_the_container_gets_the_batch_environment_and_settings_only_when_requested(tmp_path: Path) -> None:
    source = folder(tmp_path, {"a.csv": id_lines(1, 3)})
    params = json.dumps({"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 2})
    from_container, log1 = run_fake(request(source, (tmp_path / "o1").as_uri(), Environment={"JOB_FLAG": "1"}),
                                    tmp_path, FAKE_EXEC_PARAMS=params)  # fmt: skip
    from_request, log2 = run_fake(
        request(source, (tmp_path / "o2").as_uri(), MaxConcurrentTransforms=5, BatchStrategy="SingleRecord"),
        tmp_path, FAKE_EXEC_PARAMS=params,
    )  # fmt: skip
    defaults, _ = run_fake(request(source, (tmp_path / "o3").as_uri()), tmp_path)

    env1, env2 = log1[0]["environment"], log2[0]["environment"]
    assert env1 == {
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_BIND_TO_PORT": env1["SAGEMAKER_BIND_TO_PORT"],
        "JOB_FLAG": "1",
    }
    assert env2["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] == "5"
    assert env2["SAGEMAKER_BATCH_STRATEGY"] == "SINGLE_RECORD"
    assert "SAGEMAKER_MAX_PAYLOAD_IN_MB" not in env2
    settings = {k: (v["value"], v["source"]) for k, v in from_container.metrics["settings"].items()}
    assert settings == {"MaxConcurrentTransforms": (3, "container"), "MaxPayloadInMB": (2, "container"),
                        "BatchStrategy": ("MultiRecord", "container")}  # fmt: skip
    assert from_request.describe["MaxConcurrentTransforms"] == 5
    assert from_request.describe["MaxPayloadInMB"] == 2  # the container still fills what the request leaves
    assert (defaults.describe["MaxConcurrentTransforms"], defaults.describe["MaxPayloadInMB"],
            defaults.describe["BatchStrategy"]) == (1, 6, "MultiRecord")  # fmt: skip
    assert invocations(log1)[0]["content_type"] == "text/csv"
    assert invocations(log1)[0]["accept"] == "text/csv"


def test_an_invalid_execution_parameters_answer_fails_the_job_clearly(tmp_path: Path) -> None:
    req = request(folder(tmp_path, {"a.csv": id_lines(1, 3)}), (tmp_path / "out").as_uri())

    result, _ = run_fake(
        req, tmp_path, FAKE_EXEC_PARAMS=json.dumps({"MaxConcurrentTransforms": 8, "MaxPayloadInMB": 20})
    )

    assert result.status == "Failed"
    assert "8 (container) x 20 (container) is over the 100 MB limit" in result.describe["FailureReason"]


def test_a_container_that_exits_at_start_fails_the_job_with_its_last_words(tmp_path: Path) -> None:
    req = request(folder(tmp_path, {"a.csv": id_lines(1, 3)}), (tmp_path / "out").as_uri())
    command = ["python3", "-c", "import sys; print('cannot load model.txt'); sys.exit(3)"]

    result = run_transform_job(req, ModelSource(tmp_path), EmulatorOptions(serve_command=command))

    assert result.status == "Failed"
    assert "instance 1 did not become healthy" in result.describe["FailureReason"]
    assert "exited with code 3: cannot load model.txt" in result.describe["FailureReason"]


def test_memory_follows_the_payload_limit_not_the_file_size(tmp_path: Path) -> None:
    req = request(folder(tmp_path, {"big.csv": id_lines(1, 60_000, width=1000)}), (tmp_path / "out").as_uri(),
                  MaxPayloadInMB=1, MaxConcurrentTransforms=2)  # fmt: skip  # a 60 MB file

    tracemalloc.start()
    try:
        result, _ = run_fake(req, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.status == "Completed"
    assert result.metrics["bytes_in"] > 55 * MIB
    assert peak < 20 * MIB, f"peak {peak / MIB:.1f} MiB for a 60 MB file"


def test_no_input_objects_fails_the_job(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()

    result, _ = run_fake(request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri()), tmp_path)

    assert result.status == "Failed"
    assert result.describe["FailureReason"].startswith("ClientError: no objects found under")
    _ = FAKE_CONTAINER


def test_split_type_none_sends_each_object_whole_and_fails_one_over_the_limit(tmp_path: Path) -> None:
    files = {"small.csv": id_lines(1, 3), "large.csv": id_lines(1, 2, width=MIB)}
    req = request(folder(tmp_path, files), (tmp_path / "out").as_uri(), MaxPayloadInMB=1,
                  TransformInput={"SplitType": "None"})  # fmt: skip

    result, log = run_fake(req, tmp_path)

    assert result.status == "Failed"
    assert "large.csv: with SplitType None the whole object is one payload" in result.describe["FailureReason"]
    assert [(e["bytes"], e["records"]) for e in invocations(log)] == [(len(id_lines(1, 3)), 3)]
    assert (tmp_path / "out" / "small.csv.out").read_text() == "1\n2\n3\n"


def test_a_stopped_job_ends_stopped_without_partial_outputs(tmp_path: Path) -> None:
    files = {f"part-{i}.csv": id_lines(1, 20) for i in range(10)}
    req = request(folder(tmp_path, files), (tmp_path / "out").as_uri(), BatchStrategy="SingleRecord")
    log = tmp_path / "fake.jsonl"
    stop = threading.Event()
    results: list[Any] = []
    model = ModelSource(tmp_path, {"FAKE_LOG": str(log), "FAKE_SLEEP_S": "0.05"})
    options = EmulatorOptions(serve_command=FAKE_CONTAINER, log_dir=tmp_path / "logs")
    runner = threading.Thread(target=lambda: results.append(run_transform_job(req, model, options, stop=stop)))
    runner.start()
    while runner.is_alive() and not (log.exists() and '"call"' in log.read_text()):
        stop.wait(0.01)  # poll for the first invocation, then stop the job (as StopTransformJob would)
    stop.set()
    runner.join()

    (result,) = results
    assert result.status == "Stopped"
    assert "FailureReason" not in result.describe
    written = [p.name for p in (tmp_path / "out").iterdir()] if (tmp_path / "out").exists() else []
    assert len([name for name in written if name.endswith(".out")]) < 10
    assert not [name for name in written if not name.endswith(".out")]  # no staging file left behind


def test_the_progress_line_counts_files_records_and_rate() -> None:
    progress = JobProgress(files_total=3)
    stream = io.StringIO()
    with ProgressLine(progress, stream=stream, interval_s=3600):
        progress.add_payload(records=1500, size=10)
        progress.file_finished(failed=False)
        progress.file_finished(failed=True)

    assert stream.getvalue().startswith("\r\x1b[2Kfiles 2/3 (1 failed) · 1,500 records · ")
    assert stream.getvalue().endswith(" s\n")
