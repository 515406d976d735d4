"""leafline's MLOps dashboard in Airflow 3: mounted at /leafline/ by the api-server, listed under Browse.

Read-only and behind Airflow's authentication (leafline.dashboard.airflow_app); it shows the index of the
DAG's spec (LEAFLINE_SPEC, else the one shipped in the package). Put this file in the plugins folder with
leafline installed (the `dashboard` and `airflow` extras).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from leafline.dashboard.airflow_app import airflow_dashboard


class LeaflineDashboardPlugin(AirflowPlugin):
    # Airflow reads these as class attributes (hence RUF012).
    name = "leafline_dashboard"
    fastapi_apps = [  # noqa: RUF012
        {"app": airflow_dashboard(), "url_prefix": "/leafline", "name": "leafline runs"}
    ]
    external_views = [  # noqa: RUF012
        {"name": "Scoring runs", "href": "/leafline/", "destination": "nav", "category": "browse",
         "url_route": "leafline-runs"},
    ]  # fmt: skip
