"""`make demo` / `leafline demo`: a sample model scored end to end through the real server.

Trains (once) a deterministic sample model, compiles it, starts `serve` on 127.0.0.1, sends a CSV
batch in MaxPayloadInMB mini-batches with MaxConcurrentTransforms requests in flight (the values the
server itself advertises on /execution-parameters), checks every score against LightGBM in-process,
and prints a summary. Later issues turn this into the full nightly run.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from leafline import samples
from leafline.compiler import compile_model_dir
from leafline.server_process import ServerProcess
from leafline.serving import artifacts
from leafline.transform.splitting import payloads


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)


def run_demo(workdir: Path, rows: int = 50_000) -> int:
    model_dir = workdir / "model"
    model_path = model_dir / "model.txt"
    if not model_path.exists():
        _step(f"training the sample model ({samples.DEMO.trees} trees x {samples.DEMO.leaves} leaves, 50 features)")
        samples.train_binary(samples.DEMO, model_path, rows=20_000)
    if not artifacts.manifest_path(model_dir).exists():
        _step("compiling it ahead of time (leafline compile)")
        print("    " + compile_model_dir(model_dir).summary(), flush=True)
    input_path = workdir / "input" / "batch.csv"
    if not input_path.exists() or input_path.read_bytes().count(b"\n") != rows:
        input_path.parent.mkdir(parents=True, exist_ok=True)
        input_path.write_bytes(samples.csv_batch(rows, seed=42))
    data = input_path.read_bytes()
    _step(f"starting the server (python -m leafline.serving serve) on {model_dir}")
    with ServerProcess(model_dir, log_path=workdir / "server.log") as server:
        loaded = next(e for e in server.log_events() if e["event"] == "model_loaded")
        _, _, raw = server.request("GET", "/execution-parameters")
        import json

        params = json.loads(raw)
        _step(f"scoring {rows} rows from {input_path} over HTTP")
        started = time.perf_counter()
        output = _score(server, data, params["MaxPayloadInMB"] * 2**20, params["MaxConcurrentTransforms"])
        seconds = time.perf_counter() - started
    output_path = workdir / "output" / "batch.csv.out"
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_bytes(output)
    within, max_diff = _agreement(model_path, data, output)
    _summary(loaded, params, server.ready_seconds, rows, seconds, within, max_diff, output_path, workdir)
    return 0 if within == 1.0 else 1


def _score(server: ServerProcess, data: bytes, max_bytes: int, concurrency: int) -> bytes:
    def post(batch: bytes) -> bytes:
        status, _, body = server.request("POST", "/invocations", batch, {"Content-Type": "text/csv"})
        if status != 200:
            raise RuntimeError(f"server answered {status}: {body.decode(errors='replace')}")
        return body

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        batches = payloads(io.BytesIO(data), split_lines=True, single_record=False, max_bytes=max_bytes)
        return b"".join(pool.map(post, (batch.body for batch in batches)))


def _agreement(model_path: Path, data: bytes, output: bytes) -> tuple[float, float]:
    import lightgbm
    import numpy as np

    from leafline.serving.decoding import decode_csv

    booster = lightgbm.Booster(model_file=str(model_path))
    expected = np.asarray(booster.predict(decode_csv(data, booster.num_feature())), dtype=np.float64)
    served = np.array([float(line) for line in output.decode().splitlines()])
    if served.shape != expected.shape:
        return 0.0, float("inf")
    diff = np.abs(served - expected)
    return float(np.mean(diff <= 1e-5)), float(diff.max())


def _summary(
    loaded: dict[str, object],
    params: dict[str, int],
    ready_s: float,
    rows: int,
    seconds: float,
    within: float,
    max_diff: float,
    output_path: Path,
    workdir: Path,
) -> None:
    print()
    print("leafline demo: summary")
    print(f"  model            {loaded['model']} (sha256 {str(loaded['sha256'])[:12]}, {loaded['trees']} trees)")
    print(f"  backend          {loaded['backend']}")
    print(f"  start to /ping   {ready_s:.2f} s")
    print(
        f"  batch settings   MaxConcurrentTransforms={params['MaxConcurrentTransforms']} "
        f"MaxPayloadInMB={params['MaxPayloadInMB']} (from the server's /execution-parameters)"
    )
    print(f"  rows scored      {rows} in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
    print(f"  agreement        {within:.4%} within 1e-5 of LightGBM (max |diff| {max_diff:.1e})")
    print(f"  output           {output_path}")
    print(f"  server log       {workdir / 'server.log'} (one JSON line per request)")
