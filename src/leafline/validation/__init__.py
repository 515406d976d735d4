"""Checks a Batch Transform output against its input and the model: what `leafline validate`, the DAG and
the SageMaker Pipeline's validation step run.

- spec: what to validate (locations, formats, DataProcessing, model, sample size, bars);
- expectations: what the model says an output record must look like (columns, range, labels);
- streams: input records and output lines, read as streams;
- scores: the score distribution (histogram, quantiles) and drift (PSI) against a previous report;
- rescoring: the deterministic sample re-scored with LightGBM in-process;
- checker: one file's input and output in lockstep; validate: every file, and the report.
"""
