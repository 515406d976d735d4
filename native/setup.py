"""The extension is optional: without a C++ compiler or fast_float's header the wheel still builds (with
the package only), and leafline's server reads CSV by its pyarrow path instead."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "leafline_native._csv",
            sources=["src/leafline_native/_csv.cpp"],
            language="c++",
            extra_compile_args=["-std=c++17", "-O3", "-fvisibility=hidden"],
            optional=True,  # a failed compile is a warning in the build log, not a failed install
        )
    ]
)
