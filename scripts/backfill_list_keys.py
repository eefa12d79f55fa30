"""Give every job item of a deployed jobs table its ``listKey`` (the ``list`` index's sort key).

Jobs written before the list index existed have no ``listKey``, so no page of ``GET /api/jobs``
shows them. This pages a Scan (only ``id``, ``agentId`` and ``listKey`` read) and writes
``listKey = <agentId>#<id>`` (:func:`chalicelib.store.listing.list_key`) where it is missing or wrong,
each with a conditional UpdateItem:

- idempotent: an item whose key is already right is not written, so a second run writes nothing;
- resumable: after each page it prints the key to pass as ``--start-key`` to carry on from there;
- safe beside the live system: the condition requires the item to still exist (a job deleted
  meanwhile is not recreated as a bare item) and to still have the ``agentId`` the Scan read
  (a PATCH that moved the job to another agent wrote its own ``listKey``, which stays).

Usage (docs/operations.md, "Backfilling listKey")::

    python -m scripts.backfill_list_keys --table agentos-jobs-prod [--region eu-west-1]
        [--start-key '<json>'] [--page-size 500] [--max-pages N] [--dry-run]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib.store.listing import list_key

Item = dict[str, Any]  # DynamoDB JSON, as the low-level client returns it


@dataclass
class Counts:
    """What a run did: items scanned, keys written (or that a dry run would write), keys already
    right, items that changed or vanished between the Scan and the write, non-job items."""

    scanned: int = 0
    written: int = 0
    correct: int = 0
    changed: int = 0
    other: int = 0

    def line(self) -> str:
        """One line for the progress output."""
        return (f"scanned {self.scanned}, written {self.written}, already right {self.correct}, "
                f"changed meanwhile {self.changed}, not jobs {self.other}")


class Backfill:
    """Pages the Scan and fixes each page (``dry_run``: counts, writes nothing)."""

    def __init__(self, table: str, client: Any, dry_run: bool = False, page_size: int = 500) -> None:
        self.table = table
        self.client = client
        self.dry_run = dry_run
        self.page_size = page_size
        self.counts = Counts()

    def scan_page(self, start_key: Item | None) -> tuple[list[Item], Item | None]:
        """One page of the Scan from ``start_key``: its items and the next page's start (None: done)."""
        args: dict[str, Any] = {"TableName": self.table, "Limit": self.page_size,
                                "ProjectionExpression": "#i, #a, #l",
                                "ExpressionAttributeNames": {"#i": "id", "#a": "agentId", "#l": "listKey"}}
        if start_key:
            args["ExclusiveStartKey"] = start_key
        answer = self.client.scan(**args)
        return answer.get("Items", []), answer.get("LastEvaluatedKey")

    def fix_page(self, items: Sequence[Item]) -> None:
        """Write the missing or wrong ``listKey`` of each job among ``items``."""
        for item in items:
            self.counts.scanned += 1
            job_id, agent = item["id"]["S"], item.get("agentId", {}).get("S")
            if not job_id.startswith("job-") or agent is None:  # name claims, agents, the shard record
                self.counts.other += 1
            elif item.get("listKey", {}).get("S") == list_key(agent, job_id):
                self.counts.correct += 1
            elif self.dry_run or self._write(job_id, agent):
                self.counts.written += 1
            else:
                self.counts.changed += 1

    def _write(self, job_id: str, agent: str) -> bool:
        """Set the job's ``listKey``; False if it was deleted or moved to another agent since the Scan."""
        try:
            self.client.update_item(
                TableName=self.table, Key={"id": {"S": job_id}}, UpdateExpression="SET #l = :k",
                ConditionExpression="attribute_exists(#i) AND #a = :a",
                ExpressionAttributeNames={"#i": "id", "#a": "agentId", "#l": "listKey"},
                ExpressionAttributeValues={":k": {"S": list_key(agent, job_id)}, ":a": {"S": agent}})
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise

    def run(self, start_key: Item | None, max_pages: int | None = None) -> Item | None:
        """Fix pages from ``start_key`` (all, or ``max_pages``), printing progress and the resume key
        after each; returns where the next run should start (None: the table is done)."""
        pages, key = 0, start_key
        while max_pages is None or pages < max_pages:
            items, key = self.scan_page(key)
            self.fix_page(items)
            pages += 1
            resume = f"--start-key '{json.dumps(key, separators=(',', ':'))}'" if key else "done"
            print(f"page {pages}: {self.counts.line()}; resume: {resume}", flush=True)
            if key is None:
                break
        return key


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m scripts.backfill_list_keys", description=__doc__.split("\n")[0])
    parser.add_argument("--table", required=True, help="the jobs table, e.g. agentos-jobs-prod")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument("--endpoint-url", help="a DynamoDB endpoint other than AWS's (the local stack)")
    parser.add_argument("--start-key", type=json.loads, help="resume from this key (printed after each page)")
    parser.add_argument("--page-size", type=int, default=500, help="items per Scan page (default 500)")
    parser.add_argument("--max-pages", type=int, help="stop after this many pages (resume later)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be written, write nothing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Counts:
    """Run the backfill; prints a summary line and returns the counts."""
    args = parse_args(argv)
    client = boto3.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
    backfill = Backfill(args.table, client, args.dry_run, args.page_size)
    following = backfill.run(args.start_key, args.max_pages)
    verb = "would write" if args.dry_run else "wrote"
    print(f"{'stopped' if following else 'finished'}: {verb} {backfill.counts.written} listKey(s); "
          f"{backfill.counts.line()}", flush=True)
    return backfill.counts


if __name__ == "__main__":
    main(sys.argv[1:])
