"""nightly_scoring: leafline's nightly LightGBM batch scoring on SageMaker Batch Transform, as Airflow DAGs.

Put this file in the DAGs folder of an Airflow 3 that has leafline[airflow] installed. LEAFLINE_SPECS_DIR
names a folder of job specs: one DAG per spec, nightly_scoring__{project_id}. Without it LEAFLINE_SPEC names
one spec (default: the demo's, shipped in the package): one DAG, nightly_scoring. The DAGs are built by
leafline.orchestration.airflow.scoring_dags each time Airflow parses this file, so an edited or added spec shows at the
next parse.
"""

from leafline.orchestration.airflow.scoring_dags import nightly_dags

globals().update(nightly_dags())
