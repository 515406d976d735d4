"""Configuration through the environment, as SageMaker sets it, against the real server process."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm
import numpy as np

from leafline.processes.server import ServerProcess
from tests.model_kinds import scoring_rows, to_csv

CSV = {"Content-Type": "text/csv"}


def test_payload_over_max_payload_in_mb_is_413_and_the_server_keeps_serving(binary_model_dir: Path) -> None:
    with ServerProcess(binary_model_dir, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}) as server:
        params = json.loads(server.request("GET", "/execution-parameters")[2])
        too_big = b"1,2,3,4,5,6\n" * (2**20 // 12 + 1)
        status, _, body = server.request("POST", "/invocations", too_big, CSV)
        assert params["MaxPayloadInMB"] == 1
        assert status == 413
        assert f"payload of {len(too_big)} bytes exceeds MaxPayloadInMB (1 MB = 1048576 bytes)" in body.decode()
        fits = b"1,2,3,4,5,6\n" * (2**20 // 12)
        status, _, body = server.request("POST", "/invocations", fits, CSV)
        assert status == 200 and body.count(b"\n") == 2**20 // 12


def test_threshold_turns_binary_probabilities_into_labels(binary_model_dir: Path) -> None:
    x = scoring_rows(6, rows=400)
    expected = np.asarray(lightgbm.Booster(model_file=str(binary_model_dir / "model.txt")).predict(x)) >= 0.3
    with ServerProcess(binary_model_dir, env={"PREDICTION_THRESHOLD": "0.3"}) as server:
        status, _, body = server.request("POST", "/invocations", to_csv(x), CSV)
    labels = body.decode().split()
    assert status == 200 and set(labels) == {"0", "1"}
    assert [label == "1" for label in labels] == list(expected)


def test_multiclass_model_writes_k_columns(multiclass_model_dir: Path) -> None:
    x = scoring_rows(6, rows=50)
    expected = lightgbm.Booster(model_file=str(multiclass_model_dir / "model.txt")).predict(x)
    with ServerProcess(multiclass_model_dir, env={"PREDICTION_THRESHOLD": "0.5"}) as server:
        status, _, body = server.request("POST", "/invocations", to_csv(x), CSV)
        events = server.log_events()
    rows = [[float(v) for v in line.split(",")] for line in body.decode().splitlines()]
    assert status == 200
    np.testing.assert_allclose(np.array(rows), expected, rtol=0, atol=1e-12)
    assert any(e["event"] == "threshold_ignored" for e in events)


def test_default_accept_comes_from_sagemaker_default_invocations_accept(binary_model_dir: Path) -> None:
    env = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/jsonlines"}
    with ServerProcess(binary_model_dir, env=env) as server:
        _, headers, body = server.request("POST", "/invocations", b"1,2,3,4,5,6\n", CSV)
    assert headers["content-type"] == "application/jsonlines"
    assert isinstance(json.loads(body.splitlines()[0]), float)


def test_concurrency_comes_from_sagemaker_max_concurrent_transforms(binary_model_dir: Path) -> None:
    with ServerProcess(binary_model_dir, env={"SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3"}) as server:
        params = json.loads(server.request("GET", "/execution-parameters")[2])
    assert params["MaxConcurrentTransforms"] == 3
    assert params["MaxConcurrentTransforms"] * params["MaxPayloadInMB"] <= 100


def test_profiling_endpoint_when_enabled_reports_the_requests_it_saw(binary_model_dir: Path) -> None:
    with ServerProcess(binary_model_dir, env={"LEAFLINE_PROFILING": "1"}) as server:
        server.request("POST", "/invocations", b"1,2,3,4,5,6\n", CSV)
        stats = json.loads(server.request("GET", "/debug/stats")[2])
        status, _, profile = server.request("GET", "/debug/profile?seconds=0.2")
    assert stats["requests"] == 1 and stats["rows"] == 1 and "predict" in stats["stage_ms_total"]
    assert status == 200 and b"no requests ran during the 0.2 s window" in profile


def test_sigterm_stops_the_server_cleanly(binary_model_dir: Path) -> None:
    server = ServerProcess(binary_model_dir).start()
    assert server.stop() == 0
    assert server.log_events()[-1]["event"] == "stopped"
