"""SageMaker instance types leafline can target for Batch Transform: vCPUs, memory and CPU architecture.

Sizes are AWS's published EC2 shapes for these families (x86: c5/m5/r5; Graviton arm64: c6g/m6g/r6g).
Their on-demand Batch Transform prices, with sources and dates, are in leafline.prices (per region; a type
without an AWS price, or one Batch Transform does not offer, is listed there as unpriced, saying why).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: int
    arch: str  # "x86_64" | "aarch64": which compiled artifact the instance can load


_SIZES = {
    # size: (vCPUs, GiB per vCPU multiplier is per family)
    "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "9xlarge": 36, "12xlarge": 48, "18xlarge": 72,
    "24xlarge": 96, "8xlarge": 32, "16xlarge": 64,
}  # fmt: skip
_FAMILIES = {
    # family: (GiB per vCPU, arch, sizes offered)
    "c5": (2, "x86_64", ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge")),
    "m5": (4, "x86_64", ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge")),
    "r5": (8, "x86_64", ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge")),
    "c6g": (2, "aarch64", ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")),
    "m6g": (4, "aarch64", ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")),
    "r6g": (8, "aarch64", ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")),
}

INSTANCE_TYPES: dict[str, InstanceType] = {
    f"ml.{family}.{size}": InstanceType(f"ml.{family}.{size}", _SIZES[size], _SIZES[size] * per_cpu, arch)
    for family, (per_cpu, arch, sizes) in _FAMILIES.items()
    for size in sizes
}
