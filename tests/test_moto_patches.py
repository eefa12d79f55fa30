"""The moto patches (devtools/moto_patches.py): one guarded door, and speed that changes no answer.

The patches cannot be taken back inside a process, so the round trip runs in two fresh
interpreters, ``AGENTOS_MOTO_SPEED=0`` and ``=1``, and their answers are compared.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools import moto_patches

ROOT = Path(__file__).resolve().parent.parent
VOLATILE = {"MessageId", "ReceiptHandle", "RequestId", "ResponseMetadata", "HTTPHeaders", "HostId", "RetryAttempts",
            "SentTimestamp", "ApproximateFirstReceiveTimestamp", "QueueUrl"}


def _strip(value: Any) -> Any:
    """``value`` without the ids and times that differ from run to run."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, bytes):  # the answers cross a process boundary as JSON
        return {"hex": value.hex()}
    return value


def _error(call: Any) -> dict[str, Any]:
    """What a call that must fail answered: its error code and cancellation reasons."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        return {"code": exc.response["Error"]["Code"], "reasons": exc.response.get("CancellationReasons")}
    raise AssertionError("the call was expected to fail")


def _outcome(call: Any) -> Any:
    """What a call answered, or its error code and cancellation reasons if it failed."""
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        return {"code": exc.response["Error"]["Code"], "message": exc.response["Error"]["Message"],
                "reasons": exc.response.get("CancellationReasons"), "item": exc.response.get("Item")}


def _dynamodb_round_trip(ddb: Any) -> list[Any]:
    """Conditional writes, an update expression used twice, a failing and a passing transaction."""
    ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    new = {"TableName": "t", "ConditionExpression": "attribute_not_exists(pk)"}
    add = {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET n = n + :d",
           "ConditionExpression": "n < :cap", "ReturnValues": "ALL_NEW"}
    answers = [ddb.put_item(Item={"pk": {"S": "a"}, "n": {"N": "1"}}, **new),
               _error(lambda: ddb.put_item(Item={"pk": {"S": "a"}, "n": {"N": "9"}}, **new)),
               ddb.update_item(ExpressionAttributeValues={":d": {"N": "2"}, ":cap": {"N": "10"}}, **add),
               ddb.update_item(ExpressionAttributeValues={":d": {"N": "5"}, ":cap": {"N": "10"}}, **add),
               _error(lambda: ddb.update_item(ExpressionAttributeValues={":d": {"N": "1"}, ":cap": {"N": "5"}}, **add))]
    failing = [{"Put": {"Item": {"pk": {"S": "b"}}, **new}},
               {"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET n = :z",
                           "ConditionExpression": "n = :z", "ExpressionAttributeValues": {":z": {"N": "0"}}}}]
    answers.append(_error(lambda: ddb.transact_write_items(TransactItems=failing)))
    passing = [{"Put": {"Item": {"pk": {"S": "b"}, "n": {"N": "0"}}, **new}},
               {"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET n = :z",
                           "ConditionExpression": "n = :eight", "ExpressionAttributeValues": {
                               ":z": {"N": "0"}, ":eight": {"N": "8"}}}}]
    answers.append(ddb.transact_write_items(TransactItems=passing))
    answers.append(sorted(ddb.scan(TableName="t")["Items"], key=lambda item: item["pk"]["S"]))
    return answers + _remembered_condition_round_trip(ddb) + _attribute_types_round_trip(ddb)


def _remembered_condition_round_trip(ddb: Any) -> list[Any]:
    """One condition expression met again with other names and other values."""
    guarded = {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET m = :v",
               "ConditionExpression": "(attribute_not_exists(#f) OR #f < :cap) AND NOT pk = :other",
               "ReturnValues": "ALL_NEW"}
    return [ddb.update_item(ExpressionAttributeNames={"#f": "m"}, ExpressionAttributeValues={
                ":v": {"N": "4"}, ":cap": {"N": "1"}, ":other": {"S": "b"}}, **guarded),
            _error(lambda: ddb.update_item(ExpressionAttributeNames={"#f": "m"}, ExpressionAttributeValues={
                ":v": {"N": "5"}, ":cap": {"N": "4"}, ":other": {"S": "b"}}, **guarded)),
            ddb.update_item(ExpressionAttributeNames={"#f": "n"}, ExpressionAttributeValues={
                ":v": {"N": "6"}, ":cap": {"N": "1"}, ":other": {"S": "b"}}, **guarded),
            _error(lambda: ddb.update_item(ExpressionAttributeNames={"#f": "m"}, ExpressionAttributeValues={
                ":v": {"N": "7"}, ":cap": {"N": "9"}, ":other": {"S": "a"}}, **guarded))]


def _attribute_types_round_trip(ddb: Any) -> list[Any]:
    """Every attribute type, nested too, written and read back by each read the engine makes."""
    item = {"pk": {"S": "all"}, "s": {"S": ""}, "n": {"N": "-1.5"}, "t": {"BOOL": False}, "z": {"NULL": True},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "b": {"B": b"\x00\xff"}, "bs": {"BS": [b"x", b"y"]},
            "m": {"M": {"deep": {"L": [{"S": "x"}, {"N": "3"}, {"M": {"bin": {"B": b"z"}}}, {"L": []}]},
                        "empty": {"M": {}}}}}
    ddb.put_item(TableName="t", Item=item)
    key = {"pk": {"S": "all"}}
    return [ddb.get_item(TableName="t", Key=key, ConsistentRead=True),
            ddb.batch_get_item(RequestItems={"t": {"Keys": [key, {"pk": {"S": "a"}}], "ConsistentRead": True}}),
            ddb.query(TableName="t", KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": key["pk"]})]


def _update_round_trip(ddb: Any) -> list[Any]:
    """Update expressions met again (a pass, then names that fail the checks), failed conditions with ALL_OLD,
    and transactions that update items in place and are rolled back."""
    ddb.create_table(TableName="u", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}])
    key = {"pk": {"S": "j"}, "sk": {"N": "1"}}
    claim = {"TableName": "u", "Key": key, "ReturnValues": "ALL_NEW",
             "UpdateExpression": "SET #a = :run, #u = if_not_exists (#u, :zero) + :d ADD #n :one"}
    names = {"#a": "active", "#u": "used", "#n": "started"}
    values = {":run": {"S": "r1"}, ":zero": {"N": "0"}, ":d": {"N": "2"}, ":one": {"N": "1"}}
    answers = [ddb.update_item(ExpressionAttributeNames=names, ExpressionAttributeValues=values, **claim),
               ddb.update_item(ExpressionAttributeNames=names, ExpressionAttributeValues=values, **claim)]
    for bad in ({"#a": "pk", "#u": "used", "#n": "started"}, {"#a": "sk", "#u": "used", "#n": "started"},
                {"#a": "used", "#u": "used", "#n": "started"}, {"#a": "pk", "#u": "used", "#n": "started"}):
        answers.append(_outcome(lambda bad=bad: ddb.update_item(
            ExpressionAttributeNames=bad, ExpressionAttributeValues=values, **claim)))
    for expression in ("SET a = :one, a = :one", "SET a.b = :one, a = :one", "SET a = :one REMOVE b, c REMOVE d",
                       "SET a = :one, b = list_append (a, :one)", "SET a = :one, b = a + :one"):
        for _ in range(2):  # a failed check is not remembered
            answers.append(_outcome(lambda expression=expression: ddb.update_item(
                TableName="u", Key=key, UpdateExpression=expression, ExpressionAttributeValues={":one": {"N": "1"}})))
    guarded = {**claim, "ConditionExpression": "#u < :cap", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    answers.append(_outcome(lambda: ddb.update_item(ExpressionAttributeNames=names, ExpressionAttributeValues={
        **values, ":cap": {"N": "3"}}, **guarded)))
    answers.append(ddb.update_item(ExpressionAttributeNames=names, ExpressionAttributeValues={
        **values, ":cap": {"N": "5"}}, **guarded))
    listed, checked = {"pk": {"S": "k"}, "sk": {"N": "2"}}, {"pk": {"S": "k"}, "sk": {"N": "3"}}
    for item in (listed, checked):
        ddb.put_item(TableName="u", Item={**item, "l": {"L": [{"N": "1"}]}})
    update = {key: value for key, value in guarded.items() if key not in ("TableName", "Key", "ReturnValues")}
    for cap in ("9", "0", "9"):  # the middle one fails two of its checks, after an update in place: it is rolled back
        answers.append(_outcome(lambda cap=cap: ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "u", "Key": listed, "UpdateExpression": "SET l = list_append (l, :l), x = :l",
                        "ExpressionAttributeValues": {":l": {"L": [{"N": cap}]}}}},
            {"Update": {"TableName": "u", "Key": key, "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": {**values, ":cap": {"N": str(int(cap) * 2)}}, **update}},
            {"Put": {"TableName": "u", "Item": {"pk": {"S": "new"}, "sk": {"N": cap}}}},
            {"ConditionCheck": {"TableName": "u", "Key": checked, "ConditionExpression": "size (l) < :n",
                                "ExpressionAttributeValues": {":n": {"N": cap}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])))
    # a set value put in an item, which then grows in place, is met again in the same condition
    tagged = {"TableName": "u", "Key": {"pk": {"S": "s"}, "sk": {"N": "1"}}, "UpdateExpression": "SET t = :ss",
              "ConditionExpression": "attribute_not_exists (t) OR t = :ss", "ReturnValues": "ALL_NEW",
              "ExpressionAttributeValues": {":ss": {"SS": ["a"]}}}
    answers.append(_outcome(lambda: ddb.update_item(**tagged)))
    answers.append(ddb.update_item(TableName="u", Key=tagged["Key"], UpdateExpression="ADD t :b",
                                   ExpressionAttributeValues={":b": {"SS": ["b"]}}, ReturnValues="ALL_NEW"))
    answers.append(_outcome(lambda: ddb.update_item(**tagged)))
    answers.append(sorted(ddb.scan(TableName="u")["Items"], key=lambda item: (item["pk"]["S"], item["sk"]["N"])))
    return answers


def _sqs_round_trip(sqs: Any) -> list[Any]:
    """Send a batch, receive part of it, delete one, let one come back, count what is left."""
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)])
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=0, AttributeNames=["All"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["Messages"][0]["ReceiptHandle"])
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600, WaitTimeSeconds=1)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return [sorted(m["Body"] for m in first["Messages"]), sorted(m["Body"] for m in rest["Messages"]), counts]


def round_trip() -> dict[str, Any]:
    """Patch moto as the switch says, run the calls in moto, and return the patches and the answers."""
    installed = moto_patches.install()
    import boto3
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb")
        answers = _dynamodb_round_trip(ddb) + _sqs_round_trip(boto3.client("sqs")) + _update_round_trip(ddb)
    return {"installed": installed, "answers": _strip(answers)}


def _round_trip_in_a_fresh_process(speed: str) -> dict[str, Any]:
    env = {**os.environ, moto_patches.SPEED_SWITCH: speed, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(ROOT)}
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, __file__], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_the_speed_patches_change_no_answer() -> None:
    # Given the same DynamoDB and SQS calls, in moto without and with the speed patches
    slow, fast = _round_trip_in_a_fresh_process("0"), _round_trip_in_a_fresh_process("1")
    # Then the switch chose the patches, and every answer is the same
    assert slow["installed"] == ["dynamodb-serialized", "sqs-long-poll-wakeup", "sqs-serialized"]
    assert fast["installed"] == slow["installed"] + ["speed"]
    assert fast["answers"] == slow["answers"]
    # And the answers are the ones AWS gives: one winner, a cancelled transaction left nothing behind
    answers = slow["answers"]
    assert answers[1]["code"] == "ConditionalCheckFailedException"
    assert [answers[2]["Attributes"]["n"], answers[3]["Attributes"]["n"]] == [{"N": "3"}, {"N": "8"}]
    assert answers[4]["code"] == "ConditionalCheckFailedException"
    assert answers[5]["code"] == "TransactionCanceledException"
    assert [r["Code"] for r in answers[5]["reasons"]] == ["None", "ConditionalCheckFailed"]
    assert answers[7] == [{"n": {"N": "0"}, "pk": {"S": "a"}}, {"n": {"N": "0"}, "pk": {"S": "b"}}]
    # And a remembered condition binds each call's names and values: m unset passes, m = 4 is
    # not < 4, n = 0 < 1 passes, pk = "a" fails the NOT
    assert [answers[8]["Attributes"]["m"], answers[10]["Attributes"]["m"]] == [{"N": "4"}, {"N": "6"}]
    assert [answers[9]["code"], answers[11]["code"]] == ["ConditionalCheckFailedException"] * 2
    # And every attribute type reads back as written, binary included
    written = answers[12]["Item"]
    assert written["b"] == {"B": {"hex": "00ff"}}
    assert written["m"]["M"]["deep"]["L"][2] == {"M": {"bin": {"B": {"hex": "7a"}}}}
    assert answers[13]["Responses"]["t"][0] in (written, answers[8]["Attributes"] | {"pk": {"S": "a"}})
    assert answers[14]["Items"] == [written]
    assert answers[15:17] == [["m0", "m1", "m2"], ["m1", "m2", "m3", "m4"]]
    # And an update expression that passed its checks once is checked again with other names: key attributes
    # and overlapping paths are refused every time, and so is every failing expression met twice
    assert [answers[18]["Attributes"]["started"], answers[19]["Attributes"]["started"]] == [{"N": "1"}, {"N": "2"}]
    assert ["part of the key" in answers[i]["message"] for i in (20, 21, 23)] == [True] * 3
    assert "overlap" in answers[22]["message"]
    assert answers[24:34:2] == answers[25:34:2] and all(a["code"] == "ValidationException" for a in answers[24:34])
    # And a failed condition answers the item as it was (ALL_OLD); a cancelled transaction answers its reasons
    # and takes back the update it had made in place and the item it had put
    assert answers[34]["item"]["used"] == {"N": "4"} and answers[35]["Attributes"]["used"] == {"N": "6"}
    reasons = answers[37]["reasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed", "None", "ConditionalCheckFailed"]
    assert [reasons[1]["Item"]["used"], reasons[3]["Item"]["l"]] == [{"N": "8"}, {"L": [{"N": "1"}]}]
    # And a condition met again with equal values compares with those values, not with a set grown since
    assert [answers[39]["Attributes"]["t"], answers[41]["code"]] == [{"SS": ["a"]}, "ConditionalCheckFailedException"]
    listed, put = answers[42][1], answers[42][3:4]
    assert listed["l"] == {"L": [{"N": "1"}, {"N": "9"}, {"N": "9"}]}
    assert put == [{"pk": {"S": "new"}, "sk": {"N": "9"}}]


def test_another_moto_version_is_refused_loudly() -> None:
    moto_patches.check_version(moto_patches.MOTO_VERSION)
    with pytest.raises(moto_patches.MotoVersionError, match=r"written for moto 5\.2\.5, found 5\.3\.0"):
        moto_patches.check_version("5.3.0")


@pytest.mark.parametrize("value, wanted", [("0", False), ("off", False), ("1", True), ("", True)])
def test_the_switch_reads_the_environment(monkeypatch: pytest.MonkeyPatch, value: str, wanted: bool) -> None:
    monkeypatch.setenv(moto_patches.SPEED_SWITCH, value)
    assert moto_patches.speed_wanted() is wanted


if __name__ == "__main__":
    print(json.dumps(round_trip()))


def test_sqs_receives_and_deletes_from_many_threads_lose_nothing() -> None:
    # Given a queue of 600 messages and eight pollers that receive and delete at once (the local
    # stack's executor), in moto as installed for the tests
    import threading

    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="many-pollers")["QueueUrl"]
        for start in range(0, 600, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(start + i)}
                                                          for i in range(10)])
        seen: list[str] = []
        errors: list[BaseException] = []

        def poll() -> None:
            try:
                while True:
                    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                    messages = got.get("Messages", [])
                    if not messages:
                        return
                    seen.extend(m["Body"] for m in messages)
                    sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=poll) for _ in range(8)]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # threads switch often: what a loaded server's threads do
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        finally:
            sys.setswitchinterval(interval)
        # Then no call failed, every message was received, and none was handed to two pollers
        assert not errors, errors
        assert sorted(seen, key=int) == [str(n) for n in range(600)]


def test_a_long_poll_waits_outside_the_sqs_lock() -> None:
    # Given a poller waiting on an empty queue
    import threading
    import time

    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
        other = sqs.create_queue(QueueName="other")["QueueUrl"]
        sqs.send_message(QueueUrl=other, MessageBody="x")
        got: dict[str, Any] = {}
        waiting = threading.Thread(target=lambda: got.update(
            sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)))  # 20 s: far above the bounds below
        started = time.monotonic()
        waiting.start()
        time.sleep(0.3)
        # When another poller receives and deletes meanwhile, and then a message is sent
        message = sqs.receive_message(QueueUrl=other)["Messages"][0]
        sqs.delete_message(QueueUrl=other, ReceiptHandle=message["ReceiptHandle"])
        assert time.monotonic() - started < 8  # not held up by the waiting receive (20 s)
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        waiting.join(25)
        # Then the waiting receive got it as soon as it was sent, not at the end of its wait
        assert [m["Body"] for m in got["Messages"]] == ["hello"]
        assert time.monotonic() - started < 10  # well before the end of its 20 s wait
