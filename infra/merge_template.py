"""What ``chalice package --merge-template`` adds to Chalice's own SAM template.

Chalice deploys the three functions, the REST API and the minute rule; this adds the
storage (from :mod:`infra.resources`), the log groups, the alarms and their SNS topic,
the dashboard, and two fixes to Chalice's resources: fixed function names (so IAM
and dashboards can name log groups and functions) and ``ReportBatchItemFailures`` on
the executor's SQS event source, which Chalice never sets (aws/chalice#2029).
Chalice deep-merges dicts, so an override lists only the keys it changes.
"""
from __future__ import annotations

import json
import sys
from typing import Any

from .iam import EXECUTOR_MAPPING_ID, function_name
from .resources import (
    DLQ_ID,
    JOBS_TABLE_ID,
    QUEUE_ID,
    RUNS_TABLE_ID,
    is_protected,
    resource_definitions,
    resource_outputs,
    stage_names,
)

# Chalice's logical ids (SAM format) for app.py's functions and the SQS event.
CHALICE_FUNCTIONS = {"api_handler": "APIHandler", "tick": "Tick", "execute": "Execute"}
SQS_EVENT_ID = "ExecuteSqsEventSource"
TICK_TIMEOUT_S = 60
ALARM_TOPIC_ID = "AlarmTopic"
DASHBOARD_ID = "Dashboard"
# EMF metrics the app emits (namespace POWERTOOLS_METRICS_NAMESPACE, dimension service).
METRICS_NAMESPACE = "AgentOSJobs"
SERVICE = "agentos-jobs"
APP_METRICS = ("OccurrencesDispatched", "RunsSucceeded", "RunsFailed", "RunsRetried")
PROVISION_AHEAD_PARAM = "ProvisionAhead"


def log_group_id(function: str) -> str:
    """Logical id of a function's log group."""
    return f"{CHALICE_FUNCTIONS[function]}LogGroup"


def function_overrides(stage: str) -> dict[str, Any]:
    """Name each function, make it wait for its log group, and fix the SQS event source."""
    overrides: dict[str, Any] = {}
    for function, logical in CHALICE_FUNCTIONS.items():
        overrides[logical] = {"DependsOn": [log_group_id(function)],
                              "Properties": {"FunctionName": function_name(stage, function)}}
    execute = overrides["Execute"]
    # Chalice builds the queue ARN from its name, so CloudFormation sees no dependency.
    execute["DependsOn"].append(QUEUE_ID)
    execute["Properties"]["Events"] = {SQS_EVENT_ID: {"Properties": {
        "FunctionResponseTypes": ["ReportBatchItemFailures"]}}}
    # Deliveries carry callback URLs on this stage's API: the executor learns its invoke URL here
    # (the API function itself needs none, so no resource depends on itself).
    execute["Properties"]["Environment"] = {"Variables": {"AGENTOS_PUBLIC_URL": public_url(stage)}}
    # Provisioning ahead (chalicelib/engine/provisioning.py), off unless the stack's parameter says 1
    overrides["Tick"]["Properties"]["Environment"] = {"Variables": {
        "AGENTOS_PROVISION_AHEAD": {"Ref": PROVISION_AHEAD_PARAM},
        "AGENTOS_EXECUTOR_MAPPING": {"Ref": EXECUTOR_MAPPING_ID}}}
    return overrides


def public_url(stage: str) -> dict[str, str]:
    """The stage's invoke URL (no trailing slash), as CloudFormation resolves it."""
    return {"Fn::Sub": f"https://${{RestAPI}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}"}


def log_groups(stage: str) -> dict[str, Any]:
    """One log group per function, created before it, with a retention."""
    retention = 90 if is_protected(stage) else 14
    return {log_group_id(fn): {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": f"/aws/lambda/{function_name(stage, fn)}", "RetentionInDays": retention}}
        for fn in CHALICE_FUNCTIONS}


def _lambda_metric(function: str, name: str) -> dict[str, Any]:
    return {"Namespace": "AWS/Lambda", "MetricName": name,
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": CHALICE_FUNCTIONS[function]}}]}


def _sqs_metric(queue_id: str, name: str) -> dict[str, Any]:
    return {"Namespace": "AWS/SQS", "MetricName": name,
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]}


def _alarm(stage: str, name: str, description: str, threshold: float, evaluate: tuple[int, int],
           **what: Any) -> dict[str, Any]:
    """An alarm (``>= threshold``) on ``what`` (a metric or metric math) that notifies the topic.

    ``evaluate`` is (datapoints to alarm, evaluation periods). Missing data is fine:
    an idle stage emits no Errors or Throttles datapoints at all.
    """
    datapoints, periods = evaluate
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": f"{stage_names(stage).jobs_table}-{name}",
        "AlarmDescription": f"{description} See docs/operations.md (Alarms).",
        **what, "EvaluationPeriods": periods, "DatapointsToAlarm": datapoints,
        "Threshold": threshold, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": ALARM_TOPIC_ID}], "OKActions": [{"Ref": ALARM_TOPIC_ID}]}}


def alarm(stage: str, name: str, description: str, metric: dict[str, Any], threshold: float,
          statistic: str = "Sum", period: int = 60, evaluate: tuple[int, int] = (1, 1)) -> dict[str, Any]:
    """A static-threshold alarm on one metric."""
    return _alarm(stage, name, description, threshold, evaluate, **metric,
                  Statistic=statistic, Period=period)


def table_throttle_alarm(stage: str, table_id: str, label: str) -> dict[str, Any]:
    """Read plus write throttle events of a table (metric math over two metrics)."""
    def stat(metric_id: str, name: str) -> dict[str, Any]:
        metric = {"Namespace": "AWS/DynamoDB", "MetricName": name,
                  "Dimensions": [{"Name": "TableName", "Value": {"Ref": table_id}}]}
        return {"Id": metric_id, "ReturnData": False,
                "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}}
    metrics = [stat("reads", "ReadThrottleEvents"), stat("writes", "WriteThrottleEvents"),
               {"Id": "throttles", "Expression": "reads + writes", "Label": "throttle events",
                "ReturnData": True}]
    return _alarm(stage, f"{label}-throttles", f"DynamoDB throttled requests on the {label} table.",
                  1, (1, 5), Metrics=metrics)


def alarms(stage: str) -> dict[str, Any]:
    """Every alarm of the stage, by logical id (docs/operations.md explains each)."""
    found = {
        "DeadLetterQueueNotEmptyAlarm": alarm(
            stage, "dlq-not-empty", "An occurrence failed its last attempt and waits in the DLQ.",
            _sqs_metric(DLQ_ID, "ApproximateNumberOfMessagesVisible"), 1, statistic="Maximum"),
        "QueueBacklogAlarm": alarm(
            stage, "queue-backlog", "Occurrences wait in the queue far longer than the longest delay.",
            _sqs_metric(QUEUE_ID, "ApproximateAgeOfOldestMessage"), 1200, statistic="Maximum",
            evaluate=(3, 3)),
        "ExecutorErrorsAlarm": alarm(
            stage, "executor-errors", "The executor Lambda crashed or timed out.",
            _lambda_metric("execute", "Errors"), 1, period=300),
        "TickErrorsAlarm": alarm(
            stage, "tick-errors", "The minute tick failed twice in five minutes.",
            _lambda_metric("tick", "Errors"), 1, evaluate=(2, 5)),
        "TickDurationAlarm": alarm(
            stage, "tick-duration", "A tick used 80% of its timeout: the due index is growing.",
            _lambda_metric("tick", "Duration"), 0.8 * TICK_TIMEOUT_S * 1000, statistic="Maximum"),
        "ApiErrorsAlarm": alarm(
            stage, "api-errors", "The API Lambda crashed or timed out (HTTP 502/504).",
            _lambda_metric("api_handler", "Errors"), 5, period=300),
        "CircuitBreakerAlarm": alarm(
            stage, "circuit-breaker", "A job failed maxConsecutiveFailures runs in a row and was paused.",
            {"Namespace": "AgentOSJobs", "MetricName": "JobsPausedByBreaker",
             "Dimensions": [{"Name": "service", "Value": "agentos-jobs"}]}, 1),
        "BudgetExhaustedAlarm": alarm(
            stage, "budget-exhausted", "A job's or an agent's daily budget stopped an occurrence.",
            {"Namespace": "AgentOSJobs", "MetricName": "RunsSkippedByBudget",
             "Dimensions": [{"Name": "service", "Value": "agentos-jobs"}]}, 1),
        "JobsTableThrottlesAlarm": table_throttle_alarm(stage, JOBS_TABLE_ID, "jobs"),
        "RunsTableThrottlesAlarm": table_throttle_alarm(stage, RUNS_TABLE_ID, "runs"),
    }
    for function, logical in CHALICE_FUNCTIONS.items():
        found[f"{logical}ThrottlesAlarm"] = alarm(
            stage, f"{function.replace('_', '-')}-throttles", f"Lambda throttled {function} invocations.",
            _lambda_metric(function, "Throttles"), 1, period=300)
    return found


def alarm_topic(stage: str) -> dict[str, Any]:
    """The SNS topic every alarm notifies, and an optional e-mail subscription."""
    return {
        ALARM_TOPIC_ID: {"Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": f"{stage_names(stage).jobs_table}-alarms"}},
        "AlarmEmailSubscription": {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail",
                                   "Properties": {"TopicArn": {"Ref": ALARM_TOPIC_ID}, "Protocol": "email",
                                                  "Endpoint": {"Ref": "AlarmEmail"}}},
    }


def _widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum",
            width: int = 12) -> dict[str, Any]:
    return {"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": {
        "title": title, "region": "${AWS::Region}", "stat": stat, "period": 60, "view": "timeSeries",
        "metrics": metrics}}


def _per_function(metric: str, stage: str) -> list[list[Any]]:
    return [["AWS/Lambda", metric, "FunctionName", function_name(stage, fn), {"label": fn}]
            for fn in CHALICE_FUNCTIONS]


def dashboard_widgets(stage: str) -> list[dict[str, Any]]:
    """The dashboard, top to bottom: outcomes, timeliness, Lambdas, queues, tables, alarms."""
    names, app = stage_names(stage), [METRICS_NAMESPACE]
    dims = ["service", SERVICE]
    outcomes = [[*app, name, *dims] for name in APP_METRICS]
    timing = [[*app, "DispatchLatenessMs", *dims, {"stat": "p50", "label": "lateness p50"}],
              [*app, "DispatchLatenessMs", *dims, {"stat": "p99", "label": "lateness p99"}],
              [*app, "TickDurationMs", *dims, {"stat": "Maximum", "label": "tick duration max"}]]
    sqs = [["AWS/SQS", m, "QueueName", q, {"label": f"{q}: {m}", "stat": "Maximum"}]
           for q, m in ((names.queue, "ApproximateNumberOfMessagesVisible"),
                        (names.queue, "ApproximateNumberOfMessagesDelayed"),
                        (names.queue, "ApproximateAgeOfOldestMessage"),
                        (names.dlq, "ApproximateNumberOfMessagesVisible"))]
    tables = [["AWS/DynamoDB", m, "TableName", t] for t in (names.jobs_table, names.runs_table)
              for m in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits",
                        "ReadThrottleEvents", "WriteThrottleEvents")]
    return [
        _widget("Occurrences and runs", outcomes, 0, 0),
        _widget("Dispatch lateness and tick duration (ms)", timing, 12, 0, stat="Maximum"),
        _widget("Lambda invocations", _per_function("Invocations", stage), 0, 6),
        _widget("Lambda errors and throttles", _per_function("Errors", stage)
                + _per_function("Throttles", stage), 12, 6),
        _widget("Lambda duration max (ms)", _per_function("Duration", stage), 0, 12, stat="Maximum"),
        _widget("Queues", sqs, 12, 12, stat="Maximum"),
        _widget("DynamoDB capacity and throttles", tables, 0, 18, width=24),
        {"type": "alarm", "x": 0, "y": 24, "width": 24, "height": 4, "properties": {
            "title": "Alarms", "alarms": [
                f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:"
                f"{a['Properties']['AlarmName']}" for a in alarms(stage).values()]}},
    ]


def dashboard(stage: str) -> dict[str, Any]:
    """The CloudWatch dashboard resource; its body is JSON text with the region substituted."""
    body = json.dumps({"widgets": dashboard_widgets(stage)}, separators=(",", ":"))
    return {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": stage_names(stage).jobs_table, "DashboardBody": {"Fn::Sub": body}}}


def outputs(stage: str) -> dict[str, Any]:
    """Storage outputs plus where an operator looks: dashboard, alarm topic, token parameter."""
    console = "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}"
    return {
        **resource_outputs(),
        "DashboardUrl": {"Value": {"Fn::Sub": f"{console}#dashboards:name={stage_names(stage).jobs_table}"}},
        "AlarmTopicArn": {"Value": {"Ref": ALARM_TOPIC_ID}},
        "ApiTokensParameter": {"Value": stage_names(stage).tokens_param},
    }


def merge_template(stage: str) -> dict[str, Any]:
    """The whole merge template of ``stage``."""
    return {
        "Parameters": {"AlarmEmail": {
            "Type": "String", "Default": "",
            "Description": "E-mail address subscribed to the alarm topic (empty: none)."},
            PROVISION_AHEAD_PARAM: {
                "Type": "String", "Default": "0", "AllowedValues": ["0", "1"],
                "Description": "1: the tick raises the executor's minimum pollers before a burst "
                               "(docs/operations.md, \"Provisioning ahead of a burst\")."}},
        "Conditions": {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}},
        "Resources": {
            **resource_definitions(stage),
            **function_overrides(stage),
            **log_groups(stage),
            **alarm_topic(stage),
            **alarms(stage),
            DASHBOARD_ID: dashboard(stage),
        },
        "Outputs": outputs(stage),
    }


if __name__ == "__main__":
    json.dump(merge_template(sys.argv[1] if len(sys.argv) > 1 else "dev"), sys.stdout, indent=2)
    sys.exit(0)
