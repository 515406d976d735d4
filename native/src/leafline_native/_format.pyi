from collections.abc import Buffer

def format_rows(
    values: Buffer, start: str, row_open: str, field_separator: str, row_close: str, row_separator: str, end: str
) -> bytes | None: ...
