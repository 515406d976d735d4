"""`make bench`: leafline's server against the "standard Python" baseline, measured in the same run.

For each model (big: 500 trees x 63 leaves, small: 100 x 31; binary, 50 features) and a 6 MB CSV
mini-batch: start each server, check its predictions against LightGBM, drive closed-loop POSTs at
concurrency 1, 2, 4 in interleaved rounds (medians reported), and measure rows/s, p50 latency, rows per
server CPU-second, idle and peak RSS, and start to first 200 from /ping. Also the in-process limit
(parse + predict + format of the same batch, no HTTP), right after the servers' c=1 and c=2 runs of each
round; the server overhead is the median of the rounds' pairs, in rows/s and in CPU per row (the
server's own cost, apart from the load generator's on the same cores). Ratios are against the baseline in the same
run.
Each round also runs one `leafline transform` job (bench/emulated.py), compared with leafline at c=MCT,
and sends the same rows as one Parquet object (SplitType None) to leafline and to the baseline (pandas'
read_parquet), at c=1 and 2, compared with leafline's own CSV rows/s. The CSV parse stage runs on its
own too (bench/parse_stage.py: MB/s per core, 9 and 17 significant digits, against pyarrow's reader and,
from the baseline's venv, pandas', polars' and duckdb's).
The format stage too (bench/format_stage.py: MB/s of output per core, against pyarrow's writer).
Last, issue 15's targets with the measured value and met/missed (bench/targets.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench import baseline_env, emulated, format_stage, parse_stage, procinfo, targets, workload
from bench.load import LoadResult, run_load
from leafline import samples
from leafline.processes.server import ServerProcess
from leafline.serving.decoding import decode_csv
from leafline.serving.scoring import Scorer, load_model

CONCURRENCY = (1, 2, 4)
PARQUET_CONCURRENCY = (1, 2)
IN_PROCESS_CONCURRENCY = (1, 2)
PARQUET = "application/x-parquet"
PARQUET_SERVERS = ("leafline", "baseline (Flask+gunicorn+pandas)")
PARQUET_PAYLOAD_MB = 10
DIGITS_SERVERS = ("leafline", "baseline (Flask+gunicorn+pandas)")
RESULTS = Path("bench/results")


def _servers(model_dir: Path) -> dict[str, ServerProcess]:
    baseline_cmd = [
        str(baseline_env.VENV / "bin" / "python"), "-m", "gunicorn", "--workers", "2", "--timeout", "300",
        "--log-level", "warning",
        "--bind", "127.0.0.1:{port}", "bench.baseline_app:app",
    ]  # fmt: skip
    baseline = ServerProcess(model_dir, env={"BASELINE_MODEL": str(model_dir / "model.txt")}, command=baseline_cmd)
    return {
        # MaxPayloadInMB 10 admits the Parquet object (6.4 MB: float64 columns outweigh 6-digit CSV text), as a
        # SplitType None job sets it to fit its objects; it only gates bodies, so the CSV rows are unchanged.
        "leafline": ServerProcess(model_dir, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": str(PARQUET_PAYLOAD_MB)}),
        "leafline (LightGBM fallback)": ServerProcess(model_dir, env={"LEAFLINE_BACKEND": "lightgbm"}),
        "baseline (Flask+gunicorn+pandas)": baseline,
    }


def _check(server: ServerProcess, body: bytes, expected: np.ndarray, content_type: str = "text/csv") -> float:
    status, _, out = server.request("POST", "/invocations", body, {"Content-Type": content_type})
    assert status == 200, out[:200]
    served = np.array([float(line) for line in out.decode().splitlines()])
    return float(np.abs(served - expected).max())


def _in_process_scorers(model_dir: Path) -> dict[int, Scorer]:
    """A scorer per in-process concurrency, each with the threads the server would give a request."""
    scorers = {}
    for threads in IN_PROCESS_CONCURRENCY:
        model = load_model(model_dir, force_lightgbm=False, concurrency=threads, workers=2)
        scorers[threads] = Scorer(model, None, "text/csv", threads=max(1, 2 // threads))
    return scorers


def _in_process(scorer: Scorer, body: bytes, rows: int, seconds: float, threads: int) -> tuple[float, float]:
    """Rows/s and rows per CPU-second of parse + predict + format in one process: `threads` callers, no
    HTTP. The CPU is this whole process's, idle but for these callers while they run."""
    deadline = time.perf_counter() + seconds
    cpu_before = time.process_time()

    def loop() -> int:
        done = 0
        while time.perf_counter() < deadline:
            scorer.score(body, "text/csv", None)
            done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: loop(), range(threads)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    return total * rows / elapsed, total * rows / cpu


def bench_model(shape: samples.ModelShape, body: bytes, rounds: int, seconds: float, parquet: bytes) -> dict[str, Any]:
    model_dir = workload.model_dir(shape)
    rows = body.count(b"\n")
    import lightgbm

    expected = np.asarray(lightgbm.Booster(model_file=str(model_dir / "model.txt")).predict(decode_csv(body, 50)))
    servers = _servers(model_dir)
    report: dict[str, Any] = {"model": shape.name, "trees": shape.trees, "leaves": shape.leaves, "rows": rows,
                              "batch_bytes": len(body), "servers": {}}  # fmt: skip
    try:
        for name, server in servers.items():
            server.start(timeout=120)
            time.sleep(1.0)  # let start-up work settle before reading idle memory
            report["servers"][name] = {
                "start_to_ping_s": server.ready_seconds,
                "idle_rss_mb": procinfo.memory_mb(server.pid, "VmRSS"),
                "max_abs_diff_vs_lightgbm": _check(server, body, expected),
                "runs": {c: [] for c in CONCURRENCY},
            }
        report["parquet_runs"] = {name: {c: [] for c in PARQUET_CONCURRENCY} for name in PARQUET_SERVERS}
        report["parquet_bytes"] = len(parquet)
        report["parquet_max_abs_diff_vs_lightgbm"] = {
            name: _check(servers[name], parquet, expected, PARQUET) for name in PARQUET_SERVERS
        }
        report["emulator_runs"] = []
        scorers = _in_process_scorers(model_dir)
        report["in_process_runs"] = {c: [] for c in IN_PROCESS_CONCURRENCY}
        report["in_process_cpu_runs"] = {c: [] for c in IN_PROCESS_CONCURRENCY}
        for round_index in range(rounds):
            for concurrency in CONCURRENCY:
                for name, server in servers.items():
                    result = run_load(server.port, server.pid, body, rows, concurrency, seconds)
                    report["servers"][name]["runs"][concurrency].append(result)
                    print(f"  [{shape.name} round {round_index + 1}/{rounds}] {name:34s} c={concurrency} "
                          f"{result.rows_per_s:>10,.0f} rows/s  p50 {result.p50_ms:7.1f} ms", flush=True)  # fmt: skip
                if concurrency in IN_PROCESS_CONCURRENCY:  # right after the servers' run: same machine weather
                    limit, per_cpu_second = _in_process(scorers[concurrency], body, rows, seconds, concurrency)
                    report["in_process_runs"][concurrency].append(limit)
                    report["in_process_cpu_runs"][concurrency].append(per_cpu_second)
                    print(f"  [{shape.name} round {round_index + 1}/{rounds}] {'in-process limit':34s} "
                          f"c={concurrency} {limit:>10,.0f} rows/s", flush=True)  # fmt: skip
            for concurrency in PARQUET_CONCURRENCY:
                for name in PARQUET_SERVERS:
                    server = servers[name]
                    result = run_load(server.port, server.pid, parquet, rows, concurrency, seconds, PARQUET)
                    report["parquet_runs"][name][concurrency].append(result)
                    print(f"  [{shape.name} round {round_index + 1}/{rounds}] {name + ' (Parquet)':34s} "
                          f"c={concurrency} {result.rows_per_s:>10,.0f} rows/s  p50 {result.p50_ms:7.1f} ms",
                          flush=True)  # fmt: skip
            job = emulated.run_job(model_dir, body, workload.CACHE)
            report["emulator_runs"].append(job)
            print(f"  [{shape.name} round {round_index + 1}/{rounds}] leafline transform ({job['files']} files, "
                  f"{job['rows']:,} rows)  {job['transform_rows_per_s']:>10,.0f} rows/s "
                  f"(end to end {job['end_to_end_rows_per_s']:,.0f})", flush=True)  # fmt: skip
        # Realistic exports write 9 or 17 significant digits: one round at c=2 each keeps the run short.
        report["digits_rows_per_s"] = {}
        for digits in parse_stage.DIGITS:
            digits_body = parse_stage.batch(digits)
            digits_rows = digits_body.count(b"\n")
            report["digits_rows_per_s"][digits] = {}
            for name in DIGITS_SERVERS:
                server = servers[name]
                result = run_load(server.port, server.pid, digits_body, digits_rows, 2, seconds)
                report["digits_rows_per_s"][digits][name] = result.rows_per_s
                print(f"  [{shape.name}] {name + f' ({digits} digits)':34s} c=2 {result.rows_per_s:>10,.0f} rows/s",
                      flush=True)  # fmt: skip
        for name, server in servers.items():
            report["servers"][name]["peak_rss_mb"] = procinfo.memory_mb(server.pid, "VmHWM")
    finally:
        for server in servers.values():
            server.stop()
    return _summarise(report)


def _median(runs: list[LoadResult], field: str) -> float:
    return statistics.median(getattr(run, field) for run in runs)


def _summarise(report: dict[str, Any]) -> dict[str, Any]:
    limits = report.pop("in_process_runs")
    report["in_process_rows_per_s"] = {c: statistics.median(runs) for c, runs in limits.items()}
    # Each round's server run against the limit measured right after it, then the median: a machine whose
    # speed drifts between rounds moves both sides of a pair alike.
    pairs = zip(report["servers"]["leafline"]["runs"][2], limits[2], strict=True)
    report["overhead_vs_in_process_c2"] = statistics.median(1 - run.rows_per_s / limit for run, limit in pairs)
    # The same pairs in CPU per row: what the server itself spends beyond the in-process loop, apart from
    # what the load generator (on the same cores) takes from it.
    cpu_pairs = zip(report["servers"]["leafline"]["runs"][2], report.pop("in_process_cpu_runs")[2], strict=True)
    report["cpu_per_row_vs_in_process_c2"] = statistics.median(
        limit / run.rows_per_cpu_s - 1 for run, limit in cpu_pairs
    )
    for data in report["servers"].values():
        data["by_concurrency"] = {
            c: {f: _median(runs, f) for f in ("rows_per_s", "p50_ms", "rows_per_cpu_s")}
            for c, runs in data.pop("runs").items()
        }
    leaf = report["servers"]["leafline"]["by_concurrency"]
    base = report["servers"]["baseline (Flask+gunicorn+pandas)"]["by_concurrency"]
    report["ratio_vs_baseline"] = {c: leaf[c]["rows_per_s"] / base[c]["rows_per_s"] for c in CONCURRENCY}
    report["parquet"] = {
        name: {c: _median(runs, "rows_per_s") for c, runs in by.items()}
        for name, by in report.pop("parquet_runs").items()
    }
    report["parquet_vs_csv"] = {
        c: report["parquet"]["leafline"][c] / leaf[c]["rows_per_s"] for c in PARQUET_CONCURRENCY
    }
    jobs = report.pop("emulator_runs")
    mct = jobs[0]["mct"]
    report["emulator"] = {
        "rows": jobs[0]["rows"],
        "files": jobs[0]["files"],
        "mct": mct,
        "transform_rows_per_s": statistics.median(j["transform_rows_per_s"] for j in jobs),
        "end_to_end_rows_per_s": statistics.median(j["end_to_end_rows_per_s"] for j in jobs),
        "server_rows_per_s": leaf[mct]["rows_per_s"] if mct in leaf else None,
    }
    if report["emulator"]["server_rows_per_s"]:
        server_rate = report["emulator"]["server_rows_per_s"]
        report["emulator"]["ratio"] = report["emulator"]["transform_rows_per_s"] / server_rate
        report["emulator"]["ratio_end_to_end"] = report["emulator"]["end_to_end_rows_per_s"] / server_rate
    return report


def table(reports: list[dict[str, Any]]) -> str:
    lines = [
        "| model | server | rows/s c=1 / c=2 / c=4 | p50 c=1 | rows/CPU-s (c=2) | idle RSS | peak RSS "
        "| start → /ping | max diff vs LightGBM |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for report in reports:
        for name, data in report["servers"].items():
            by = data["by_concurrency"]
            rates = " / ".join(f"{by[c]['rows_per_s'] / 1000:.1f}k" for c in CONCURRENCY)
            lines.append(
                f"| {report['model']} ({report['trees']}x{report['leaves']}) | {name} | {rates} | "
                f"{by[1]['p50_ms']:.0f} ms | {by[2]['rows_per_cpu_s'] / 1000:.1f}k | "
                f"{data['idle_rss_mb']:.0f} MB | {data['peak_rss_mb']:.0f} MB | {data['start_to_ping_s']:.2f} s | "
                f"{data['max_abs_diff_vs_lightgbm']:.1e} |"
            )
    lines.append("")
    lines.append(
        "| model | leafline / baseline c=1 / c=2 / c=4 | in-process limit c=1 / c=2 | server overhead at c=2 "
        "| server CPU per row vs in-process, c=2 |"
    )
    lines.append("|---|---|---|---|---|")
    for report in reports:
        ratios = " / ".join(f"{report['ratio_vs_baseline'][c]:.2f}x" for c in CONCURRENCY)
        limit = " / ".join(f"{report['in_process_rows_per_s'][c] / 1000:.1f}k" for c in (1, 2))
        lines.append(
            f"| {report['model']} | {ratios} | {limit} rows/s | {report['overhead_vs_in_process_c2']:.1%} "
            f"| {report['cpu_per_row_vs_in_process_c2']:+.1%} |"
        )
    lines.append("")
    lines.append("| model | CSV digits | leafline rows/s c=2 | baseline rows/s c=2 | leafline / baseline |")
    lines.append("|---|---|---|---|---|")
    for report in reports:
        for digits, by in report["digits_rows_per_s"].items():
            leaf, base = by[DIGITS_SERVERS[0]], by[DIGITS_SERVERS[1]]
            lines.append(
                f"| {report['model']} | {digits} | {leaf / 1000:.1f}k | {base / 1000:.1f}k | {leaf / base:.2f}x |"
            )
    lines.append("")
    lines.append("| model | Parquet body (same rows, one object) | leafline rows/s c=1 / c=2 | baseline (pandas) "
                 "rows/s c=1 / c=2 | leafline Parquet / CSV c=1 / c=2 | max diff vs LightGBM |")  # fmt: skip
    lines.append("|---|---|---|---|---|---|")
    for report in reports:
        pq_rates = {n: " / ".join(f"{report['parquet'][n][c] / 1000:.1f}k" for c in PARQUET_CONCURRENCY)
                    for n in PARQUET_SERVERS}  # fmt: skip
        versus = " / ".join(f"{report['parquet_vs_csv'][c]:.2f}x" for c in PARQUET_CONCURRENCY)
        diff = max(report["parquet_max_abs_diff_vs_lightgbm"].values())
        mb = report["parquet_bytes"] / 2**20
        lines.append(f"| {report['model']} | {mb:.2f} MB | {pq_rates[PARQUET_SERVERS[0]]} | "
                     f"{pq_rates[PARQUET_SERVERS[1]]} | {versus} | {diff:.1e} |")  # fmt: skip
    lines.append("")
    lines.append("| model | `leafline transform` job | rows/s (transform / end to end) | server alone at c=MCT "
                 "| emulator / server (transform / end to end) |")  # fmt: skip
    lines.append("|---|---|---|---|---|")
    for report in reports:
        job = report["emulator"]
        lines.append(
            f"| {report['model']} | {job['files']} files, {job['rows']:,} rows, MCT {job['mct']} | "
            f"{job['transform_rows_per_s'] / 1000:.1f}k / {job['end_to_end_rows_per_s'] / 1000:.1f}k | "
            f"{(job['server_rows_per_s'] or 0) / 1000:.1f}k | "
            f"{job.get('ratio', 0):.1%} / {job.get('ratio_end_to_end', 0):.1%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per server (default 3)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per load run (default 4)")
    parser.add_argument("--models", default="big,small", help="comma-separated: big, small")
    parser.add_argument("--image", default="leafline:latest", help="the built image to measure (make image)")
    every = f"every {baseline_env.MAX_AGE_DAYS} d"
    parser.add_argument("--refresh-baseline", action="store_true", help=f"rebuild the baseline venv now (else {every})")
    args = parser.parse_args(argv)
    baseline_env.ensure(refresh=args.refresh_baseline)
    baseline_versions = baseline_env.versions()
    print("baseline venv: " + ", ".join(f"{n} {v}" for n, v in sorted(baseline_versions.items())), flush=True)
    shapes = {"big": samples.BIG, "small": samples.SMALL}
    body = workload.batch()
    rows = body.count(b"\n")
    print(f"workload: {rows} rows, {len(body) / 2**20:.2f} MB CSV batch", flush=True)
    parquet = workload.parquet_batch()
    print(f"           the same rows as one {len(parquet) / 2**20:.2f} MB Parquet object", flush=True)
    reports = [bench_model(shapes[name], body, args.rounds, args.seconds, parquet) for name in args.models.split(",")]
    print("CSV parse stage (9 and 17 significant digits)...", flush=True)
    parse = parse_stage.bench_parse(other_python=baseline_env.VENV / "bin" / "python")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(reports, indent=2, default=str))
    (RESULTS / "baseline-versions.json").write_text(json.dumps(baseline_versions, indent=2))
    (RESULTS / "parse.json").write_text(json.dumps(parse, indent=2))
    releases = ", ".join(f"{n} {v}" for n, v in sorted(baseline_versions.items()))
    text = f"Baseline's own venv: {releases}\n\n" + table(reports) + "\n\n" + parse_stage.parse_table(parse)
    print("format stage (13.7k scores, K=3 multiclass)...", flush=True)
    fmt = format_stage.bench_format()
    (RESULTS / "format.json").write_text(json.dumps(fmt, indent=2))
    text += "\n\n" + format_stage.format_table(fmt)
    # The target is the CSV a binary model's server returns, the common case.
    fmt_rate = fmt["binary"]["leafline CSV"]["mb_per_s"]
    goals = targets.targets_table(targets.evaluate(reports, parse, format_mb_per_s=fmt_rate))
    from bench.image import bench_image, image_table

    image = bench_image(args.image)
    if image is not None:
        (RESULTS / "image.json").write_text(json.dumps(image, indent=2))
        text += "\n\n" + image_table(image)
    # Targets last, as issue 15 asks: the verdicts are what a reader looks for first.
    text += "\n\n" + goals
    (RESULTS / "bench.md").write_text(text + "\n")
    print()
    print(text)
    print(f"\nwritten: {RESULTS / 'bench.md'}, {RESULTS / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
