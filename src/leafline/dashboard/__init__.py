"""The MLOps dashboard: every scoring run at a glance, read-only, over the runs index.

One FastAPI app (app.py) serves it standalone (`leafline dashboard`) and inside Airflow 3's api-server
(leafline.orchestration.airflow.plugin, behind Airflow's authentication). Plots are SVG drawn on the server
(charts.py): nothing is downloaded by the browser.
"""
