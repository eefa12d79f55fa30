"""The ``aws_model`` block of bench/results.json: calibration against the same run's local
lateness, then the predictions for AWS, and what bounds the 100,000 burst."""
from __future__ import annotations

import time
from typing import Any

from . import calibration, predictions
from .assumptions import rows


def model(results: dict[str, Any]) -> dict[str, Any]:
    """Run the model on a results.json that holds the lateness and cold-start sections."""
    started = time.perf_counter()
    quick = bool(results.get("meta", {}).get("quick"))
    block: dict[str, Any] = {
        "calibration": calibration.calibrate(results["lateness"], quick) if "lateness" in results else {},
        "predictions": predictions.predictions(results),
        "assumptions": [list(row) for row in rows()],
    }
    block["bounds_burst_100000"] = predictions.bounds_100k(results, block["predictions"]["burst_100000"]["project"])
    block["seconds"] = round(time.perf_counter() - started, 1)
    return block
