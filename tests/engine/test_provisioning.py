"""Provisioning ahead (chalicelib/engine/provisioning.py) on moto: the Lambda API calls the tick
makes, with their arguments, at the right minutes; none when nothing is coming; the tick goes on
when the Lambda API fails."""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from bench.seed import job_id, make_job
from chalicelib.engine import provisioning
from chalicelib.engine.provisioning import HOLD_MS, Provisioner, pollers_for
from chalicelib.store.due_counts import count_due
from chalicelib.store.lambda_api import PollerMapping
from chalicelib.store.models import JobModel

SHARDS = 4
T = 1_893_456_000_000 + 3_600_000  # an hh:00 instant
MINUTE = 60_000


class Spy:
    """A Lambda client that records its calls and passes them on (or fails them)."""

    def __init__(self, real: Any, fail: bool = False) -> None:
        self.real, self.fail, self.calls = real, fail, list[tuple[str, dict[str, Any]]]()

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            if self.fail:
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, name)
            return getattr(self.real, name)(**kwargs)
        return call

    def updates(self) -> list[dict[str, Any]]:
        """The UpdateEventSourceMapping calls' arguments."""
        return [kwargs for name, kwargs in self.calls if name == "update_event_source_mapping"]


@pytest.fixture
def mapping(aws: dict[str, str]) -> Iterator[str]:
    """The executor function and its SQS event source mapping (standard mode), in moto."""
    role = boto3.client("iam").create_role(RoleName="executor", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": []}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def execute(event, context):\n    return {}\n")
    client = boto3.client("lambda")
    client.create_function(FunctionName="agentos-jobs-dev-execute", Runtime="python3.11", Role=role,
                           Handler="app.execute", Code={"ZipFile": code.getvalue()})
    arn = boto3.client("sqs").get_queue_attributes(QueueUrl=aws["queue_url"], AttributeNames=["QueueArn"])
    yield client.create_event_source_mapping(EventSourceArn=arn["Attributes"]["QueueArn"],
                                             FunctionName="agentos-jobs-dev-execute", BatchSize=10)["UUID"]


def arm(count: int, at_ms: int, tag: int = 0xB5) -> list[JobModel]:
    """``count`` single-run jobs due at ``at_ms`` in the due index."""
    jobs = [make_job(job_id(tag, i), at_ms, SHARDS, once=True) for i in range(count)]
    with JobModel.batch_write() as batch:
        for job in jobs:
            batch.save(job)
    return jobs


def provisioner(uuid: str, spy: Spy, counted: list[int] | None = None) -> Provisioner:
    def count(shard: int, start: int, end: int) -> int:
        if counted is not None:
            counted.append(shard)
        return count_due(shard, start, end)

    return Provisioner(PollerMapping(uuid, lambda: spy), SHARDS, rest=2, most=2000, count=count)


def test_pollers_cover_the_busiest_instant_within_the_documented_bounds() -> None:
    # a poller runs 10 batches of 10 at once; AWS takes MinimumPollers up to 200
    assert pollers_for(0, rest=2) == 2
    assert pollers_for(1_000, rest=2) == 10
    assert pollers_for(10_000, rest=2) == 100
    assert pollers_for(100_000, rest=2) == 200


def test_a_burst_five_minutes_ahead_raises_then_lowers_after(mapping: str) -> None:
    spy = Spy(boto3.client("lambda"))
    ahead = provisioner(mapping, spy)
    jobs = arm(1_000, T)
    # Six minutes ahead nothing is in the window: the mapping is read once, never changed
    assert not ahead.step(T - 6 * MINUTE).changed
    assert spy.updates() == []
    # Five minutes ahead the burst is in the window: raised to 10 pollers (1,000 at once)
    raised_at = T - 5 * MINUTE + 10_000
    decision = ahead.step(raised_at)
    assert decision.changed and decision.peak == 1_000
    assert spy.updates() == [{"UUID": mapping, "ProvisionedPollerConfig": {"MinimumPollers": 10,
                                                                          "MaximumPollers": 2000}}]
    assert boto3.client("lambda").get_event_source_mapping(UUID=mapping)["ProvisionedPollerConfig"] == {
        "MinimumPollers": 10, "MaximumPollers": 2000}
    # The next minutes change nothing; the tick advances the burst past the window (a minute before)...
    assert not ahead.step(T - 2 * MINUTE).changed
    with JobModel.batch_write() as batch:
        for job in jobs:
            job.nextRunAt = T + 3_600_000
            batch.save(job)
    # ... but the raise is held until the burst is surely over
    assert not ahead.step(T - 30_000).changed
    assert not ahead.step(raised_at + HOLD_MS - 1).changed
    assert ahead.step(raised_at + HOLD_MS).changed
    assert spy.updates()[-1]["ProvisionedPollerConfig"] == {"MinimumPollers": 2, "MaximumPollers": 2000}
    assert len(spy.updates()) == 2


def test_nothing_due_makes_no_lambda_call_and_one_count_per_shard(mapping: str) -> None:
    spy, counted = Spy(boto3.client("lambda")), list[int]()
    ahead = provisioner(mapping, spy, counted)
    arm(50, T + 20 * MINUTE)  # far beyond the window
    ahead.step(T)  # the first tick of a container reads the mapping once
    spy.calls.clear()
    counted.clear()
    for minute in range(1, 6):
        assert not ahead.step(T + minute * MINUTE).changed
    assert spy.calls == []
    assert sorted(counted) == sorted(s for _ in range(5) for s in range(SHARDS))  # one COUNT per shard and tick


def test_a_failing_lambda_api_never_breaks_the_tick(mapping: str, monkeypatch: pytest.MonkeyPatch) -> None:
    arm(1_000, T)
    monkeypatch.setenv("AGENTOS_PROVISION_AHEAD", "1")
    monkeypatch.setenv("AGENTOS_EXECUTOR_MAPPING", mapping)
    spy = Spy(boto3.client("lambda"), fail=True)
    monkeypatch.setattr(provisioning, "_provisioner", provisioner(mapping, spy))
    assert provisioning.ahead(T - 4 * MINUTE, SHARDS) is None  # logged, not raised
    assert [name for name, _ in spy.calls] == ["get_event_source_mapping"]


def test_the_switch_is_off_by_default(mapping: str, monkeypatch: pytest.MonkeyPatch) -> None:
    arm(1_000, T)
    monkeypatch.delenv("AGENTOS_PROVISION_AHEAD", raising=False)
    monkeypatch.setenv("AGENTOS_EXECUTOR_MAPPING", mapping)
    monkeypatch.setattr(provisioning, "_provisioner", None)
    assert provisioning.ahead(T - 4 * MINUTE, SHARDS) is None
    assert not boto3.client("lambda").get_event_source_mapping(UUID=mapping).get("ProvisionedPollerConfig")


def test_the_tick_provisions_when_switched_on(mapping: str, monkeypatch: pytest.MonkeyPatch,
                                              fake_clock: Any) -> None:
    from chalicelib import handlers
    from chalicelib.clock import now_ms

    arm(1_000, now_ms() + 4 * MINUTE)  # beyond the tick's lookahead: provisioned for, not yet sent
    monkeypatch.setenv("AGENTOS_PROVISION_AHEAD", "1")
    monkeypatch.setenv("AGENTOS_EXECUTOR_MAPPING", mapping)
    monkeypatch.setattr(provisioning, "_provisioner", None)
    answer = handlers._tick()
    assert answer["occurrences"] == 0
    assert boto3.client("lambda").get_event_source_mapping(UUID=mapping)["ProvisionedPollerConfig"] == {
        "MinimumPollers": 10, "MaximumPollers": 2000}
