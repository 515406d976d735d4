"""The dashboard's FastAPI app: HTML pages and a JSON API over the runs index. Read-only.

The handlers only wire: the index is read per request (RunsIndex, a bounded part of it: views.py), views.py
filters and shapes the records, charts.py draws the plots, templates/ render them (autoescaped). A bad
filter is a 400, an unknown run a 404, a run whose record cannot be read a 422 saying why, an unreadable
record a warning on the runs table naming its file; never a 500 or a traceback. Every response forbids
scripts (Content-Security-Policy): the pages have none, so a record's text cannot become one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader
from starlette.middleware.base import RequestResponseEndpoint

from leafline.dashboard.charts import histogram_svg, series_svg
from leafline.dashboard.views import PAGE_SIZE, RunFilter, RunNotFound, RunView, link_href, page_cursor, run_view
from leafline.dashboard.views import runs_page as read_runs_page
from leafline.errors import UsageError
from leafline.runs.cost import cost_text
from leafline.runs.index import RunsIndex
from leafline.runs.record import RecordError
from leafline.sagemaker.storage import StorageError

_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True)
# Costs are the run records' figures, written as the demo's summary writes them (leafline.runs.cost).
_TEMPLATES.filters.update(cost_text=cost_text, link_href=link_href)
# No script, plugin, frame or fetch from anywhere; the inline <style> only; framed only by the same origin
# (Airflow's UI); forms submit to the dashboard itself.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(runs: RunsIndex | Callable[[], RunsIndex], dependencies: Sequence[Any] = ()) -> FastAPI:
    """runs: the index, or what opens it per request (Airflow's settings); dependencies guard every route."""
    app = FastAPI(title="leafline runs", dependencies=list(dependencies), docs_url=None, redoc_url=None)

    def open_index() -> RunsIndex:
        return runs if isinstance(runs, RunsIndex) else runs()

    @app.middleware("http")
    async def security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

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
            chosen, before = RunFilter.from_query(request.query_params), page_cursor(request.query_params)
        except UsageError as exc:
            return message(request, 400, "Bad filter", str(exc))
        shown = read_runs_page(open_index(), chosen, before)
        here = request.url_for("runs_page").include_query_params(**chosen.query())
        return page(request, "runs.html", rows=shown.rows, total=shown.runs, problems=shown.problems,
                    chosen=chosen, projects=shown.projects, location=shown.location, page_size=PAGE_SIZE,
                    newest_url=here if before else None,
                    older_url=here.include_query_params(before=shown.older) if shown.older else None)  # fmt: skip

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        try:
            view = run_view(open_index(), run_id, request.query_params.get("project") or None)
        except (RunNotFound, RecordError, StorageError) as exc:
            status, title = _failure(exc)
            return message(request, status, title, str(exc))
        return page(request, "run.html", run=view.record, row=view.row, plots=_plots(view))

    @app.get("/api/runs")
    def runs_api(request: Request) -> JSONResponse:
        try:
            chosen, before = RunFilter.from_query(request.query_params), page_cursor(request.query_params)
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        shown = read_runs_page(open_index(), chosen, before)
        return JSONResponse({"location": shown.location, "runs": shown.rows, "problems": shown.problems,
                             "older": shown.older})  # fmt: skip

    @app.get("/api/runs/{run_id}")
    def run_api(request: Request, run_id: str) -> JSONResponse:
        try:
            view = run_view(open_index(), run_id, request.query_params.get("project") or None)
        except (RunNotFound, RecordError, StorageError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=_failure(exc)[0])
        return JSONResponse(view.record)

    return app


def _failure(exc: Exception) -> tuple[int, str]:
    """The status and title for a run that cannot be shown."""
    if isinstance(exc, RunNotFound):
        return 404, "No such run"
    if isinstance(exc, RecordError):
        return 422, "This run's record cannot be read"
    return 503, "The runs index cannot be read"


def _plots(view: RunView) -> dict[str, str]:
    scores = view.record.get("scores") or {}
    histogram = scores.get("histogram") or {}
    before = ((view.previous or {}).get("scores") or {}).get("histogram") or {}
    previous = before.get("counts") if before.get("edges") == histogram.get("edges") else None
    labels = [str(row["run_date"]) for row in view.recent]
    edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
    return {
        "histogram": histogram_svg(edges, counts, previous, "Score distribution"),
        "throughput": series_svg(labels, [row["rows_per_s"] for row in view.recent], "Throughput (rows/s)", ",.0f"),
        "cost": series_svg(labels, [row["cost_usd"] for row in view.recent], "Estimated cost (USD)", ".5f"),
    }
