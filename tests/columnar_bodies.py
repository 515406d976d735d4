"""Parquet and Arrow IPC stream bodies written from a pyarrow table, as the tests send them."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq


def parquet_body(table: pa.Table, **options: object) -> bytes:
    """The table as one Parquet file; options go to pyarrow.parquet.write_table (row_group_size, ...)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def arrow_body(table: pa.Table, max_chunksize: int | None = None) -> bytes:
    """The table as one Arrow IPC stream, in batches of at most max_chunksize rows."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max_chunksize)
    return bytes(sink.getvalue())
