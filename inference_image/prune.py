"""Trim the image's virtualenv to what leafline's server and validator load, then prove they still load.

Run in the build stage: `python prune.py /opt/venv`. What goes, and why it is safe:
- pip, setuptools: nothing installs at run time;
- scipy, except the modules `import lightgbm` loads (scipy.sparse and what it needs): leafline never
  passes LightGBM a sparse matrix, and nothing else imports scipy; scipy.libs (OpenBLAS) is then unused;
- pyarrow's Flight (not linked by what pyarrow.csv loads), the Python modules of readers and file systems
  leafline does not use (Parquet encryption, ORC, Feather, JSON, datasets, cloud file systems: their C++
  libraries stay, pyarrow's core links them; Parquet and Arrow IPC stay, the server reads them), C++
  headers, Cython sources, its own tests and the extra copies of libarrow_python that pip writes instead
  of symlinks;
- botocore's API models, except those of the services the image calls (S3, SageMaker, STS for
  credentials) and the files every client reads;
- NumPy's C headers (f2py stays: scipy imports every NumPy attribute, f2py included);
- the symbol tables of the packages' own shared libraries (strip --strip-unneeded: the dynamic symbols stay);
- the third-party packages' Python sources: each module is kept as its compiled .pyc, in place of the .py
  (tracebacks through those libraries show no source lines; leafline's own code keeps its sources).
Together these take the image from 613 MB to under 300 MB.
The check at the end imports what the server and the validator import and runs each library once; a
prune that removed too much fails the build here, not at 02:00 on SageMaker.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REMOVE = (
    "pip", "pip-*.dist-info", "setuptools", "setuptools-*.dist-info", "pkg_resources", "_distutils_hack",
    "distutils-precedence.pth",
    "scipy.libs",
    "pyarrow/include", "pyarrow/src", "pyarrow/tests", "pyarrow/libarrow_flight.so*", "pyarrow/_flight.*.so",
    "pyarrow/libarrow_python_flight.so*", "pyarrow/_pyarrow_cpp_tests.*.so", "pyarrow/**/*.pyx",
    "pyarrow/**/*.pxd", "pyarrow/**/*.pxi", "pyarrow/libarrow_python.so", "pyarrow/libarrow_python.so.*.*.*",
    "pyarrow/libarrow_python_parquet_encryption.so", "pyarrow/libarrow_python_parquet_encryption.so.*.*.*",
    "pyarrow/_acero.*.so", "pyarrow/_azurefs.*.so", "pyarrow/_dataset*.so", "pyarrow/_feather.*.so",
    "pyarrow/_gcsfs.*.so", "pyarrow/_hdfs.*.so", "pyarrow/_orc.*.so", "pyarrow/_parquet_encryption*.so",
    "pyarrow/_s3fs.*.so", "pyarrow/_substrait.*.so", "pyarrow/_json.*.so",
    "numpy/_core/include",
)  # fmt: skip
SCIPY_KEEP = {"__init__.py", "__config__.py", "_distributor_init.py", "version.py", "_lib", "sparse", "__pycache__"}
SCIPY_SPARSE_DROP = ("linalg", "csgraph")
BOTOCORE_KEEP = {"s3", "sagemaker", "sts", "endpoints.json", "partitions.json", "sdk-default-configuration.json",
                 "_retry.json"}  # fmt: skip


def site_packages(venv: Path) -> Path:
    return next(venv.glob("lib/python3*/site-packages"))


def prune(site: Path) -> int:
    removed = 0
    targets = [path for pattern in REMOVE for path in site.glob(pattern)]
    scipy = site / "scipy"
    targets += [p for p in scipy.iterdir() if p.name not in SCIPY_KEEP and not p.name.startswith("_cyutility")]
    targets += [scipy / "sparse" / name for name in SCIPY_SPARSE_DROP]
    targets += [p for p in (site / "botocore" / "data").iterdir() if p.name not in BOTOCORE_KEEP]
    for path in targets:
        if not path.exists() and not path.is_symlink():
            continue
        removed += _size(path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def strip_libraries(site: Path) -> int:
    """--strip-unneeded keeps what the dynamic loader needs; the check below runs every library once. The
    libraries auditwheel vendored into *.libs/ are left alone: patchelf rewrote their headers, and strip
    then breaks them ("ELF load command address/offset not page-aligned")."""
    import subprocess

    saved = 0
    for library in [*site.rglob("*.so"), *site.rglob("*.so.*")]:
        if library.is_symlink() or not library.is_file() or library.parent.name.endswith(".libs"):
            continue
        before = library.stat().st_size
        done = subprocess.run(["strip", "--strip-unneeded", str(library)], capture_output=True, check=False)
        if done.returncode == 0:
            saved += before - library.stat().st_size
    return saved


def sourceless(site: Path) -> int:
    """Each third-party module as a .pyc where its .py was (Python imports those without the source)."""
    import compileall

    saved = 0
    packages = [p for p in site.iterdir() if p.is_dir() and not p.name.endswith((".dist-info", ".libs"))]
    for package in packages:
        if not compileall.compile_dir(str(package), legacy=True, quiet=2, workers=1):
            raise SystemExit(f"compileall failed in {package}")
        for source in package.rglob("*.py"):
            if source.with_suffix(".pyc").is_file():
                saved += source.stat().st_size
                source.unlink()
        for cache in list(package.rglob("__pycache__")):
            saved += _size(cache)
            shutil.rmtree(cache)
    return saved


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file())


def check() -> None:
    """What the server and the validator use, each run once (a missing file fails here)."""
    import boto3
    import lightgbm
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.ipc as paipc
    import pyarrow.parquet as pq
    import scipy.sparse
    from leafline_native import _csv  # the native CSV reader, built in this stage (a stripped .so must still load)

    out = np.empty((_csv.rows_needed(8, 2, 1), 2))
    assert _csv.parse_csv(b"1,2\n3,\n", 2, out) == 2 and out[0, 1] == 2.0

    read = pacsv.ReadOptions(column_names=["a", "b"])
    convert = pacsv.ConvertOptions(column_types={"a": pa.float64(), "b": pa.float64()})
    table = pacsv.read_csv(pa.py_buffer(b"1,2\n3,\n"), read_options=read, convert_options=convert)
    assert table.num_rows == 2
    parquet = pa.BufferOutputStream()
    pq.write_table(table, parquet)
    assert pq.read_table(pa.BufferReader(parquet.getvalue())).equals(table)
    stream = pa.BufferOutputStream()
    with paipc.new_stream(stream, table.schema) as writer:
        writer.write_table(table)
    assert paipc.open_stream(stream.getvalue()).read_all().equals(table)
    x = np.random.default_rng(0).normal(size=(200, 3))
    params = {"objective": "binary", "verbose": -1, "num_leaves": 4}
    booster = lightgbm.train(params, lightgbm.Dataset(x, x[:, 0] > 0), num_boost_round=2)
    assert booster.predict(x[:5]).shape == (5,)
    assert scipy.sparse.csr_matrix(x).shape == (200, 3)
    session = boto3.session.Session(region_name="us-east-1")
    for service in ("s3", "sagemaker", "sts"):
        session.client(service)  # loads the service's model from botocore/data; no call is made


if __name__ == "__main__":
    site = site_packages(Path(sys.argv[1]))
    saved = prune(site) + strip_libraries(site) + sourceless(site)
    check()
    print(f"pruned {saved / 2**20:.0f} MB from {sys.argv[1]}; the server's and validator's imports still load")  # noqa: T201
