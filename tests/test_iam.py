"""infra.iam: each function's policy allows every AWS call its code makes, and little more.

The calls are recorded under moto (botocore's ``_make_api_call``, below PynamoDB and boto3)
while each function's code runs a whole job life: the API's routes, the tick, the executor.
Each call becomes the IAM actions and resource ARN AWS would authorise (one action per item
of a TransactWriteItems), which must match a statement of that function's policy.
"""
from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient
from chalice import Response

from chalicelib import runtime
from chalicelib.clock import now_ms
from conftest import AGENT_ID, receive_all, record_job
from infra import iam

ACCOUNT, REGION = "123456789012", "us-east-1"
# Allowed but not reached by the session below, each for a stated reason.
RARE = {
    ("api_handler", "dynamodb:GetItem", "runs"): "a manual run whose executor wrote the run item first",
    ("execute", "dynamodb:GetItem", "runs"): "reading a run back (kept for the claim's takeover paths)",
    ("tick", "sqs:GetQueueUrl", "queue"): "once per process: in this one process the API resolved it first",
    ("execute", "sqs:GetQueueUrl", "queue"): "once per process: in this one process the API resolved it first",
    ("execute", "sqs:SendMessage", "queue"): "a retry or an occurrence that came too early",
    ("execute", "sqs:SendMessage", "dlq"): "a last attempt's failure",
    ("execute", "sqs:GetQueueUrl", "dlq"): "a last attempt's failure",
    ("execute", "ssm:GetParameter", "agents"): "only for agents configured with secretParam",
    ("api_handler", "ssm:GetParameter", "tokens"): "deployed functions only (AWS_LAMBDA_FUNCTION_NAME)",
    ("api_handler", "ssm:GetParameter", "callback"): "deployed functions only: the callback secret",
    ("execute", "ssm:GetParameter", "callback"): "deployed functions only: the callback secret",
    ("api_handler", "dynamodb:ConditionCheckItem", "jobs"): "an agent's report on a run whose job was deleted",
    ("execute", "dynamodb:ConditionCheckItem", "jobs"): "the outcome of a run whose job was deleted meanwhile",
    ("execute", "dynamodb:PutItem", "runs"): "an occurrence that waits for its job's run in progress (overlap queue)",
    ("execute", "dynamodb:DeleteItem", "runs"): "an occurrence dropped while it was held or waited (engine/drops.py)",
    ("api_handler", "sqs:SendMessage", "dlq"): "an agent reporting a failure of its last attempt",
    ("api_handler", "sqs:GetQueueUrl", "dlq"): "an agent reporting a failure of its last attempt",
    ("execute", "dynamodb:Query", "agentQueue"): "a slot freed while runs wait for it (maxConcurrent)",
    ("api_handler", "dynamodb:Query", "agentQueue"): "a report that frees a slot while runs wait for it",
    ("tick", "dynamodb:BatchGetItem", "runs"): "the reconciler reads the runs holding an agent's slots (none here)",
    ("tick", "lambda:GetEventSourceMapping", "mapping"): "provisioning ahead, off by default (test_provisioning.py)",
    ("tick", "lambda:UpdateEventSourceMapping", "mapping"): "provisioning ahead, off by default (test_provisioning.py)",
}


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _table_arn(table: str, index: str | None = None) -> str:
    return _arn("dynamodb", f"table/{table}" + (f"/index/{index}" if index else ""))


_ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                 "ConditionCheck": "ConditionCheckItem"}


def authorisations(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) pairs AWS checks for one call."""
    if service == "dynamodb" and operation == "TransactWriteItems":
        return [(f"dynamodb:{_ITEM_ACTIONS[kind]}", _table_arn(body["TableName"]))
                for item in params["TransactItems"] for kind, body in item.items()]
    if service == "dynamodb" and operation == "BatchGetItem":
        return [("dynamodb:BatchGetItem", _table_arn(table)) for table in params["RequestItems"]]
    if service == "dynamodb":
        return [(f"dynamodb:{operation}", _table_arn(params["TableName"], params.get("IndexName")))]
    if service == "sqs":
        name = params.get("QueueName") or params["QueueUrl"].rsplit("/", 1)[1]
        action = "SendMessage" if operation == "SendMessageBatch" else operation
        return [(f"sqs:{action}", _arn("sqs", name))]
    if service == "ssm":
        return [("ssm:GetParameter", _arn("ssm", f"parameter{params['Name']}"))]
    raise AssertionError(f"unexpected call {service}.{operation}")


def _resolved(resource: dict[str, str]) -> str:
    return (resource["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${AWS::Region}", REGION)
            .replace("${AWS::AccountId}", ACCOUNT))


def allowed(function: str, action: str, arn: str) -> bool:
    """Whether ``function``'s dev policy allows ``action`` on ``arn``."""
    return any(action in stmt["Action"] and any(fnmatch.fnmatchcase(arn, _resolved(r)) for r in stmt["Resource"])
               for stmt in iam.policy("dev", function)["Statement"])


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, set[tuple[str, str]]]]:
    """Calls by function; the test sets ``recorded["now"]`` to the function running."""
    calls: dict[str, Any] = {"now": "setup", "setup": set(), "api_handler": set(), "tick": set(), "execute": set()}
    original = BaseClient._make_api_call

    def spy(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        if calls["now"] != "setup" and service in ("dynamodb", "sqs", "ssm"):
            calls[calls["now"]].update(authorisations(service, operation, params))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    yield calls


def _short(arn: str) -> str:
    """A resource's kind, for RARE: jobs, runs, list, due (DynamoDB); queue, dlq; tokens, agents (SSM)."""
    service, tail = arn.split(":")[2], arn.split(":", 5)[5]
    if service == "lambda":
        return "mapping"
    if service == "dynamodb":
        return tail.split("/")[3] if "/index/" in tail else {"agentos-jobs-dev": "jobs"}.get(tail[6:], "runs")
    if service == "sqs":
        return "dlq" if tail.endswith("-dlq") else "queue"
    if tail.endswith("/callback-secret"):
        return "callback"
    return "tokens" if tail.endswith("/api-tokens") else "agents"


def test_each_function_is_allowed_exactly_the_calls_it_makes(engine: dict[str, Any], configure: Any,
                                                             recorded: dict[str, Any]) -> None:
    # dueShards above the default: the shard count gets recorded; a limited agent: the reconciler reads its slots
    configure({"scheduler": {"dueShards": 8}, "agents": {AGENT_ID: {"maxConcurrent": 4}},
               "notifications": [{"url": "http://127.0.0.1:9/late", "events": ["job.late"]}]})
    service = runtime.jobs()
    recorded["now"] = "api_handler"
    soon = service.create(record_job(name="soon", schedule=None, interval=5_000))  # enqueued at once
    daily = service.create(record_job(name="daily", schedule="2 0 * * *", expectSuccessWithinMs=60_000))
    service.get(daily["id"])
    for status, agent in ((None, None), ("active", None), (None, daily["agentId"])):
        service.list(status, agent, 10, None)
    service.update(daily["id"], {"name": "daily-renamed", "description": "x"})
    service.update(daily["id"], {"status": "paused"})
    service.update(daily["id"], {"status": "active"})
    manual = service.run_now(daily["id"])
    runtime.run_service().cancel(manual["id"])  # an operator's cancel: the run and its job's slot
    runtime.run_service().get(manual["id"])
    service.runs_of(daily["id"], 10, None)
    from chalicelib.api.run_list import list_runs  # GET /api/runs: the recent index, the page's runs and jobs

    list_runs({"agentId": daily["agentId"], "status": "cancelled"}, None)
    list_runs({"status": "failed"}, None)  # the sparse failed index
    recorded["now"] = "tick"
    engine["clock"].advance(60)
    runtime.dispatcher().tick(now_ms())
    recorded["now"] = "setup"
    records = receive_all(engine["queue_url"])
    recorded["now"] = "execute"
    for start in range(0, len(records), 10):  # Lambda's batches
        runtime.executor().handle_batch(records[start:start + 10])
    recorded["now"] = "api_handler"
    waiting = service.run_now(daily["id"])  # queued; its message is not run: the reconciler looks at it
    recorded["now"] = "tick"
    assert runtime.reconciler().run(now_ms() + 3_600_000).repaired == 1, waiting
    watch = runtime.late_watch()  # job.late: the late index, the disarm, the notification's message
    assert watch is not None and watch.run(now_ms() + 3_600_000) == 1
    recorded["now"] = "api_handler"
    # Contract section 10: a declaration, a run now with its own payload, a replay, an Idempotency-Key.
    service.declare("daily-renamed", {**record_job(schedule="2 0 * * *"), "name": "daily-renamed",
                                      "description": "declared"})
    service.run_now(daily["id"], {"payload": {"action": "RECORD", "once": True}})
    runtime.run_service().replay(manual["id"])
    keyed = runtime.idempotency()
    for _ in range(2):  # taken and answered, then answered from the record
        keyed.respond("key-1", "open", "POST /api/jobs", "{}", lambda: Response(body="{}", status_code=201))
    recorded["now"] = "setup"
    records = receive_all(engine["queue_url"])
    recorded["now"] = "execute"  # the run on demand's payload is read for its claim
    for start in range(0, len(records), 10):
        runtime.executor().handle_batch(records[start:start + 10])
    recorded["now"] = "api_handler"
    service.delete(soon["id"])
    recorded["now"] = "setup"

    for function in iam.FUNCTIONS:
        denied = sorted(call for call in recorded[function] if not allowed(function, *call))
        assert not denied, (function, denied)
        used = {(action, _short(arn)) for action, arn in recorded[function]}
        granted = {(action, _short(_resolved(r))) for stmt in iam.policy("dev", function)["Statement"]
                   if not stmt["Sid"].startswith(("Logs", "Consume")) for action in stmt["Action"]
                   for r in stmt["Resource"] if not action.startswith("kms:")}  # KMS comes with SSM
        unused = sorted(g for g in granted - used if (function, *g) not in RARE)
        assert not unused, (function, unused, json.dumps(sorted(used)))


@pytest.mark.parametrize("function, action, table", [
    ("api_handler", "dynamodb:Scan", "agentos-runs-dev"), ("api_handler", "dynamodb:Scan", "agentos-jobs-dev"),
    ("api_handler", "dynamodb:DeleteItem", "agentos-runs-dev"), ("execute", "dynamodb:PutItem", "agentos-jobs-dev"),
    ("execute", "dynamodb:DeleteItem", "agentos-jobs-dev"), ("tick", "dynamodb:PutItem", "agentos-jobs-dev"),
    ("tick", "dynamodb:DeleteItem", "agentos-runs-dev"), ("tick", "dynamodb:PutItem", "agentos-runs-dev"),
])
def test_what_the_review_found_is_no_longer_allowed(function: str, action: str, table: str) -> None:
    assert not allowed(function, action, _table_arn(table))


def test_only_the_tick_may_provision_and_only_the_executors_mapping() -> None:
    # Provisioning ahead reads and sets the executor's mapping (its UUID comes from CloudFormation)
    def mapping(uuid: str) -> str:
        return _arn("lambda", f"event-source-mapping:{uuid}")

    def allowed_on(function: str, action: str, uuid: str) -> bool:
        return any(action in stmt["Action"] and any(fnmatch.fnmatchcase(
            mapping(uuid), _resolved(r).replace("${" + iam.EXECUTOR_MAPPING_ID + "}", "executor-uuid"))
            for r in stmt["Resource"]) for stmt in iam.policy("dev", function)["Statement"])

    for action in ("lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"):
        assert allowed_on("tick", action, "executor-uuid")
        assert not allowed_on("tick", action, "another-uuid")
        assert not allowed_on("execute", action, "executor-uuid")
        assert not allowed_on("api_handler", action, "executor-uuid")
    for action in ("lambda:DeleteEventSourceMapping", "lambda:CreateEventSourceMapping", "lambda:InvokeFunction"):
        assert not allowed_on("tick", action, "executor-uuid")
