"""bench/late_jobs.py on moto: a job.late pass reads the late jobs only, whatever is watched."""
from __future__ import annotations

from typing import Any


def test_the_late_pass_reads_only_the_late_jobs(aws: dict[str, str], configure: Any) -> None:
    from bench import late_jobs, operator_sections
    from bench.counting import COUNTER, attach_models
    from chalicelib.store.models import JobModel

    configure({"notifications": [{"url": late_jobs.RECEIVER, "events": ["job.late"]}]})
    COUNTER.install()
    try:
        attach_models(COUNTER, JobModel)
        figures = late_jobs.measure(sizes=(60, 120), late=(0, 6))
    finally:
        COUNTER.uninstall()
    cases = {(c["watched"], c["late"]): c for c in figures["cases"]}
    for watched in (60, 120):
        assert cases[(watched, 0)]["items_read"] == 0 and cases[(watched, 0)]["calls"] == {"dynamodb.Query": 4}
        assert cases[(watched, 6)]["items_read"] == 6 and cases[(watched, 6)]["told"] == 6
        assert cases[(watched, 6)]["calls"]["dynamodb.UpdateItem"] == 6
        assert cases[(watched, 0)]["scan_items_read"] == watched
    # each late job's notification is on the queue (SQS calls are counted by make bench's fresh process:
    # a worker's SQS client may predate the counter)
    from chalicelib.engine.notifications import is_notification
    from conftest import receive_all

    assert sum(is_notification(r) for r in receive_all(aws["queue_url"])) == 12
    assert "## 1h. job.late" in operator_sections.late_jobs_section({"late_jobs": figures})
