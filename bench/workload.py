"""The benchmark's standard workload, built once and cached under .cache/bench/."""

from __future__ import annotations

from pathlib import Path

from leafline import samples
from leafline.model.compiler import compile_model_dir
from leafline.serving import artifacts

CACHE = Path(".cache/bench")
PAYLOAD_BYTES = 6 * 2**20  # SageMaker's default MaxPayloadInMB


def model_dir(shape: samples.ModelShape, log: bool = True) -> Path:
    directory = CACHE / "models" / shape.name
    if not (directory / "model.txt").exists():
        if log:
            print(f"training the {shape.name} model ({shape.trees} trees x {shape.leaves} leaves)...", flush=True)
        samples.train_binary(shape, directory / "model.txt", rows=40_000)
    if not artifacts.manifest_path(directory).exists():
        if log:
            print(f"compiling the {shape.name} model...", flush=True)
        print("  " + compile_model_dir(directory).summary(), flush=True)
    return directory


def batch() -> bytes:
    path = CACHE / "batch-6mb.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(samples.csv_batch_of_size(PAYLOAD_BYTES, seed=1))
    return path.read_bytes()


def parquet_batch() -> bytes:
    """The same rows as batch(), as one Parquet object (snappy, as Spark writes), columns named after the
    models' features: what a SplitType None job sends instead of the CSV."""
    path = CACHE / "batch-6mb.parquet"
    if not path.exists():
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        from leafline.serving.decoding import decode_csv

        x = decode_csv(batch(), samples.NUM_FEATURES)
        table = pa.table([pa.array(x[:, i], from_pandas=True) for i in range(x.shape[1])],
                         names=[f"Column_{i}" for i in range(x.shape[1])])  # fmt: skip
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="snappy")
        path.write_bytes(sink.getvalue())
    return path.read_bytes()
