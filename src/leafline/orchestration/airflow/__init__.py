"""leafline inside Airflow 3: the nightly DAGs (scoring_dags), the DAG file that asks for them (dag_file) and
the dashboard plugin (plugin, registered through the `airflow.plugins` entry point).

Only Airflow loads these: scoring_dags imports Airflow's Task SDK and leafline's light modules, never an AWS
or SageMaker SDK; the task bodies (leafline.orchestration.airflow.tasks) load at run time.
"""
