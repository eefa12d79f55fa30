"""bench/admission.py on moto: a quota adds one item to the job's transaction and no call."""
from __future__ import annotations

from typing import Any


def test_the_admission_bench_counts_one_more_item_and_no_more_calls(aws: dict[str, str], configure: Any) -> None:
    from bench import admission, feature_sections
    from bench.counting import COUNTER, attach_models
    from chalicelib.store.models import AgentModel, JobModel, NameClaim

    configure(admission.config_extra())
    COUNTER.install()
    try:
        attach_models(COUNTER, JobModel, AgentModel, NameClaim)
        figures = admission.measure()
    finally:
        COUNTER.uninstall()
    cases = {c["case"]: c for c in figures["cases"]}
    for request in ("create", "delete"):
        free, limited = cases[f"{request}, no quota"], cases[f"{request}, every quota"]
        assert free["calls"] == limited["calls"] and limited["items_read"] == free["items_read"] == 0
        assert limited["items_written"] == free["items_written"] + 1
    assert cases["create, every quota"]["calls"] == {"dynamodb.TransactWriteItems": 1}
    first = cases[f"first create over {admission.EXISTING} jobs, counters absent"]
    assert first["calls"]["dynamodb.TransactWriteItems"] == 2 and first["items_read"] == 2 * admission.EXISTING
    assert {v["calls"] for v in figures["views"].values()} == {0}
    assert figures["views"]["interval 1 s"]["runsPerDay"] == 86_400
    assert "| create, every quota | 1 (TransactWriteItems 1) | 0 | 3 |" in feature_sections.admission_section(
        {"admission": figures})
