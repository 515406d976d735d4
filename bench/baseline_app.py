"""The "standard Python" comparison server: Flask + gunicorn + pandas.read_csv + Booster.predict + to_csv.

This is how SageMaker bring-your-own-container examples serve a model; the benchmark starts it in the
same run as leafline (`gunicorn -w 2 bench.baseline_app:app`) so the ratio is measured, not quoted.
"""

from __future__ import annotations

import io
import os

import lightgbm
import pandas as pd
from flask import Flask, Response, request

app = Flask(__name__)
booster = lightgbm.Booster(model_file=os.environ["BASELINE_MODEL"])


@app.get("/ping")
def ping() -> Response:
    return Response(status=200)


@app.post("/invocations")
def invocations() -> Response:
    if request.mimetype == "application/x-parquet":  # the benchmark's Parquet row: pandas reads it too
        frame = pd.read_parquet(io.BytesIO(request.get_data()))
    else:
        frame = pd.read_csv(io.BytesIO(request.get_data()), header=None)
    scores = pd.DataFrame(booster.predict(frame.to_numpy()))
    return Response(scores.to_csv(header=False, index=False), mimetype="text/csv")
