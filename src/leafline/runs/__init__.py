"""Run records: one JSON document per scoring run (schema `leafline.run/2`) and the runs index they go into.

Every orchestrator writes one: the Airflow DAG, the Pipeline's validation step and `leafline transform`.
The MLOps dashboard reads nothing else.
"""
