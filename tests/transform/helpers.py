"""Building requests and inputs for emulator tests."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np

from leafline.transform.job import EmulatorOptions, ModelSource, TransformJobResult, run_transform_job

FAKE_CONTAINER = [sys.executable, str(Path(__file__).parents[1] / "fixtures" / "fake_container.py")]


def request(input_uri: str, output_uri: str, **overrides: Any) -> dict[str, Any]:
    """A CreateTransformJob request; overrides merge one level deep (e.g. TransformInput={...})."""
    base: dict[str, Any] = {
        "TransformJobName": "leafline-test",
        "ModelName": "leafline-model",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def run_fake(req: dict[str, Any], tmp_path: Path, **env: str) -> tuple[TransformJobResult, list[dict[str, Any]]]:
    """Run against the fake container; returns the result and the container's invocation log."""
    log = tmp_path / f"fake-{len(list(tmp_path.glob('fake-*.jsonl')))}.jsonl"
    model = ModelSource(tmp_path, {"FAKE_LOG": str(log), **env})
    result = run_transform_job(req, model, EmulatorOptions(serve_command=FAKE_CONTAINER, log_dir=tmp_path / "logs"))
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, entries


def invocations(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in log if "call" in entry]


def id_lines(first: int, count: int, width: int = 0) -> bytes:
    """Records whose first field is their number: `7,xxxx` (padded to `width` bytes without the newline)."""
    lines = []
    for number in range(first, first + count):
        line = f"{number},"
        lines.append(line + "x" * max(0, width - len(line)))
    return ("\n".join(lines) + "\n").encode()


def lightgbm_scores(model_dir: Path, csv_bytes: bytes) -> np.ndarray:
    rows = np.loadtxt(csv_bytes.decode().splitlines(), delimiter=",", ndmin=2)
    booster = lightgbm.Booster(model_file=str(model_dir / "model.txt"))
    return np.asarray(booster.predict(rows))


def read_scores(path: Path) -> np.ndarray:
    return np.array([float(line) for line in path.read_text().splitlines()])
