"""leafline's MLOps dashboard in Airflow 3: mounted at /leafline/ by the api-server, listed under Browse.

Read-only and behind Airflow's authentication (leafline.dashboard.airflow_app); it shows the runs of every
project the DAG file loads (LEAFLINE_SPECS_DIR's specs, else LEAFLINE_SPEC, else the one shipped in the
package). Installing leafline (the `airflow` extra) registers it through the `airflow.plugins` entry point:
nothing goes into the plugins folder.
"""

from __future__ import annotations

import importlib.metadata

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


def registered_by_entry_point() -> bool:
    """Whether Airflow finds this plugin through an installed leafline's entry point (it then must not be
    offered again from the plugins folder: Airflow refuses a second plugin of the same name)."""
    target = f"{__name__}:{LeaflineDashboardPlugin.__name__}"
    return any(point.value == target for point in importlib.metadata.entry_points(group="airflow.plugins"))
