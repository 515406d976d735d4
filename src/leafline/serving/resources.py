"""The container's CPU and memory, as cgroups limit them, and the batch parameters derived from them."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

# SageMaker's own limits: payload <= 100 MB and MaxConcurrentTransforms x MaxPayloadInMB <= 100.
PAYLOAD_LIMIT_MB = 100
# SageMaker's default payload. Per-request overhead is already a few percent at 6 MB, so a larger
# payload only adds memory and latency; smaller when memory or MaxConcurrentTransforms demand it.
PAYLOAD_CAP_MB = 6
# Working memory per in-flight MB of CSV: the body, the parsed columns and the float64 matrix.
MEMORY_PER_PAYLOAD_MB = 4
MEMORY_SHARE = 0.5  # leave half the memory to the OS, the model and the unexpected


@dataclass(frozen=True)
class Resources:
    cpus: int
    memory_bytes: int


def detect_resources(root: Path = Path("/")) -> Resources:
    return Resources(cpus=_cpus(root), memory_bytes=_memory_bytes(root))


def _cpus(root: Path) -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _read(root / "sys/fs/cgroup/cpu.max")
    if quota and not quota.startswith("max"):
        limit, period = (int(x) for x in quota.split()[:2])
        available = min(available, max(1, math.ceil(limit / period)))
    return max(1, available)


def _memory_bytes(root: Path) -> int:
    total = 0
    for line in (_read(root / "proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) * 1024
    for limit_file in ("sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"):
        raw = _read(root / limit_file)
        if raw and raw.strip().isdigit() and 0 < int(raw) < (total or 2**62):
            total = int(raw)
    return total or 2**30


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def default_concurrency(resources: Resources) -> int:
    """One in-flight request per core: each request's native work (parse, predict) runs off the GIL."""
    return resources.cpus


def execution_parameters(
    resources: Resources, concurrency: int, payload_mb: int | None, model_bytes: int
) -> dict[str, object]:
    """What GET /execution-parameters answers; payload_mb is the configured value, if any."""
    if payload_mb is None:
        payload_mb = default_payload_mb(resources, concurrency, model_bytes)
    return {
        "MaxConcurrentTransforms": concurrency,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": payload_mb,
    }


def default_payload_mb(resources: Resources, concurrency: int, model_bytes: int) -> int:
    """The largest payload up to PAYLOAD_CAP_MB that SageMaker's limit and half the memory allow."""
    budget_mb = (resources.memory_bytes * MEMORY_SHARE - model_bytes * 4) / 2**20
    by_memory = int(budget_mb // (MEMORY_PER_PAYLOAD_MB * concurrency))
    return max(1, min(PAYLOAD_CAP_MB, PAYLOAD_LIMIT_MB // concurrency, by_memory))
