"""Deploy a stage's tables and queues into whatever CloudFormation boto3 reaches.

Used by ``make run`` (moto server, via ``AWS_ENDPOINT_URL``) and by the test suite
(moto's in-process ``mock_aws``), so the local stores are built from exactly the
template that ships to AWS. Run ``python -m infra.provision [stage]`` by hand too.
"""
from __future__ import annotations

import json
import os
import sys
import time
from functools import lru_cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .resources import APP_NAME, resources_template, stage_names

_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"}
_FAILED = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_COMPLETE",
           "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED"}


def stack_name(stage: str) -> str:
    """The name of the storage-only stack of ``stage`` (not the packaged app stack)."""
    return f"{APP_NAME}-{stage}-resources"


def _region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


def _client(service: str) -> Any:
    """A boto3 client for the current region, endpoint and credentials.

    Building a client costs ~0.1 s and the suite provisions once per test, so
    clients are reused while the environment that shapes them stays the same.
    """
    env = tuple(os.environ.get(k) for k in (
        "AWS_ENDPOINT_URL", f"AWS_ENDPOINT_URL_{service.upper()}", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"))
    return _cached_client(service, _region(), env)


@lru_cache(maxsize=32)
def _cached_client(service: str, region: str, env: tuple[str | None, ...]) -> Any:
    return boto3.client(service, region_name=region)


def _stack_status(cfn: Any, name: str) -> str | None:
    """The stack's status, or None when there is no such stack."""
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as err:
        if "does not exist" in str(err):
            return None
        raise


def _wait(cfn: Any, name: str, timeout_s: float = 900.0) -> None:
    """Poll until the stack settles; moto finishes at once, AWS takes minutes."""
    deadline, delay = time.monotonic() + timeout_s, 0.05
    while True:
        status = _stack_status(cfn, name)
        if status in _DONE:
            return
        if status is None or status in _FAILED:
            raise RuntimeError(f"stack {name} ended {status}: {_failure_reasons(cfn, name)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"stack {name} still {status} after {timeout_s:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def _failure_reasons(cfn: Any, name: str) -> list[str]:
    """The reasons of failed resource events, for an error worth reading."""
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return []
    return [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
            for e in events if e["ResourceStatus"].endswith("FAILED")]


def _current_template(cfn: Any, name: str) -> dict[str, Any]:
    """The deployed template; botocore hands JSON bodies back already parsed."""
    body = cfn.get_template(StackName=name)["TemplateBody"]
    return json.loads(body) if isinstance(body, str) else json.loads(json.dumps(body))


def _deploy_stack(cfn: Any, name: str, body: str) -> None:
    """Create the stack, or update it when its template changed; no-op otherwise."""
    if _stack_status(cfn, name) is None:
        cfn.create_stack(StackName=name, TemplateBody=body)
    elif _current_template(cfn, name) == json.loads(body):
        return
    else:
        try:
            cfn.update_stack(StackName=name, TemplateBody=body)
        except ClientError as err:
            if "No updates are to be performed" not in str(err):
                raise
            return
    _wait(cfn, name)


def _ensure_ttl(dynamodb: Any, table: str, attribute: str) -> None:
    """Enable TTL when CloudFormation did not (moto ignores TimeToLiveSpecification)."""
    current = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})


def provision(stage: str = "dev") -> dict[str, str]:
    """Deploy ``stage``'s tables and queues (idempotently) and return their names and URLs.

    Returns ``{"jobs_table", "runs_table", "queue_url", "dlq_url"}``. Queue URLs come
    from SQS itself, so they carry the endpoint the caller talks to.
    """
    template = resources_template(stage)
    names = stage_names(stage)
    _deploy_stack(_client("cloudformation"), stack_name(stage), json.dumps(template, sort_keys=True))
    ttl = template["Resources"]["RunsTable"]["Properties"]["TimeToLiveSpecification"]
    _ensure_ttl(_client("dynamodb"), names.runs_table, ttl["AttributeName"])
    sqs = _client("sqs")
    return {
        "jobs_table": names.jobs_table,
        "runs_table": names.runs_table,
        "queue_url": sqs.get_queue_url(QueueName=names.queue)["QueueUrl"],
        "dlq_url": sqs.get_queue_url(QueueName=names.dlq)["QueueUrl"],
    }


def main(argv: list[str]) -> int:
    """``python -m infra.provision [stage]``: print the provisioned names as JSON."""
    print(json.dumps(provision(argv[0] if argv else "dev"), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
