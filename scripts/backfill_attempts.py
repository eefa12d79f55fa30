"""Give every run item of a deployed runs table an ``attempts`` map (issue 26's run history).

Runs written before ``attempts`` existed have none, and the writes that record an attempt set
``attempts.<n>``, which DynamoDB refuses on an item without the map: such a run's next claim or
outcome fails until it has one (its message is retried by SQS, and dead-lettered after 5
receives). Run this right after deploying the version that records attempts: it pages a Scan of the
runs table (``jobId``, ``id``, ``attempts`` read) and, for each run item without the map, writes
``attempts = if_not_exists(attempts, {})`` with a conditional UpdateItem:

- idempotent: a run that has its map is not written, so a second run writes nothing;
- resumable: after each page it prints the key to pass as ``--start-key``;
- safe beside the live system: the condition requires the run to still exist (a run expired or
  dropped meanwhile is not recreated), and ``if_not_exists`` keeps a map written meanwhile.

Usage (docs/operations.md, "Upgrading: runs in progress")::

    python -m scripts.backfill_attempts --table agentos-jobs-prod-runs [--region eu-west-1]
        [--start-key '<json>'] [--page-size 500] [--max-pages N] [--dry-run]
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from scripts.backfill_list_keys import Backfill, Counts, Item, parse_args


class AttemptsBackfill(Backfill):
    """Pages the runs table's Scan and gives each run item without ``attempts`` an empty map."""

    def scan_page(self, start_key: Item | None) -> tuple[list[Item], Item | None]:
        """One page of the Scan from ``start_key``: its items and the next page's start (None: done)."""
        args: dict[str, Any] = {"TableName": self.table, "Limit": self.page_size,
                                "ProjectionExpression": "#j, #i, #a",
                                "ExpressionAttributeNames": {"#j": "jobId", "#i": "id", "#a": "attempts"}}
        if start_key:
            args["ExclusiveStartKey"] = start_key
        answer = self.client.scan(**args)
        return answer.get("Items", []), answer.get("LastEvaluatedKey")

    def fix_page(self, items: Sequence[Item]) -> None:
        """Write the missing map of each run among ``items`` (events, payloads, keys: not runs)."""
        for item in items:
            self.counts.scanned += 1
            run_id = item.get("id", {}).get("S", "")
            if not run_id.startswith("run-"):
                self.counts.other += 1
            elif "attempts" in item:
                self.counts.correct += 1
            elif self.dry_run or self._write_map(item["jobId"]["S"], run_id):
                self.counts.written += 1
            else:
                self.counts.changed += 1

    def _write_map(self, job_id: str, run_id: str) -> bool:
        try:
            self.client.update_item(
                TableName=self.table, Key={"jobId": {"S": job_id}, "id": {"S": run_id}},
                UpdateExpression="SET #a = if_not_exists(#a, :empty)", ConditionExpression="attribute_exists(#i)",
                ExpressionAttributeNames={"#a": "attempts", "#i": "id"},
                ExpressionAttributeValues={":empty": {"M": {}}})
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False  # expired or dropped since the Scan
            raise


def main(argv: Sequence[str] | None = None) -> Counts:
    """Run the backfill; prints a summary line and returns the counts."""
    args = parse_args(argv)
    client = boto3.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
    backfill = AttemptsBackfill(args.table, client, args.dry_run, args.page_size)
    following = backfill.run(args.start_key, args.max_pages)
    verb = "would write" if args.dry_run else "wrote"
    print(f"{'stopped' if following else 'finished'}: {verb} {backfill.counts.written} attempts map(s); "
          f"{backfill.counts.line()}", flush=True)
    return backfill.counts


if __name__ == "__main__":
    main(sys.argv[1:])
