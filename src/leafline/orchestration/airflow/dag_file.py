"""The DAG file Airflow parses: a few lines that ask leafline.orchestration.airflow.scoring_dags for the DAGs.

The checkout's dags/nightly_scoring.py is this text (a test keeps them equal); `leafline demo` writes it into
its own DAGs folder, so it needs no checkout.
"""

from __future__ import annotations

from pathlib import Path

DAG_FILE_NAME = "nightly_scoring.py"
DAG_FILE_TEXT = '''\
"""nightly_scoring: leafline's nightly LightGBM batch scoring on SageMaker Batch Transform, as Airflow DAGs.

Put this file in the DAGs folder of an Airflow 3 that has leafline[airflow] installed. LEAFLINE_SPECS_DIR
names a folder of job specs: one DAG per spec, nightly_scoring__{project_id}. Without it LEAFLINE_SPEC names
one spec (default: the demo's, shipped in the package): one DAG, nightly_scoring. The DAGs are built by
leafline.orchestration.airflow.scoring_dags each time Airflow parses this file, so an edited or added spec shows at the
next parse.
"""

from leafline.orchestration.airflow.scoring_dags import nightly_dags

globals().update(nightly_dags())
'''


def write_dag_file(folder: Path) -> Path:
    """leafline's DAG file in `folder` (created if missing), rewritten only when its text differs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DAG_FILE_NAME
    if not path.is_file() or path.read_text() != DAG_FILE_TEXT:
        path.write_text(DAG_FILE_TEXT)
    return path
