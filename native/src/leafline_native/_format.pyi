from collections.abc import Buffer
from typing import Literal

DIGITS: Literal["dragonbox", "to_chars"]  # which digit path this build took (fmt's Dragonbox when its header was there)

def format_rows(
    values: Buffer, start: str, row_open: str, field_separator: str, row_close: str, row_separator: str, end: str
) -> bytes | None: ...
