"""The files around the image: the build context lets through what the Dockerfile copies, docker-compose.yml
wires seed 002's stack (healthcheck, depends_on healthy), and its consumer scores against the real server,
directly or through local AWS's InvokeEndpoint, changing only configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import yaml

from leafline.local_aws.server import LocalAws
from leafline.processes.server import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
CONSUMER = ROOT / "examples" / "consumer" / "score_sample.py"


def _copied_sources() -> list[str]:
    sources = []
    lines = (ROOT / "inference_image" / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources.extend(words[1:-1])
    return sources


def test_the_build_context_lets_through_every_file_the_dockerfile_copies() -> None:
    allowed = [line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    blocked = [src for src in _copied_sources()
               if not any(src == a.rstrip("/") or src.startswith(a) for a in allowed)]  # fmt: skip
    assert _copied_sources() and blocked == []


def test_compose_runs_the_image_as_sagemaker_does_and_the_consumer_waits_until_healthy() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    scoring, consumer = compose["services"]["scoring"], compose["services"]["consumer"]
    assert scoring["command"] == ["serve"] and scoring["read_only"] is True
    assert "/ping" in " ".join(scoring["healthcheck"]["test"])
    assert any(v.endswith(":/opt/ml/model:ro") and v.startswith("./demo-output/model") for v in scoring["volumes"])
    assert consumer["depends_on"] == {"scoring": {"condition": "service_healthy"}}
    assert consumer["environment"]["SCORING_URL"] == "http://scoring:8080"  # the service's compose name
    assert any(v.startswith("./examples/consumer:") for v in consumer["volumes"])


def _consumer(env: dict[str, str], rows: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, str(CONSUMER)], input=rows, capture_output=True, check=False,
                          env={**os.environ, **env})  # fmt: skip


def _expected(model_dir: Path, rows: bytes) -> Any:
    import lightgbm

    booster = lightgbm.Booster(model_file=str(model_dir / "model.txt"))
    return booster.predict(np.genfromtxt(rows.splitlines(), delimiter=","))


def test_the_consumer_scores_against_the_container_over_http(server: ServerProcess, binary_model_dir: Path) -> None:
    from leafline import samples

    rows = samples.csv_batch(4, 9, 6)
    done = _consumer({"SCORING_URL": f"http://127.0.0.1:{server.port}"}, rows)
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose([float(v) for v in done.stdout.splitlines()], _expected(binary_model_dir, rows),
                               atol=1e-6)  # fmt: skip
    bad = _consumer({"SCORING_URL": f"http://127.0.0.1:{server.port}"}, b"1,2\n")
    assert bad.returncode == 1 and b"answered 400" in bad.stderr and b"Traceback" not in bad.stderr


def test_the_same_consumer_scores_through_a_local_aws_endpoint(
    local_aws: LocalAws, binary_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leafline import samples
    from tests.local_aws.helpers import create_endpoint, create_model, register_model

    sagemaker = boto3.client("sagemaker")
    create_model(sagemaker, "search-scorer", register_model(binary_model_dir))
    create_endpoint(sagemaker, "search", "search-scorer")
    local_aws.app.endpoints.wait_ready("sa-east-1", "search", timeout=120)  # type: ignore[union-attr]
    rows = samples.csv_batch(4, 9, 6)

    done = _consumer({"SAGEMAKER_ENDPOINT_NAME": "search"}, rows)

    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose([float(v) for v in done.stdout.splitlines()], _expected(binary_model_dir, rows),
                               atol=1e-6)  # fmt: skip
