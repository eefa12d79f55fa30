"""scripts/backfill_list_keys.py: listKey on every job item of a deployed table, on moto."""
from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest

from chalicelib import runtime
from chalicelib.store.listing import list_key
from chalicelib.store.models import JobModel
from conftest import record_job
from scripts.backfill_list_keys import Backfill, main


@pytest.fixture
def old_jobs(engine: dict[str, Any]) -> list[str]:
    """Ten jobs as items written before the list index: eight without listKey, one with a wrong one."""
    ids = [runtime.jobs().create(record_job(name=f"old{i}", schedule="0 12 * * *"))["id"] for i in range(10)]
    for job_id in ids[:8]:
        JobModel(job_id).update(actions=[JobModel.listKey.remove()])
    JobModel(ids[8]).update(actions=[JobModel.listKey.set("someone-else#" + ids[8])])
    return ids


def listed(job_ids: list[str]) -> bool:
    return all(JobModel.get(j).listKey == list_key(JobModel.get(j).agentId, j) for j in job_ids)


def test_a_run_writes_the_missing_keys_and_a_second_run_writes_nothing(
        engine: dict[str, Any], old_jobs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    table = engine["jobs_table"]
    dry = main(["--table", table, "--dry-run"])
    assert dry.written == 9 and not any(JobModel.get(j).listKey for j in old_jobs[:8])  # nothing written
    first = main(["--table", table, "--page-size", "4"])
    assert (first.written, first.correct, first.changed) == (9, 1, 0) and listed(old_jobs)
    assert first.other == first.scanned - 10  # the name claims
    second = main(["--table", table])
    assert (second.written, second.correct) == (0, 10)
    assert "finished: wrote 0 listKey(s)" in capsys.readouterr().out


def test_a_run_stopped_after_a_page_resumes_from_the_printed_key(
        engine: dict[str, Any], old_jobs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    table = engine["jobs_table"]
    first = main(["--table", table, "--page-size", "5", "--max-pages", "1"])
    out = capsys.readouterr().out
    assert first.scanned == 5 and "stopped" in out
    start = re.search(r"--start-key '([^']+)'", out)
    assert start is not None and json.loads(start.group(1))
    rest = main(["--table", table, "--page-size", "5", "--start-key", start.group(1)])
    assert first.written + rest.written == 9 and first.scanned + rest.scanned == 20 and listed(old_jobs)


def test_a_job_deleted_during_the_run_is_not_recreated(engine: dict[str, Any], old_jobs: list[str]) -> None:
    backfill = Backfill(engine["jobs_table"], boto3.client("dynamodb"))
    items, _ = backfill.scan_page(None)
    gone = old_jobs[0]
    runtime.jobs().delete(gone)  # between the Scan and the writes
    backfill.fix_page(items)
    assert backfill.counts.changed == 1 and backfill.counts.written == 8
    found = boto3.client("dynamodb").get_item(TableName=engine["jobs_table"], Key={"id": {"S": gone}})
    assert found.get("Item") is None
