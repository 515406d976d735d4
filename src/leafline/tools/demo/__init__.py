"""`make demo` / `leafline demo`: the whole nightly run on this machine, through the real Airflow DAG.

Local AWS starts (state kept in the demo folder); the bundled sample model is compiled, tuned,
packaged, registered and approved; sample input shards go to local S3; `airflow dags test
nightly_scoring` runs the DAG unchanged against local AWS; a summary says what ran, what it would cost
on AWS and where everything is. Running it again reuses what is there.
"""
