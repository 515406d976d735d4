"""MaxConcurrentTransforms and MaxPayloadInMB for one instance type, from a model's tuning summary.

The rules, each stated in the explanation the choice carries:
- one payload in flight per vCPU: the server parses and predicts each request off the GIL, so that
  many requests keep every core busy, and more only queue;
- the knee payload: the smallest measured size within 5% of the best throughput;
- SageMaker's limits: payload <= 100 MB and MaxConcurrentTransforms x MaxPayloadInMB <= 100, met by
  shrinking the payload first (throughput depends little on it past the knee), then the concurrency;
- memory: what is in flight (the measured resident MB per payload MB) plus the loaded model must fit in
  half the instance's memory, leaving the rest to the OS and the unexpected.
"""

from __future__ import annotations

from dataclasses import dataclass

from leafline.spec.instance_types import INSTANCE_TYPES, InstanceType
from leafline.tuning.profile import Summary

PAYLOAD_LIMIT_MB = 100
MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class Choice:
    instance_type: str
    max_concurrent_transforms: int
    max_payload_mb: int
    rows_per_s: float  # predicted, per instance
    memory_mb: float  # predicted peak resident memory of the server
    reasons: tuple[str, ...]


def choose_settings(summary: Summary, instance_type: str) -> Choice:
    kind = INSTANCE_TYPES[instance_type]
    reasons = []
    concurrency = kind.vcpus
    reasons.append(f"MaxConcurrentTransforms {concurrency}: one payload in flight per vCPU ({kind.vcpus} vCPUs)")
    payload = summary.payload_mb
    reasons.append(f"MaxPayloadInMB {payload}: the smallest measured payload within 5% of the best throughput")
    if concurrency * payload > PAYLOAD_LIMIT_MB:
        payload = max(1, PAYLOAD_LIMIT_MB // concurrency)
        reasons.append(f"payload lowered to {payload} MB so that {concurrency} x {payload} <= 100 MB (SageMaker)")
    if concurrency * payload > PAYLOAD_LIMIT_MB:
        concurrency = PAYLOAD_LIMIT_MB // payload
        reasons.append(f"concurrency lowered to {concurrency}: even 1 MB payloads exceed 100 MB in flight")
    budget = _memory_mb(kind) * MEMORY_SHARE - summary.idle_rss_mb - summary.memory_fixed_mb
    per_payload = summary.memory_mb_per_payload_mb * payload
    if concurrency * per_payload > budget:
        fitting = max(1, int(budget // per_payload))
        reasons.append(f"concurrency lowered to {fitting}: {concurrency} x {per_payload:.0f} MB in flight exceeds "
                       f"half of {kind.memory_gib} GiB less the loaded model")  # fmt: skip
        concurrency = fitting
    rate = summary.rows_per_s_per_vcpu * min(concurrency, kind.vcpus)
    reasons.append(f"predicted {rate:,.0f} rows/s per instance: {summary.rows_per_s_per_vcpu:,.0f} rows/s per vCPU "
                   "as measured here (an instance's vCPU is assumed as fast as this machine's core)")  # fmt: skip
    memory = summary.idle_rss_mb + summary.memory_fixed_mb + concurrency * per_payload
    return Choice(instance_type, concurrency, payload, rate, memory, tuple(reasons))


def _memory_mb(kind: InstanceType) -> float:
    return kind.memory_gib * 1024.0
