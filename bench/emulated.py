"""The emulator's throughput: a multi-file Batch Transform job over the same model and payload size.

The input is FILES files, each the benchmark batch repeated COPIES times (so payloads are cut by the
emulator, not aligned with the batch), scored with the settings the container advertises (MCT = cores,
6 MB), exactly as `leafline transform` runs it. Reported: rows/s over the transform phase (first request
to last .out published) and end to end (including starting the instance).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from bench.workload import CACHE
from leafline.transform.job import ModelSource, run_transform_job

FILES = 8
COPIES = 8


def input_folder(body: bytes) -> Path:
    folder = CACHE / "emulator-input"
    expected = len(body) * COPIES
    files = sorted(folder.glob("*.csv"))
    if len(files) != FILES or any(f.stat().st_size != expected for f in files):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for index in range(FILES):
            (folder / f"part-{index:02d}.csv").write_bytes(body * COPIES)
    return folder


def run_job(model_dir: Path, body: bytes, workdir: Path) -> dict[str, Any]:
    source = input_folder(body)
    output = workdir / "emulator-output"
    shutil.rmtree(output, ignore_errors=True)
    request = {
        "TransformJobName": "leafline-bench",
        "ModelName": "bench",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source.resolve().as_uri() + "/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": output.resolve().as_uri(), "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    started = time.perf_counter()
    result = run_transform_job(request, ModelSource(model_dir))
    total = time.perf_counter() - started
    assert result.status == "Completed", result.describe.get("FailureReason")
    metrics = result.metrics
    shutil.rmtree(output, ignore_errors=True)
    return {
        "rows": metrics["records"],
        "files": metrics["files"],
        "transform_rows_per_s": metrics["rows_per_s"],
        "end_to_end_rows_per_s": metrics["records"] / total,
        "mct": metrics["settings"]["MaxConcurrentTransforms"]["value"],
    }
