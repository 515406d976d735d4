"""A model's tuning profile: the server's throughput and memory across payload sizes and concurrency.

The full profile (every measured point) is tuning-profile.json beside model.txt and inside the package;
its summary, a few numbers, rides in the registered version's metadata so nightly runs reuse it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

PROFILE_SCHEMA = "leafline.tuning/1"
KNEE_SHARE = 0.95  # the smallest payload within 5% of the best throughput: bigger ones only cost memory


@dataclass(frozen=True)
class Point:
    payload_mb: int
    concurrency: int
    rows_per_s: float
    peak_rss_mb: float  # the server's peak resident memory once this point ran (VmHWM)
    idle_rss_mb: float  # the same server after loading the model, before any request


@dataclass(frozen=True)
class Summary:
    rows_per_s_per_vcpu: float  # at the knee payload, all local cores busy
    payload_mb: int  # the knee
    memory_mb_per_payload_mb: float  # resident MB per MB of CSV in flight (the fitted slope)
    idle_rss_mb: float
    memory_fixed_mb: float  # resident MB the first request adds whatever its size (buffers, pools)
    bytes_per_row: float
    scaling: float  # throughput at N cores / (N x throughput at one core), measured locally

    def compact(self) -> dict[str, Any]:
        return {"v": 1, "rps_vcpu": round(self.rows_per_s_per_vcpu), "mb": self.payload_mb,
                "mem_per_mb": round(self.memory_mb_per_payload_mb, 2), "idle_mb": round(self.idle_rss_mb),
                "bpr": round(self.bytes_per_row, 1), "scaling": round(self.scaling, 3),
                "mem_fixed": round(self.memory_fixed_mb)}  # fmt: skip

    @classmethod
    def from_compact(cls, data: Mapping[str, Any]) -> Summary:
        if data.get("v") != 1:
            raise ValueError(f"unknown tuning summary version {data.get('v')!r}")
        return cls(float(data["rps_vcpu"]), int(data["mb"]), float(data["mem_per_mb"]), float(data["idle_mb"]),
                   float(data["bpr"]), float(data["scaling"]), float(data["mem_fixed"]))  # fmt: skip


def summarize(points: Sequence[Point], bytes_per_row: float) -> Summary:
    """The knee payload at the highest concurrency measured, its per-core rate, and the worst memory slope."""
    if not points:
        raise ValueError("no measured points")
    top = max(p.concurrency for p in points)
    at_top = sorted((p for p in points if p.concurrency == top), key=lambda p: p.payload_mb)
    best = max(p.rows_per_s for p in at_top)
    knee = next(p for p in at_top if p.rows_per_s >= KNEE_SHARE * best)
    single = {p.payload_mb: p.rows_per_s for p in points if p.concurrency == 1}
    scaling = knee.rows_per_s / (top * single[knee.payload_mb]) if knee.payload_mb in single and top > 1 else 1.0
    fixed, slope = _memory_line(points)
    return Summary(
        rows_per_s_per_vcpu=knee.rows_per_s / top,
        payload_mb=knee.payload_mb,
        memory_mb_per_payload_mb=slope,
        idle_rss_mb=max(p.idle_rss_mb for p in points),
        bytes_per_row=bytes_per_row,
        scaling=min(scaling, 1.0),
        memory_fixed_mb=fixed,
    )


def _memory_line(points: Sequence[Point]) -> tuple[float, float]:
    """Peak growth over idle as fixed + slope x (MB in flight), least squares, then raised so that every
    measured point lies on or under the line (a budget must not undershoot what was seen)."""
    xs = [float(p.payload_mb * p.concurrency) for p in points]
    ys = [p.peak_rss_mb - p.idle_rss_mb for p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0
    slope = max(slope, 1.0)  # the body itself is at least one MB per MB in flight
    fixed = max(0.0, *(y - slope * x for x, y in zip(xs, ys, strict=True)))
    return fixed, slope


def profile_document(model_sha256: str, points: Sequence[Point], summary: Summary, machine: dict[str, Any],
                     sample: str, content_type: str = "text/csv") -> dict[str, Any]:  # fmt: skip
    return {
        "schema": PROFILE_SCHEMA,
        "model_sha256": model_sha256,
        "machine": machine,
        "sample": sample,
        "content_type": content_type,  # what the payloads were: bytes_per_row and the knee are in its bytes
        "points": [asdict(p) for p in points],
        "summary": asdict(summary),
    }


def compact_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The summary of a full profile document, as the registry stores it."""
    return Summary(**profile["summary"]).compact()
