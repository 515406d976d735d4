"""The image's share of the benchmark: size, start to first /ping and idle memory of the container run as
SageMaker runs it, against the same server started as a process in the same run (the baseline here)."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from leafline.processes.server import ServerProcess

RUNS = 5


def bench_image(image: str = "leafline:latest") -> dict[str, Any] | None:
    """None (with the reason printed) when no engine or no built image is here: run `make image` first."""
    from leafline.model.compiler import compile_model_dir
    from leafline.tools.demo.data import install_sample_model
    from leafline.tools.image import container
    from leafline.tools.image.engine import EngineError, find_engine
    from leafline.tools.image.engine_choice import workdir

    try:
        engine = find_engine(workdir())
    except EngineError as exc:
        print(f"image: skipped ({exc})")
        return None
    size = engine.run("image", "inspect", "--format", "{{.Size}}", image, check=False).strip()
    if not size:
        print(f"image: skipped (no {image} here; run `make image`)")
        return None
    with tempfile.TemporaryDirectory(prefix="bench-image-") as scratch:
        model_dir = Path(scratch) / "model"
        install_sample_model(model_dir)
        compile_model_dir(model_dir)
        mounted = container.readable_model_dir(model_dir, workdir() / "models")
        image_starts = container.start_times(engine, image, mounted, RUNS)
        process_starts = []
        for _ in range(RUNS):
            with ServerProcess(model_dir) as server:
                process_starts.append(server.ready_seconds)
        started = container.start(engine, image, mounted, {"SAGEMAKER_BIND_TO_PORT": "8080"})
        try:
            started.wait_ready()
            rss_kb = max(int(line.split()[1]) for line in engine.run("top", started.container_id, "pid", "rss")
                         .splitlines()[1:])  # fmt: skip
        finally:
            started.stop()
    return {
        "image": image,
        "size_mb": round(int(size) / 1e6, 1),
        "start_s_median": round(statistics.median(image_starts), 3),
        "start_s": [round(t, 3) for t in image_starts],
        "process_start_s_median": round(statistics.median(process_starts), 3),
        "idle_rss_mb": round(rss_kb / 1024, 1),
    }


def image_table(report: dict[str, Any]) -> str:
    ratio = report["start_s_median"] / report["process_start_s_median"]
    return "\n".join([
        "| image | size | start to first /ping (median of 5) | same server as a process | idle RSS |",
        "|---|---|---|---|---|",
        f"| {report['image']} | {report['size_mb']:.0f} MB | {report['start_s_median']:.2f} s | "
        f"{report['process_start_s_median']:.2f} s ({ratio:.2f}x) | {report['idle_rss_mb']:.0f} MB |",
    ])  # fmt: skip
