"""Deployment: the storage template, its deployment into moto, and the packaged app template."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pynamodb.models import Model

from chalicelib.config import LAMBDA_PATH
from chalicelib.store.models import JobModel, NameClaim, RunModel
from infra import iam
from infra.package import _tag_runs_on_lambda, package, template_problems
from infra.provision import provision
from infra.resources import DLQ_RETENTION_S, MAX_RECEIVE_COUNT, QUEUE_VISIBILITY_S, resources_template, stage_names

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


def test_provision_is_idempotent_and_fast(moto_stage: dict[str, str], faults: Any) -> None:
    """A second provision of the same stage changes nothing, keeps the data, and is quick: a few
    reads, no write and no stack wait (counted: a time bound flakes on a busy machine)."""
    _job("job-keep", 1, 10).save()
    faults.log.clear()
    again = provision("infratest")
    reads = ("Describe", "Get", "List")
    assert [op for _, op in faults.log if not op.startswith(reads)] == [], faults.log
    assert len(faults.log) <= 6, faults.log  # 5 today: DescribeStacks, GetTemplate, DescribeTimeToLive, 2 GetQueueUrl
    assert {k: again[k] for k in again} == {k: moto_stage[k] for k in again}
    assert JobModel.get("job-keep").dueShard == 1


def _schema_of(resource: dict[str, Any]) -> dict[str, Any]:
    props = resource["Properties"]
    return {key: props.get(key) for key in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes")}


def _model_schema(model: type[Model]) -> dict[str, Any]:
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


# --- the packaged template (chalice package --merge-template, offline) ----------------

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {"APIHandler": "api_handler", "Tick": "tick", "Execute": "execute"}
STAGES = ("dev", "prod")


def _package_once(build_root: Path) -> dict[str, float]:
    """Package both stages under ``build_root`` unless another xdist worker already did."""
    done = build_root / "seconds.json"
    with open(build_root.parent / "infra-package.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits instead of packaging again
        if not done.exists():
            seconds = {}
            for stage in STAGES:
                started = time.monotonic()
                package(stage, build_root)
                seconds[stage] = time.monotonic() - started
            done.write_text(json.dumps(seconds))
    return json.loads(done.read_text())


@pytest.fixture(scope="session")
def packaged_stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """``make package``'s work for dev and prod, in a build directory shared by the workers."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker has its own basetemp inside the run's directory: share that.
    build_root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "infra-build"
    build_root.mkdir(exist_ok=True)
    seconds = _package_once(build_root)
    return {stage: {"stage": stage, "path": build_root / stage / "sam.json", "seconds": seconds[stage],
                    "template": json.loads((build_root / stage / "sam.json").read_text())}
            for stage in STAGES}


@pytest.fixture(params=STAGES)
def packaged(request: pytest.FixtureRequest, packaged_stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One stage's packaged template."""
    return packaged_stages[request.param]


@pytest.mark.slow
def test_cfn_lint_is_clean(packaged_stages: dict[str, dict[str, Any]]) -> None:
    """cfn-lint (with the SAM transform) reports nothing on either stage's packaged template."""
    lint = Path(sys.executable).with_name("cfn-lint")
    paths = [str(p["path"]) for p in packaged_stages.values()]
    done = subprocess.run([str(lint), *paths], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""
    for stage in packaged_stages.values():
        assert (stage["path"].parent / "deployment.zip").stat().st_size > 1_000_000


def test_tables_are_protected_and_match_models(packaged: dict[str, Any]) -> None:
    """Both tables: on demand, PITR, SSE, TTL on runs, deletion protection on prod, models' keys."""
    resources, stage = packaged["template"]["Resources"], packaged["stage"]
    names = stage_names(stage)
    for table_id, model, name in (("JobsTable", JobModel, names.jobs_table),
                                  ("RunsTable", RunModel, names.runs_table)):
        table = resources[table_id]
        props = table["Properties"]
        assert table["Type"] == "AWS::DynamoDB::Table" and props["TableName"] == name
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert props["DeletionProtectionEnabled"] is (stage == "prod")
        assert table["DeletionPolicy"] == ("Retain" if stage == "prod" else "Delete")
        assert _canonical(_schema_of(table)) == _canonical(_model_schema(model))
    assert resources["RunsTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiresAt", "Enabled": True}


def test_queue_redrives_to_dlq_and_outlasts_the_executor(packaged: dict[str, Any]) -> None:
    """The queue redrives to the 14-day DLQ; visibility is at least 6x the executor timeout."""
    resources = packaged["template"]["Resources"]
    queue, dlq = resources["JobsQueue"]["Properties"], resources["JobsDeadLetterQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": 5}
    assert dlq["MessageRetentionPeriod"] == DLQ_RETENTION_S == 14 * 86400
    executor_timeout = resources["Execute"]["Properties"]["Timeout"]
    assert executor_timeout == 90
    assert queue["VisibilityTimeout"] >= 6 * executor_timeout


def test_executor_reports_batch_item_failures(packaged: dict[str, Any]) -> None:
    """The executor's SQS event source reads our queue and enables partial batch responses."""
    execute = packaged["template"]["Resources"]["Execute"]
    event = execute["Properties"]["Events"]["ExecuteSqsEventSource"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["Queue"]["Fn::Sub"].endswith(f":{stage_names(packaged['stage']).queue}")
    assert "JobsQueue" in execute["DependsOn"]  # the ARN is built from a name: no implicit dependency
    assert template_problems(packaged["template"]) == []


def test_functions_get_their_stage_environment(packaged: dict[str, Any]) -> None:
    """Every function is named, timed and wired to this stage's tables, queues and token parameter."""
    resources, stage = packaged["template"]["Resources"], packaged["stage"]
    names = stage_names(stage)
    expected = {"JOBS_TABLE": names.jobs_table, "RUNS_TABLE": names.runs_table, "JOBS_QUEUE": names.queue,
                "JOBS_DLQ": names.dlq, "AGENTOS_API_TOKENS_PARAM": names.tokens_param, "AGENTOS_STAGE": stage,
                "POWERTOOLS_SERVICE_NAME": "agentos-jobs", "POWERTOOLS_METRICS_NAMESPACE": "AgentOSJobs"}
    timeouts = {"APIHandler": 30, "Tick": 60, "Execute": 90}
    for logical, function in FUNCTIONS.items():
        props = resources[logical]["Properties"]
        variables = dict(props["Environment"]["Variables"])
        # Without AGENTOS_CONFIG, chalicelib.config reads the packaged file when in Lambda.
        assert variables.pop("AGENTOS_CONFIG", LAMBDA_PATH) == "chalicelib/agentos.config.json"
        if logical in ("APIHandler", "Execute"):  # they mint or check callback tokens
            assert variables.pop("AGENTOS_CALLBACK_SECRET_PARAM") == names.callback_param
        if logical == "Execute":  # deliveries carry callback URLs on this stage's API
            assert variables.pop("AGENTOS_PUBLIC_URL") == {
                "Fn::Sub": f"https://${{RestAPI}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}"}
        if logical == "Tick":  # provisioning ahead: the stack's switch and the executor's mapping
            assert variables.pop("AGENTOS_PROVISION_AHEAD") == {"Ref": "ProvisionAhead"}
            assert variables.pop("AGENTOS_EXECUTOR_MAPPING") == {"Ref": iam.EXECUTOR_MAPPING_ID}
        assert variables == expected
        assert props["Timeout"] == timeouts[logical]
        assert props["FunctionName"] == iam.function_name(stage, function)
        assert resources[f"{logical}LogGroup"]["Properties"]["LogGroupName"] == f"/aws/lambda/{props['FunctionName']}"


def _policy_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for rid, res in template["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in res["Properties"].get("Policies", [])]
            assert not res["Properties"].get("ManagedPolicyArns"), rid
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [res["Properties"]["PolicyDocument"]]
        else:
            continue
        found += [(rid, stmt) for doc in documents for stmt in doc["Statement"]]
    return found


def test_iam_names_every_action_and_resource(packaged: dict[str, Any]) -> None:
    """No wildcard action anywhere; every resource is an ARN of this stage built with Fn::Sub."""
    statements = _policy_statements(packaged["template"])
    assert {rid for rid, _ in statements} == {"ApiHandlerRole", "TickRole", "ExecuteRole"}
    for rid, stmt in statements:
        assert stmt["Effect"] == "Allow" and "NotAction" not in stmt and "NotResource" not in stmt
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        for action in actions:
            assert "*" not in action, (rid, action)
        for resource in stmt["Resource"]:
            assert resource != "*" and set(resource) == {"Fn::Sub"}, (rid, resource)
            assert resource["Fn::Sub"].startswith("arn:${AWS::Partition}:"), (rid, resource)


def test_alarms_and_dashboard(packaged: dict[str, Any]) -> None:
    """Alarms watch the DLQ, executor and tick errors, tick duration, throttles; a dashboard exists."""
    resources = packaged["template"]["Resources"]
    alarms = {rid: r["Properties"] for rid, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}

    def watched(props: dict[str, Any]) -> set[tuple[str, str]]:
        metrics = [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m] or [props]
        return {(m["MetricName"], json.dumps(m["Dimensions"][0]["Value"])) for m in metrics}

    seen = set().union(*(watched(p) for p in alarms.values()))
    for needed in [("ApproximateNumberOfMessagesVisible", '{"Fn::GetAtt": ["JobsDeadLetterQueue", "QueueName"]}'),
                   ("Errors", '{"Ref": "Execute"}'), ("Errors", '{"Ref": "Tick"}'),
                   ("Duration", '{"Ref": "Tick"}'), ("Throttles", '{"Ref": "Execute"}'),
                   ("Throttles", '{"Ref": "Tick"}'), ("Throttles", '{"Ref": "APIHandler"}'),
                   ("WriteThrottleEvents", '{"Ref": "JobsTable"}'), ("WriteThrottleEvents", '{"Ref": "RunsTable"}')]:
        assert needed in seen, needed
    assert resources["TickDurationAlarm"]["Properties"]["Threshold"] < 60_000
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body.replace("${AWS::Region}", "us-east-1"))["widgets"]
    assert len(widgets) >= 6 and iam.function_name(packaged["stage"], "execute") in body


def test_policy_files_are_generated_from_infra() -> None:
    """.chalice/policy-*.json are exactly what infra.iam writes (run `python -m infra.iam`)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in iam.STAGES:
        functions = config["stages"][stage]["lambda_functions"]
        for function in iam.FUNCTIONS:
            name = iam.policy_filename(stage, function)
            assert functions[function]["iam_policy_file"] == name
            assert (ROOT / ".chalice" / name).read_text() == iam.render(iam.policy(stage, function))
    assert config["autogen_policy"] is False


def test_packaging_is_fast(packaged: dict[str, Any]) -> None:
    """Vendoring from the virtualenv keeps `make package` to seconds and off the network."""
    assert packaged["seconds"] < 60


@pytest.mark.parametrize("tag, ok", [
    ("py3-none-any", True), ("py2.py3-none-any", True),
    (f"cp{sys.version_info[0]}{sys.version_info[1]}-cp{sys.version_info[0]}{sys.version_info[1]}"
     "-manylinux_2_17_x86_64", True),
    (f"cp{sys.version_info[0]}{sys.version_info[1]}-abi3-manylinux2014_x86_64", True),
    (f"cp{sys.version_info[0]}{sys.version_info[1]}-cp{sys.version_info[0]}{sys.version_info[1]}"
     "-manylinux_2_99_x86_64", False),
    (f"cp{sys.version_info[0]}{sys.version_info[1]}-cp{sys.version_info[0]}{sys.version_info[1]}"
     "-macosx_11_0_arm64", False),
    ("cp39-cp39-manylinux2014_x86_64", False),
    (f"cp{sys.version_info[0]}{sys.version_info[1]}-cp{sys.version_info[0]}{sys.version_info[1]}"
     "-manylinux2014_aarch64", False),
])
def test_only_lambda_compatible_wheels_are_vendored(tag: str, ok: bool) -> None:
    """A wheel built for another platform or glibc is never shipped from the virtualenv."""
    assert _tag_runs_on_lambda(tag) is ok


def test_template_problems_catch_a_renamed_chalice_resource() -> None:
    """If Chalice renamed a function, the deep merge would leave a typeless stub: caught."""
    template = {"Resources": {"Execute": {"Properties": {"FunctionName": "x"}}}}
    problems = template_problems(template)
    assert any("Execute: no Type" in p for p in problems)
    assert any("ExecuteSqsEventSource" in p for p in problems)


def test_chalice_local_keeps_the_documented_defaults() -> None:
    """`chalice local` applies top- and stage-level variables: those must not move AGENTOS_CONFIG
    off ./agentos.config.json nor send token lookups to SSM (they are per function instead)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in iam.STAGES:
        local_env = {**config.get("environment_variables", {}), **config["stages"][stage]["environment_variables"]}
        assert "AGENTOS_CONFIG" not in local_env and "AGENTOS_API_TOKENS_PARAM" not in local_env
        assert local_env["JOBS_QUEUE"] == stage_names(stage).queue  # read when chalice imports app.py


# --- the packaged artifact, loaded the way Lambda loads it (docs/reliability.md, section 8, item 1)

_LAMBDA_PROBE = r'''
import json, os, sys
sys.path.insert(0, os.getcwd())  # the unzipped artifact first, as /var/task is in Lambda
import boto3
from moto import mock_aws

def event(headers):
    context = {"resourcePath": "/api/openapi.json", "httpMethod": "GET", "path": "/stage/api/openapi.json"}
    return {"resource": "/api/openapi.json", "path": "/api/openapi.json", "httpMethod": "GET",
            "headers": headers, "multiValueHeaders": None, "queryStringParameters": None,
            "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
            "requestContext": context, "body": None, "isBase64Encoded": False}

with mock_aws():
    boto3.client("ssm").put_parameter(Name=sys.argv[1], Type="SecureString", Value="tok-one,tok-two")
    import app as handler
    from chalicelib.api import auth
    from chalicelib import config, runtime
    statuses = [handler.app(event(h), None)["statusCode"]
                for h in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Bearer tok-two"})]
    print(json.dumps({"config_module": config.__file__, "security": runtime.config().security.enabled,
                      "tokens": [t.decode() for t in auth.api_tokens()], "statuses": statuses}))
'''


def test_packaged_api_is_secure_and_reads_its_tokens_from_ssm(packaged: dict[str, Any], tmp_path: Path) -> None:
    """Unzip deployment.zip, give it the API function's environment from sam.json, and call it as
    Lambda does: the packaged config turns security on and the tokens come from the SSM parameter."""
    import zipfile

    stage, task = packaged["stage"], tmp_path / "task"
    with zipfile.ZipFile(packaged["path"].parent / "deployment.zip") as artifact:
        packaged_config = json.loads(artifact.read(LAMBDA_PATH))
        shipped_endpoints = artifact.read("chalicelib/store/endpoints.json")  # the session's trimmed endpoint data
        artifact.extractall(task)
    from chalicelib.store.aws import ENDPOINTS_PATH
    assert shipped_endpoints == ENDPOINTS_PATH.read_bytes()
    assert packaged_config["security"]["enabled"] is True
    variables = packaged["template"]["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AGENTOS_", "AWS_ENDPOINT_URL", "JOBS_", "RUNS_", "PYTHONPATH"))}
    env.update(variables, AWS_LAMBDA_FUNCTION_NAME=iam.function_name(stage, "api_handler"))
    done = subprocess.run([sys.executable, "-c", _LAMBDA_PROBE, stage_names(stage).tokens_param], cwd=task,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(seen["config_module"]).is_relative_to(task)  # the artifact's code, not the worktree's
    assert seen["security"] is True
    assert seen["tokens"] == ["tok-one", "tok-two"]
    assert seen["statuses"] == [401, 401, 200]


def test_a_stage_opts_out_of_authentication_only_explicitly_and_loudly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No stage file, or one without ``security.enabled``: secured. ``false``: packaged, with a warning."""
    from infra.package import stage_config, stage_config_path, write_stage_config

    (tmp_path / "chalicelib").mkdir()
    assert stage_config("qa", tmp_path)["security"] == {"enabled": True}
    path = stage_config_path("qa", tmp_path)
    path.parent.mkdir()
    path.write_text(json.dumps({"limits": {"maxPayloadBytes": 1000}}))
    assert write_stage_config("qa", tmp_path, tmp_path) is True
    assert json.loads((tmp_path / LAMBDA_PATH).read_text())["security"] == {"enabled": True}
    assert "WARNING" not in capsys.readouterr().err
    path.write_text(json.dumps({"security": {"enabled": False}}))
    assert write_stage_config("qa", tmp_path, tmp_path) is False
    assert "WITHOUT authentication" in capsys.readouterr().err
    path.write_text(json.dumps({"security": {"enabeld": True}}))
    with pytest.raises(ValueError, match="security.enabeld"):
        stage_config("qa", tmp_path)


def test_an_agent_secret_parameter_must_be_one_the_executor_may_read(tmp_path: Path) -> None:
    """secretParam outside /agentos-jobs/<stage>/agents/ would fail at the first delivery: refused
    when packaging; inside it, the executor's policy allows reading and decrypting it."""
    from infra.package import stage_config, stage_config_path

    path = stage_config_path("qa", tmp_path)
    path.parent.mkdir()
    agent = {"url": "https://agent.example/jobs", "secretParam": "/elsewhere/secret"}
    path.write_text(json.dumps({"agents": {"550e8400-e29b-41d4-a716-446655440000": agent}}))
    with pytest.raises(ValueError, match="/agentos-jobs/qa/agents/"):
        stage_config("qa", tmp_path)
    agent["secretParam"] = "/agentos-jobs/qa/agents/a1"
    path.write_text(json.dumps({"agents": {"550e8400-e29b-41d4-a716-446655440000": agent}}))
    assert stage_config("qa", tmp_path)["agents"]
    statements = {s["Sid"]: s for s in iam.policy("qa", "execute")["Statement"]}
    assert statements["ReadAgentSecrets"]["Resource"][0]["Fn::Sub"].endswith(":parameter/agentos-jobs/qa/agents/*")


def test_the_deployer_policy_covers_every_resource_type(packaged: dict[str, Any]) -> None:
    """docs/operations.md's deployer policy (python -m infra.deployer) names actions for every
    resource type the packaged template creates, the SAM transform's own included."""
    from infra.deployer import RESOURCE_ACTIONS, main, policy

    types = {resource["Type"] for resource in packaged["template"]["Resources"].values()}
    assert types <= RESOURCE_ACTIONS.keys(), sorted(types - RESOURCE_ACTIONS.keys())
    document = policy("prod", "my-artifacts")
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert {"lambda:CreateEventSourceMapping", "events:PutRule", "apigateway:POST", "iam:PassRole",
            "cloudformation:ExecuteChangeSet", "s3:PutObject"} <= actions
    assert "arn:aws:s3:::my-artifacts/agentos-jobs/prod/*" in str(document)
    assert main(["prod"]) == 2
