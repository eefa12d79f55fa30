"""The DynamoDB tables and SQS queues of one stage, as a CloudFormation template.

This is the single definition of the app's storage: ``provision`` deploys it on its
own (local stack, tests) and ``merge_template`` merges it into Chalice's output for
AWS. Key schemas, attribute definitions and GSIs come from the PynamoDB models'
``_get_schema()``, so the template cannot drift from what the code queries.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from pynamodb.models import Model

from chalicelib.store.models import JobModel, RunModel

APP_NAME = "agentos-jobs"
# Executor Lambda timeout (s); .chalice/config.json must agree (tests/test_infra.py checks).
EXECUTOR_TIMEOUT_S = 90
# AWS asks for a visibility timeout of at least 6x the function timeout on SQS event sources.
QUEUE_VISIBILITY_S = 6 * EXECUTOR_TIMEOUT_S
MAX_RECEIVE_COUNT = 5
DLQ_RETENTION_S = 14 * 24 * 3600
QUEUE_RETENTION_S = 4 * 24 * 3600  # SQS's default, stated: config.MIN_RUN_HISTORY_DAYS outlasts both
RUNS_TTL_ATTRIBUTE = "expiresAt"

# Logical ids, shared with merge_template (alarms, IAM) and provision (outputs).
JOBS_TABLE_ID = "JobsTable"
RUNS_TABLE_ID = "RunsTable"
QUEUE_ID = "JobsQueue"
DLQ_ID = "JobsDeadLetterQueue"

_STAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_PROTECTED_STAGES = frozenset({"prod"})


@dataclass(frozen=True)
class StageNames:
    """Physical names of one stage's resources (the functions' environment uses them)."""

    stage: str
    jobs_table: str
    runs_table: str
    queue: str
    dlq: str
    tokens_param: str
    callback_param: str  # the secret that callback tokens are derived from (SecureString)


def stage_names(stage: str) -> StageNames:
    """The resource names of ``stage``; rejects names DynamoDB or SQS would refuse."""
    if not _STAGE_RE.match(stage):
        raise ValueError(f"invalid stage name {stage!r}: letters, digits, '-' and '_' only")
    return StageNames(
        stage=stage,
        jobs_table=f"{APP_NAME}-{stage}",
        runs_table=f"agentos-runs-{stage}",
        queue=f"{APP_NAME}-{stage}",
        dlq=f"{APP_NAME}-{stage}-dlq",
        tokens_param=f"/{APP_NAME}/{stage}/api-tokens",
        callback_param=f"/{APP_NAME}/{stage}/callback-secret",
    )


def is_protected(stage: str) -> bool:
    """Whether ``stage`` keeps its data through stack deletes and replacements."""
    return stage in _PROTECTED_STAGES


def key_schema(model: type[Model]) -> dict[str, Any]:
    """KeySchema, AttributeDefinitions and GlobalSecondaryIndexes of ``model``, CFN-shaped."""
    schema = model._get_schema()
    # CloudFormation wants HASH before RANGE; PynamoDB lists them in attribute order.
    order = {"HASH": 0, "RANGE": 1}
    result: dict[str, Any] = {
        "AttributeDefinitions": sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"]),
        "KeySchema": sorted(schema["key_schema"], key=lambda k: order[k["KeyType"]]),
    }
    indexes = [
        {
            "IndexName": gsi["index_name"],
            "KeySchema": sorted(gsi["key_schema"], key=lambda k: order[k["KeyType"]]),
            "Projection": gsi["projection"],
        }
        for gsi in cast(list[dict[str, Any]], schema["global_secondary_indexes"])
    ]
    if indexes:
        result["GlobalSecondaryIndexes"] = indexes
    return result


def table_resource(model: type[Model], name: str, stage: str, ttl_attribute: str | None = None) -> dict[str, Any]:
    """An on-demand, encrypted, point-in-time-recoverable table for ``model``."""
    props: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        **key_schema(model),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "DeletionProtectionEnabled": is_protected(stage),
        "Tags": [{"Key": "app", "Value": APP_NAME}, {"Key": "stage", "Value": stage}],
    }
    if ttl_attribute:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl_attribute, "Enabled": True}
    # Production data survives a stack delete or an accidental replacement.
    policy = "Retain" if is_protected(stage) else "Delete"
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": policy, "UpdateReplacePolicy": policy,
            "Properties": props}


def queue_resources(names: StageNames) -> dict[str, Any]:
    """The occurrence queue and its dead-letter queue."""
    dlq = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": names.dlq,
            "MessageRetentionPeriod": DLQ_RETENTION_S,
            "SqsManagedSseEnabled": True,
        },
    }
    queue = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": names.queue,
            "VisibilityTimeout": QUEUE_VISIBILITY_S,
            "MessageRetentionPeriod": QUEUE_RETENTION_S,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [DLQ_ID, "Arn"]},
                "maxReceiveCount": MAX_RECEIVE_COUNT,
            },
        },
    }
    return {DLQ_ID: dlq, QUEUE_ID: queue}


def resource_outputs() -> dict[str, Any]:
    """Outputs naming every table and queue (names, URLs, ARNs)."""
    outputs = {
        "JobsTableName": {"Ref": JOBS_TABLE_ID},
        "JobsTableArn": {"Fn::GetAtt": [JOBS_TABLE_ID, "Arn"]},
        "RunsTableName": {"Ref": RUNS_TABLE_ID},
        "RunsTableArn": {"Fn::GetAtt": [RUNS_TABLE_ID, "Arn"]},
        "JobsQueueUrl": {"Ref": QUEUE_ID},
        "JobsQueueArn": {"Fn::GetAtt": [QUEUE_ID, "Arn"]},
        "JobsQueueName": {"Fn::GetAtt": [QUEUE_ID, "QueueName"]},
        "DeadLetterQueueUrl": {"Ref": DLQ_ID},
        "DeadLetterQueueArn": {"Fn::GetAtt": [DLQ_ID, "Arn"]},
        "DeadLetterQueueName": {"Fn::GetAtt": [DLQ_ID, "QueueName"]},
    }
    return {key: {"Value": value} for key, value in outputs.items()}


def resource_definitions(stage: str) -> dict[str, Any]:
    """The ``Resources`` section: both tables and both queues of ``stage``."""
    names = stage_names(stage)
    return {
        JOBS_TABLE_ID: table_resource(JobModel, names.jobs_table, stage),
        RUNS_TABLE_ID: table_resource(RunModel, names.runs_table, stage, ttl_attribute=RUNS_TTL_ATTRIBUTE),
        **queue_resources(names),
    }


def resources_template(stage: str) -> dict[str, Any]:
    """A complete CloudFormation template of ``stage``'s tables and queues, with outputs."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"agentOS Jobs storage ({stage}): jobs and runs tables, occurrence queue and DLQ",
        "Resources": resource_definitions(stage),
        "Outputs": resource_outputs(),
    }
