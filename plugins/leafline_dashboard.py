"""leafline's dashboard plugin (leafline.orchestration.airflow.plugin): an installed leafline registers it through its
`airflow.plugins` entry point, so this file offers it only to an Airflow that imports leafline without that
entry point (leafline on PYTHONPATH, not installed); Airflow never sees the plugin twice.
"""

from leafline.orchestration.airflow import plugin

if not plugin.registered_by_entry_point():
    LeaflineDashboardPlugin = plugin.LeaflineDashboardPlugin
