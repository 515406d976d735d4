from collections.abc import Buffer, Sequence

# (values, value_offset, validity, bit_offset), or None for a column of missing values
Source = tuple[Buffer, int, Buffer | None, int] | None

def fill_rows(out: Buffer, row: int, rows: int, columns: Sequence[Source]) -> None: ...
