"""leafline's serving, native part: `leafline_native._csv.parse_csv` (the CSV reader) and
`leafline_native._format.format_rows` (the response writer); see their docstrings.

Either extension may be missing (built without a compiler, or the reader without fast_float's header);
callers import them lazily and read or write their exact way without them."""
