"""Least-privilege IAM policy of each Lambda function, per stage.

Chalice's policy generator only sees boto3 calls in app.py, not PynamoDB's, so the
policies are written here and saved as ``.chalice/policy-<stage>-<function>.json``
(``python -m infra.iam`` rewrites them; a test keeps the files in sync). Every
statement names its actions and its resources; ARNs are built with ``Fn::Sub``,
which ``chalice package`` copies into the template for CloudFormation to resolve.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .resources import APP_NAME, stage_names

CHALICE_DIR = Path(__file__).resolve().parent.parent / ".chalice"
# The logical id SAM gives the executor's SQS event source mapping: function "Execute" + event
# "ExecuteSqsEventSource" (merge_template.CHALICE_FUNCTIONS, SQS_EVENT_ID); Ref gives its UUID.
EXECUTOR_MAPPING_ID = "ExecuteExecuteSqsEventSource"
FUNCTIONS = ("api_handler", "tick", "execute")
STAGES = ("dev", "prod")

# DynamoDB has no IAM action for TransactWriteItems: each item of a transaction is
# authorised as its own PutItem/UpdateItem/DeleteItem/ConditionCheckItem. Each function gets
# exactly the calls its code makes, per table (tests/test_infra.py records them under moto).


def function_name(stage: str, function: str) -> str:
    """The physical Lambda name (the merge template sets it, so log groups are known)."""
    base = f"{APP_NAME}-{stage}"
    return base if function == "api_handler" else f"{base}-{function}"


def arn(service: str, resource: str) -> dict[str, str]:
    """An ARN of this account and region, for CloudFormation to fill in."""
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def statement(sid: str, actions: list[str], resources: list[Any], condition: dict | None = None) -> dict:
    """One Allow statement."""
    stmt: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if condition:
        stmt["Condition"] = condition
    return stmt


def _logs(stage: str, function: str) -> dict:
    # The log group itself is a stack resource (with retention), so no CreateLogGroup.
    group = f"log-group:/aws/lambda/{function_name(stage, function)}"
    return statement("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [arn("logs", f"{group}:*")])


def _tables(stage: str) -> dict[str, dict]:
    names = stage_names(stage)
    return {"jobs": arn("dynamodb", f"table/{names.jobs_table}"),
            "due": arn("dynamodb", f"table/{names.jobs_table}/index/due"),
            "list": arn("dynamodb", f"table/{names.jobs_table}/index/list"),
            "late": arn("dynamodb", f"table/{names.jobs_table}/index/late"),
            "runs": arn("dynamodb", f"table/{names.runs_table}"),
            "agentQueue": arn("dynamodb", f"table/{names.runs_table}/index/agentQueue"),
            "overdue": arn("dynamodb", f"table/{names.runs_table}/index/overdue"),
            "recent": arn("dynamodb", f"table/{names.runs_table}/index/recent"),
            "failed": arn("dynamodb", f"table/{names.runs_table}/index/failed")}


def _queues(stage: str) -> dict[str, dict]:
    names = stage_names(stage)
    return {"queue": arn("sqs", names.queue), "dlq": arn("sqs", names.dlq)}


def _api_tokens(stage: str) -> list[dict]:
    """Read the SecureString token parameter, and decrypt it only through SSM, only for it."""
    return _secure_parameter("ApiTokens", stage_names(stage).tokens_param)


def _callback_secret(stage: str) -> list[dict]:
    """Read (and decrypt through SSM only) the secret that callback tokens are derived from."""
    return _secure_parameter("CallbackSecret", stage_names(stage).callback_param)


def _secure_parameter(label: str, param: str) -> list[dict]:
    param_arn = arn("ssm", f"parameter{param}")
    return [
        statement(f"Read{label}", ["ssm:GetParameter"], [param_arn]),
        statement(f"Decrypt{label}", ["kms:Decrypt"], [arn("kms", "key/*")], {
            "StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"},
                             "kms:EncryptionContext:PARAMETER_ARN": param_arn}}),
    ]


def agent_secrets_prefix(stage: str) -> str:
    """Where a stage's agents' ``secretParam`` parameters must live (the executor reads only these)."""
    return f"/{APP_NAME}/{stage}/agents/"


def _agent_secrets(stage: str) -> list[dict]:
    """Read and decrypt (through SSM only) the agents' secret parameters of this stage."""
    param_arn = arn("ssm", f"parameter{agent_secrets_prefix(stage)}*")
    return [
        statement("ReadAgentSecrets", ["ssm:GetParameter"], [param_arn]),
        statement("DecryptAgentSecrets", ["kms:Decrypt"], [arn("kms", "key/*")], {
            "StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}},
            "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": param_arn}}),
    ]


def _dynamodb(actions: list[str]) -> list[str]:
    return [f"dynamodb:{action}" for action in actions]


def _api_handler(stage: str) -> list[dict]:
    t, q = _tables(stage), _queues(stage)
    return [
        # Create, read, list (BatchGetItem of a page), change, rename and delete jobs and their
        # name claims; the immediate enqueue's advance; recording the due-shard count; a report's
        # final write (counters, overlap slot; a condition check when the job is gone).
        statement("Jobs", _dynamodb(["GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem",
                                     "ConditionCheckItem"]), [t["jobs"]]),
        statement("ListJobs", ["dynamodb:Query"], [t["list"]]),
        # A manual run's queued record (GetItem when the executor wrote it first); the runs list;
        # an agent's heartbeat and report, an operator's cancel; GET /api/runs reads a page's items
        # (BatchGetItem) found through the recent index.
        statement("Runs", _dynamodb(["GetItem", "BatchGetItem", "PutItem", "UpdateItem", "Query"]), [t["runs"]]),
        statement("ListRuns", ["dynamodb:Query"], [t["recent"], t["failed"]]),
        # A report that frees an agent's slot starts the run waiting first for it.
        statement("AgentWaitingLine", ["dynamodb:Query"], [t["agentQueue"]]),
        # Manual runs; a reported failure's next attempt, or its dead letter after the last one.
        statement("EnqueueOccurrences", ["sqs:GetQueueUrl", "sqs:SendMessage"], [q["queue"], q["dlq"]]),
        *_api_tokens(stage),
        *_callback_secret(stage),
    ]


def _tick(stage: str) -> list[dict]:
    t, q = _tables(stage), _queues(stage)
    return [
        statement("QueryDueIndex", ["dynamodb:Query"], [t["due"]]),
        # Advances (one UpdateItem, or the items of a TransactWriteItems), disarms, the shard count.
        statement("AdvanceJobs", ["dynamodb:UpdateItem"], [t["jobs"]]),
        statement("EnqueueOccurrences", ["sqs:GetQueueUrl", "sqs:SendMessage"], [q["queue"]]),
        # The reconciler (chalicelib/engine/reconcile.py): the runs past their time, their next look
        # (UpdateItem of recAt), the runs holding agent slots (BatchGetItem); the agent items
        # (GetItem of agent#... keys only; freeing a slot is an UpdateItem, granted above) and lines.
        statement("FindOverdueRuns", ["dynamodb:Query"], [t["overdue"]]),
        statement("RecheckRuns", _dynamodb(["BatchGetItem", "UpdateItem"]), [t["runs"]]),
        statement("ReadAgentSlots", ["dynamodb:GetItem"], [t["jobs"]],
                  {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["agent#*"]}}),
        statement("AgentWaitingLine", ["dynamodb:Query"], [t["agentQueue"]]),
        # job.late (chalicelib/engine/lateness.py): the jobs past their expected success (their
        # disarming is an UpdateItem, granted above).
        statement("FindLateJobs", ["dynamodb:Query"], [t["late"]]),
        # Provisioning ahead (AGENTOS_PROVISION_AHEAD): the executor's SQS event source mapping's
        # minimum pollers, read and set; that mapping only (SAM names it after the function and event).
        statement("ProvisionExecutor", ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"],
                  [arn("lambda", f"event-source-mapping:${{{EXECUTOR_MAPPING_ID}}}")]),
    ]


def _execute(stage: str) -> list[dict]:
    t, q = _tables(stage), _queues(stage)
    return [
        # The claim takes the job's overlap slot (UpdateItem); the job is read after the hold (a
        # batch's jobs with one BatchGetItem); the outcome updates its statistics and slot (a
        # ConditionCheckItem when the job is gone). Never a Put: the executor cannot create a job.
        statement("CheckAndRecordJobs", _dynamodb(["GetItem", "BatchGetItem", "ConditionCheckItem", "UpdateItem"]),
                  [t["jobs"]]),
        # Claims and skips write the run item whole (Put; a claim's Update that keeps the earlier
        # attempts); retries and outcomes update it; an occurrence dropped by a pause, delete or
        # reschedule leaves no run (DeleteItem of its claimed or waiting item: engine/drops.py).
        statement("ClaimAndRecordRuns", _dynamodb(["GetItem", "PutItem", "UpdateItem", "DeleteItem"]), [t["runs"]]),
        # A freed agent slot goes to the run waiting first for it (maxConcurrent).
        statement("AgentWaitingLine", ["dynamodb:Query"], [t["agentQueue"]]),
        # The SQS event source mapping polls with the function's role.
        statement("ConsumeOccurrences", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                         "sqs:ChangeMessageVisibility"], [q["queue"]]),
        statement("RetryAndDeadLetter", ["sqs:GetQueueUrl", "sqs:SendMessage"], [q["queue"], q["dlq"]]),
        *_agent_secrets(stage),
        *_callback_secret(stage),
    ]


_BUILDERS = {"api_handler": _api_handler, "tick": _tick, "execute": _execute}


def policy(stage: str, function: str) -> dict[str, Any]:
    """The IAM policy document of ``function`` on ``stage``."""
    return {"Version": "2012-10-17", "Statement": [*_BUILDERS[function](stage), _logs(stage, function)]}


def policy_filename(stage: str, function: str) -> str:
    """The file name, relative to ``.chalice/``, that config.json's ``iam_policy_file`` names."""
    return f"policy-{stage}-{function}.json"


def render(document: dict[str, Any]) -> str:
    """The exact text saved on disk (stable, so the sync test can compare bytes)."""
    return json.dumps(document, indent=2) + "\n"


def write_policies(directory: Path = CHALICE_DIR, stages: tuple[str, ...] = STAGES) -> list[Path]:
    """Write every stage's and function's policy file; return their paths."""
    written = []
    for stage in stages:
        for function in FUNCTIONS:
            path = directory / policy_filename(stage, function)
            path.write_text(render(policy(stage, function)))
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write_policies():
        print(path)
    sys.exit(0)
