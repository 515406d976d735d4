"""leafline's serving, native part: `leafline_native._csv.parse_csv` (see its docstring).

The extension may be missing (built without a compiler or fast_float's header); callers import it
lazily and read CSV their exact way without it."""
