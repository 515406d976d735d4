"""leafline's serving, native part: `leafline_native._csv.parse_csv` (the CSV reader),
`leafline_native._format.format_rows` (the response writer) and `leafline_native._columns.fill_rows` (the
Parquet and Arrow column gather); see their docstrings.

Any extension may be missing (built without a compiler, or the reader without fast_float's header);
callers import them lazily and read or write their exact way without them."""
