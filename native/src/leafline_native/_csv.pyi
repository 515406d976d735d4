from collections.abc import Buffer
from typing import Literal

SHORT_DECIMALS: Literal["sse", "fast_float"]  # who reads fields like "-0.123456789": SSE (x86-64 builds) or fast_float

def parse_csv(
    body: Buffer, num_features: int, out: Buffer, blank_lines_are_records: bool = False, threads: int = 1
) -> int | None: ...
def rows_needed(body_bytes: int, num_features: int, threads: int) -> int: ...
