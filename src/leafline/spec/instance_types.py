"""SageMaker instance types leafline can target for Batch Transform: vCPUs, memory and CPU architecture.

These are the CPU types SageMaker Batch Transform offers (CreateTransformJob's TransformInstanceType) in
current families: c5, m5, and the sixth and seventh Intel generations c/m/r 6i and 7i. Batch Transform offers
no Graviton type, so every one is x86_64; the older c4/m4 and the GPU/accelerator types are left out (the
image is a CPU image). Sizes are AWS's published EC2 shapes for these families.
Their on-demand Batch Transform prices, with sources and dates, are in leafline.spec.prices (per region; a type
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


_VCPUS = {
    "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "9xlarge": 36, "12xlarge": 48,
    "16xlarge": 64, "18xlarge": 72, "24xlarge": 96, "32xlarge": 128, "48xlarge": 192,
}  # fmt: skip
_SIXTH = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge")
_SEVENTH = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")
_FAMILIES = {
    # family: (GiB per vCPU, arch, the sizes CreateTransformJob's TransformInstanceType accepts)
    "c5": (2, "x86_64", ("xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge")),
    "m5": (4, "x86_64", ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge")),
    "c6i": (2, "x86_64", _SIXTH),
    "m6i": (4, "x86_64", _SIXTH),
    "r6i": (8, "x86_64", _SIXTH),
    "c7i": (2, "x86_64", _SEVENTH),
    "m7i": (4, "x86_64", _SEVENTH),
    "r7i": (8, "x86_64", _SEVENTH),
}

INSTANCE_TYPES: dict[str, InstanceType] = {
    f"ml.{family}.{size}": InstanceType(f"ml.{family}.{size}", _VCPUS[size], _VCPUS[size] * per_cpu, arch)
    for family, (per_cpu, arch, sizes) in _FAMILIES.items()
    for size in sizes
}
