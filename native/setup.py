"""The extensions are optional: without a C++ compiler (or, for the reader, fast_float's header) the wheel
still builds without them, and leafline's server reads and writes CSV by its pyarrow paths (and lays
Parquet and Arrow columns into its matrix with numpy) instead. The column gather needs no header; the
writer needs no fmt: without fmt's header (libfmt-dev) it takes its digits from std::to_chars instead.

On x86-64 the reader is built for SSSE3 (every x86 SageMaker instance has it, and AVX2 besides): it
reads a short plain decimal from one 16-byte load. Elsewhere that path is left out and fast_float reads
every field."""

import platform

from setuptools import Extension, setup

SSE = ["-mssse3"] if platform.machine().lower() in ("x86_64", "amd64") else []


def extension(name: str, *flags: str) -> Extension:
    """A C++17 extension whose failed compile is a warning in the build log, not a failed install."""
    return Extension(
        f"leafline_native.{name}",
        sources=[f"src/leafline_native/{name}.cpp"],
        language="c++",
        extra_compile_args=["-std=c++17", "-O3", "-fvisibility=hidden", *flags],
        optional=True,
    )


setup(ext_modules=[extension("_csv", *SSE), extension("_format"), extension("_columns")])
