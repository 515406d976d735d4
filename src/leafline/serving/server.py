"""Start-up and shutdown of the scoring server: `serve` in the image, `leafline serve` locally."""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import FrameType

from leafline.serving import columnar, encoding, native_columns, native_csv, native_format
from leafline.serving.connections import ConnectionLimits
from leafline.serving.decoding import warm_up
from leafline.serving.errors import ServingError
from leafline.serving.http_server import ScoringHTTPServer, ServingState
from leafline.serving.jsonlog import log_event
from leafline.serving.model_source import resolve_model_dir
from leafline.serving.profiling import Profiler
from leafline.serving.resources import Resources, default_concurrency, detect_resources, execution_parameters
from leafline.serving.scoring import Scorer, load_model
from leafline.serving.settings import ServerSettings


def run_server(
    environ: Mapping[str, str] | None = None,
    *,
    model_dir: Path | None = None,
    port: int | None = None,
    host: str | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT (or `stop` is set); returns the process exit code."""
    try:
        settings = ServerSettings.from_env(environ)
    except ServingError as exc:
        log_event("config_invalid", level="error", error=exc.message)
        return 2
    overrides = {k: v for k, v in {"model_dir": model_dir, "port": port, "host": host}.items() if v is not None}
    settings = replace(settings, **overrides)  # type: ignore[arg-type]
    resources = detect_resources()
    concurrency = settings.max_concurrency or default_concurrency(resources)
    state = ServingState(
        concurrency=concurrency, cpus=resources.cpus, profiler=Profiler() if settings.profiling else None
    )
    try:
        server = ScoringHTTPServer((settings.host, settings.port), state, _limits(settings, concurrency))
    except OSError as exc:
        log_event("bind_failed", level="error", host=settings.host, port=settings.port, error=str(exc))
        return 1
    # A short poll interval makes shutdown() return within 50 ms of SIGTERM instead of 500 ms.
    threading.Thread(target=server.serve_forever, args=(0.05,), name="http", daemon=True).start()
    log_event("listening", host=settings.host, port=server.server_address[1], concurrency=concurrency,
              workers=server.limits.workers, read_timeout=settings.read_timeout,
              idle_timeout=settings.idle_timeout)  # fmt: skip
    stop = stop or threading.Event()
    _on_signals(stop)
    try:
        _load_and_ready(settings, state, resources)
    except ServingError as exc:
        log_event("model_load_failed", level="error", error=exc.message)
        server.shutdown()
        return 1
    stop.wait()
    server.shutdown()
    server.server_close()
    log_event("stopped")
    return 0


def _limits(settings: ServerSettings, concurrency: int) -> ConnectionLimits:
    """By default two workers per slot (one scoring, one reading the next body) and two for /ping and
    stragglers: bodies in memory stay within workers x MaxPayloadInMB."""
    workers = settings.workers or 2 * concurrency + 2
    return ConnectionLimits(
        workers=workers,
        read_timeout=settings.read_timeout,
        idle_timeout=settings.idle_timeout,
        min_body_rate=settings.min_body_rate,
    )


def _load_and_ready(settings: ServerSettings, state: ServingState, resources: Resources) -> None:
    cpus = resources.cpus
    model_dir = resolve_model_dir(settings)
    model = load_model(
        model_dir, force_lightgbm=settings.backend == "lightgbm", concurrency=state.concurrency, workers=cpus
    )
    params = execution_parameters(resources, state.concurrency, settings.max_payload_mb, model.info.size_bytes)
    payload_mb = int(params["MaxPayloadInMB"])  # type: ignore[call-overload]
    threads = max(1, cpus // state.concurrency)  # the default; each request gets cores / requests in flight
    decoded_limit = payload_mb * 2**20 * columnar.DECODED_PER_PAYLOAD if payload_mb else None
    native = settings.csv_reader == "auto"
    scorer = Scorer(model, settings.threshold, settings.default_accept, threads, decoded_limit, native_csv=native)
    if settings.threshold is not None and not model.info.is_binary:
        log_event(
            "threshold_ignored",
            level="warning",
            objective=model.info.objective,
            reason="PREDICTION_THRESHOLD applies to binary models only",
        )
    warm_up()
    columnar.warm_up()
    encoding.warm_up()
    _tune_gc()
    log_event(
        "model_loaded",
        model=str(model.info.path),
        sha256=model.info.sha256,
        objective=model.info.objective,
        features=model.info.num_features,
        trees=model.info.num_trees,
        backend=model.backend,
        fallback_reason=model.fallback_reason or None,
        csv_reader=_csv_reader(native),
        response_writer=_response_writer(),
        column_gather=_column_gather(),
        cpus=cpus,
        execution_parameters=params,
    )
    # Logged first, then ready: whoever sees /ping turn 200 also finds the model_loaded line.
    state.ready(scorer, payload_mb * 2**20 if payload_mb else None, params)


def _csv_reader(native: bool) -> str:
    """Which CSV reader a plain body meets first, for the start-up log."""
    if not native:
        return "pyarrow (LEAFLINE_CSV_READER=pyarrow)"
    reason = native_csv.unavailable_reason()
    if reason is not None:
        return f"pyarrow: {reason}"
    return f"native ({native_csv.short_decimals()} short decimals, fast_float), pyarrow where it cannot decide"


def _response_writer() -> str:
    reason = native_format.unavailable_reason()
    if reason is not None:
        return f"pyarrow: {reason}"
    return f"native ({native_format.digits()} digits), Python's reprs for NaN and infinities"


def _column_gather() -> str:
    """What lays Parquet and Arrow columns into the request's matrix, for the start-up log."""
    reason = native_columns.unavailable_reason()
    return "native" if reason is None else f"numpy: {reason}"


def _tune_gc() -> None:
    """A single-purpose process: move start-up objects out of the collector's sight and collect rarely.

    Request data lives in numpy/pyarrow buffers the collector never scans; the Python objects a request
    makes (JSON records, output strings) die young, so gen-0 collections every 700 allocations are
    pure overhead — the counterpart of the seed's GOGC=200 advice.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
