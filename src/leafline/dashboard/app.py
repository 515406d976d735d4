"""The dashboard's FastAPI app: HTML pages and a JSON API over the runs index. Read-only.

The handlers only wire: the index is read per request (RunsIndex), views.py filters and shapes the
records, charts.py draws the plots, templates/ render them. An unreadable index, a corrupt record or a
bad filter is a message on the page, never a 500 or a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from leafline.dashboard.charts import histogram_svg, series_svg
from leafline.dashboard.views import RunFilter, neighbours, previous_run, table_row
from leafline.errors import UsageError
from leafline.runs.cost import cost_text, usd_text
from leafline.runs.index import LoadedRuns

RECENT_RUNS = 20
_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                         autoescape=select_autoescape(["html"]))  # fmt: skip
# Costs are the run records' figures, written as the demo's summary writes them (leafline.runs.cost).
_TEMPLATES.filters.update(usd=usd_text, cost_text=cost_text)


def create_app(load_runs: Callable[[], LoadedRuns], dependencies: Sequence[Any] = ()) -> FastAPI:
    """load_runs reads the index (called per request); dependencies guard every route (Airflow's auth)."""
    app = FastAPI(title="leafline runs", dependencies=list(dependencies), docs_url=None, redoc_url=None)

    def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = _TEMPLATES.get_template(template).render(request=request, **values)
        return HTMLResponse(html, status_code=status)

    def message(request: Request, status: int, title: str, text: str) -> HTMLResponse:
        return page(request, "message.html", status, title=title, text=text)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> HTMLResponse:
        return message(
            request, 500, "Something went wrong", f"The dashboard could not show this page ({type(exc).__name__})."
        )

    @app.get("/", response_class=HTMLResponse)
    def runs_page(request: Request) -> HTMLResponse:
        try:
            chosen = RunFilter.from_query(request.query_params)
        except UsageError as exc:
            return message(request, 400, "Bad filter", str(exc))
        loaded = load_runs()
        rows = [table_row(r) for r in loaded.records if chosen.matches(r)]
        projects = sorted({str(r.get("project_id")) for r in loaded.records if r.get("project_id")})
        return page(request, "runs.html", rows=rows, total=len(loaded.records), problems=loaded.problems,
                    chosen=chosen, projects=projects, location=loaded.location)  # fmt: skip

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        loaded = load_runs()
        record = next((r for r in loaded.records if r.get("run_id") == run_id), None)
        if record is None:
            return message(request, 404, "No such run", f"No run {run_id!r} in {loaded.location}.")
        return page(request, "run.html", run=record, row=table_row(record), plots=_plots(record, loaded.records))

    @app.get("/api/runs")
    def runs_api(request: Request) -> JSONResponse:
        try:
            chosen = RunFilter.from_query(request.query_params)
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        loaded = load_runs()
        rows = [table_row(r) for r in loaded.records if chosen.matches(r)]
        return JSONResponse({"location": loaded.location, "runs": rows, "problems": loaded.problems})

    @app.get("/api/runs/{run_id}")
    def run_api(run_id: str) -> JSONResponse:
        loaded = load_runs()
        record = next((r for r in loaded.records if r.get("run_id") == run_id), None)
        if record is None:
            return JSONResponse({"error": f"no run {run_id!r} in {loaded.location}"}, status_code=404)
        return JSONResponse(record)

    return app


def _plots(record: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, str]:
    scores = record.get("scores") or {}
    histogram = scores.get("histogram") or {}
    before = ((previous_run(record, records) or {}).get("scores") or {}).get("histogram") or {}
    previous = before.get("counts") if before.get("edges") == histogram.get("edges") else None
    recent = neighbours(record, records, RECENT_RUNS)
    labels = [str(r.get("run_date")) for r in recent]
    edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
    return {
        "histogram": histogram_svg(edges, counts, previous, "Score distribution"),
        "throughput": series_svg(labels, [r.get("rows_per_s") for r in recent], "Throughput (rows/s)", ",.0f"),
        "cost": series_svg(labels, [(r.get("cost") or {}).get("usd") for r in recent], "Estimated cost (USD)", ".5f"),
    }
