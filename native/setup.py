"""The extensions are optional: without a C++ compiler (or, for the reader, fast_float's header) the wheel
still builds without them, and leafline's server reads and writes CSV by its pyarrow paths instead. The
writer needs no fmt: without fmt's header (libfmt-dev) it takes its digits from std::to_chars instead."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "leafline_native._csv",
            sources=["src/leafline_native/_csv.cpp"],
            language="c++",
            extra_compile_args=["-std=c++17", "-O3", "-fvisibility=hidden"],
            optional=True,  # a failed compile is a warning in the build log, not a failed install
        ),
        Extension(
            "leafline_native._format",
            sources=["src/leafline_native/_format.cpp"],
            language="c++",
            extra_compile_args=["-std=c++17", "-O3", "-fvisibility=hidden"],
            optional=True,
        ),
    ]
)
