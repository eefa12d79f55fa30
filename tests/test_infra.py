"""Deployment: the storage template, its deployment into moto, and the packaged app template."""
from __future__ import annotations

import json
import time
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.models import JobModel, NameClaim, RunModel
from infra.provision import provision
from infra.resources import MAX_RECEIVE_COUNT, QUEUE_VISIBILITY_S, resources_template

_ENDPOINT_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS",
                  "AWS_ENDPOINT_URL_CLOUDFORMATION")


@pytest.fixture
def moto_stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A stage provisioned into an in-process moto, with the models bound to its tables."""
    for var in _ENDPOINT_VARS:  # whatever the suite's conftest points at, use in-process moto
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        started = time.monotonic()
        created = provision("infratest")
        created["seconds"] = f"{time.monotonic() - started:.3f}"
        bindings = {JobModel: created["jobs_table"], NameClaim: created["jobs_table"],
                    RunModel: created["runs_table"]}
        for model, table in bindings.items():
            monkeypatch.setattr(model.Meta, "table_name", table)
            monkeypatch.setattr(model.Meta, "region", "us-east-1")
            monkeypatch.setattr(model.Meta, "host", None)
            monkeypatch.setattr(model, "_connection", None)
        yield created


def _job(job_id: str, shard: int | None, next_run_at: int | None) -> JobModel:
    now = int(time.time() * 1000)
    return JobModel(id=job_id, name=job_id, agentId="550e8400-e29b-41d4-a716-446655440000",
                    schedule="* * * * *", payload="{}", nextRunAt=next_run_at, dueShard=shard,
                    createdAt=now, updatedAt=now)


def test_provision_in_moto(moto_stage: dict[str, str]) -> None:
    """The provisioned tables serve the models (incl. the sparse due index); the queue redrives."""
    _job("job-a", 0, 2_000).save()
    _job("job-b", 0, 1_000).save()
    _job("job-paused", None, 500).save()  # no dueShard: absent from the sparse index
    NameClaim(id="name#job-a", jobId="job-a").save()
    RunModel(jobId="job-a", id="run-0000000001000-a", trigger="schedule", scheduledAt=1_000,
             status="queued").save()
    assert JobModel.get("job-a").nextRunAt == 2_000
    due = [job.id for job in JobModel.due.query(0, JobModel.nextRunAt <= 1_500)]
    assert due == ["job-b"]
    assert [job.id for job in JobModel.due.query(0)] == ["job-b", "job-a"]
    assert [run.id for run in RunModel.query("job-a")] == ["run-0000000001000-a"]

    sqs = boto3.client("sqs", region_name="us-east-1")
    attrs = sqs.get_queue_attributes(QueueUrl=moto_stage["queue_url"], AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=moto_stage["dlq_url"],
                                       AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn,
                                                  "maxReceiveCount": MAX_RECEIVE_COUNT}
    assert int(attrs["VisibilityTimeout"]) == QUEUE_VISIBILITY_S
    ttl = boto3.client("dynamodb", region_name="us-east-1").describe_time_to_live(
        TableName=moto_stage["runs_table"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}


def test_provision_is_idempotent_and_fast(moto_stage: dict[str, str]) -> None:
    """A second provision of the same stage changes nothing, keeps the data, and is quick."""
    _job("job-keep", 1, 10).save()
    started = time.monotonic()
    again = provision("infratest")
    assert time.monotonic() - started < 1.0
    assert {k: again[k] for k in again} == {k: moto_stage[k] for k in again}
    assert JobModel.get("job-keep").dueShard == 1


def _schema_of(resource: dict[str, Any]) -> dict[str, Any]:
    props = resource["Properties"]
    return {key: props.get(key) for key in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes")}


def _model_schema(model: type) -> dict[str, Any]:
    """The model's schema in CloudFormation's shape, written out independently of infra."""
    schema = model._get_schema()
    gsis = [{"IndexName": g["index_name"], "KeySchema": g["key_schema"], "Projection": g["projection"]}
            for g in schema["global_secondary_indexes"]]
    return {"KeySchema": schema["key_schema"], "AttributeDefinitions": schema["attribute_definitions"],
            "GlobalSecondaryIndexes": gsis or None}


def _canonical(schema: dict[str, Any]) -> str:
    def sort(value: Any) -> Any:
        if isinstance(value, list):
            return sorted((sort(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        if isinstance(value, dict):
            return {k: sort(v) for k, v in value.items()}
        return value
    return json.dumps(sort(schema), sort_keys=True)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_resources_match_models(stage: str) -> None:
    """Key schemas and GSIs in the template equal the PynamoDB models' (order aside)."""
    resources = resources_template(stage)["Resources"]
    assert _canonical(_schema_of(resources["JobsTable"])) == _canonical(_model_schema(JobModel))
    assert _canonical(_schema_of(resources["RunsTable"])) == _canonical(_model_schema(RunModel))
    for table in ("JobsTable", "RunsTable"):
        keys = resources[table]["Properties"]["KeySchema"]
        assert keys[0]["KeyType"] == "HASH"  # CloudFormation rejects RANGE first
        assert resources[table]["Properties"]["DeletionProtectionEnabled"] is (stage == "prod")
