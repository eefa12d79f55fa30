"""bench/idempotency.py (its own interpreter and moto, as ``make bench`` runs it): what a key adds
to a create, and what a repeated request costs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_idempotency_bench_counts_two_more_calls_per_create() -> None:
    from bench import feature_sections

    out = subprocess.run([sys.executable, "-m", "bench.idempotency", "--part"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=True)
    figures = json.loads(out.stdout)
    cases = figures["cases"]
    assert all(case["same_every_time"] for case in cases.values())
    assert figures["key_extra_calls"] == {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1}
    assert cases["create_repeated_with_key"]["calls"] == {"dynamodb.GetItem": 1, "dynamodb.PutItem": 1}
    assert cases["run_now_with_payload"]["dynamodb_calls"] == cases["run_now"]["dynamodb_calls"] + 1
    assert "| POST /api/jobs with a new Idempotency-Key | 3 (PutItem 1, TransactWriteItems 1, UpdateItem 1) |" \
        in feature_sections.idempotency_section({"idempotency": figures})
