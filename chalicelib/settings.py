"""The environment, read in one place: every variable the functions read, its default, and its reader.

Each value is read when asked, not at import (tests and the local stack change the environment
between calls; the few read at import say so). Nothing here imports more than :mod:`os`: the
API's first request needs it.

==============================  ==================================================  ======================
variable                        meaning (default)                                   read by
==============================  ==================================================  ======================
AWS_LAMBDA_FUNCTION_NAME        set inside a Lambda function                        config, auth, callbacks,
                                                                                    telemetry, failures,
                                                                                    coldstart
AGENTOS_STAGE                   the deployment stage (``dev``)                      runtime, auth
AGENTOS_CONFIG                  the configuration file's path                       config
AGENTOS_API_TOKENS              the API's token list                                auth, telemetry
AGENTOS_API_TOKENS_PARAM        its SSM parameter (``/agentos-jobs/<stage>/...``)   auth
AGENTOS_CALLBACK_SECRET(_PARAM) the callback tokens' secret, or its SSM parameter   engine.callbacks
AGENTOS_PUBLIC_URL              this API's public base URL                          engine.callbacks
AGENTOS_EXECUTOR_BATCH          ``0``: the per-message executor path (``1``)        runtime
AGENTOS_AWS_CONNECTIONS         HTTP connections per AWS client (10)                store.aws
AGENTOS_PROVISION_AHEAD         ``1``: the tick raises the executor's pollers       engine.provisioning
                                before a burst (``0``, off; the template sets it)
AGENTOS_EXECUTOR_MAPPING        the executor's SQS event source mapping (UUID)      engine.provisioning
AGENTOS_POLLERS_REST/_MOST      its pollers at rest (2) and at most (2000)          engine.provisioning
JOBS_TABLE / RUNS_TABLE         the tables (``agentos-jobs-dev``/``-runs-dev``)     store.models (import)
JOBS_QUEUE / JOBS_DLQ           the queue and its dead-letter queue                 store.sqs, handlers
AWS_DEFAULT_REGION, AWS_REGION  the region (``us-east-1``)                          store.models
AWS_ENDPOINT_URL(_DYNAMODB)     a local DynamoDB (tests, the local stack)           store.models
POWERTOOLS_*                    metrics namespace, service name, log level          telemetry
an agent's ``secretEnv``        that agent's HMAC secret                            engine.agent_secrets
==============================  ==================================================  ======================
"""
from __future__ import annotations

import os

CONNECTIONS_VAR = "AGENTOS_AWS_CONNECTIONS"


def value(name: str) -> str | None:
    """The variable ``name`` (an agent's ``secretEnv``, named by the config), None when unset."""
    return os.environ.get(name)


def in_lambda() -> bool:
    """True inside an AWS Lambda function."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def stage() -> str:
    """The deployment stage name (``dev`` when unset)."""
    return os.environ.get("AGENTOS_STAGE", "dev")


def config_path() -> str | None:
    """``AGENTOS_CONFIG``: where the configuration file is (None: the default place)."""
    return os.environ.get("AGENTOS_CONFIG") or None


def api_tokens() -> str | None:
    """``AGENTOS_API_TOKENS``: the comma-separated token list (None: unset, read SSM in Lambda)."""
    return os.environ.get("AGENTOS_API_TOKENS")


def api_tokens_param() -> str:
    """The SSM parameter holding a deployed stage's tokens: ``/agentos-jobs/<stage>/api-tokens``
    (``AGENTOS_API_TOKENS_PARAM`` overrides it; the packaged template sets it to the same name)."""
    return os.environ.get("AGENTOS_API_TOKENS_PARAM") or f"/agentos-jobs/{stage()}/api-tokens"


def bare_tokens(raw: str) -> list[str]:
    """The token of each entry of a token list (before any ``:<agentId>|...``), well-formed or not:
    what a request carries, so what the log scrubber must blank."""
    return [token for entry in raw.split(",") if (token := entry.partition(":")[0].strip())]


def callback_secret() -> str | None:
    """``AGENTOS_CALLBACK_SECRET``: the callback tokens' secret, given as it is."""
    return os.environ.get("AGENTOS_CALLBACK_SECRET")


def callback_secret_param() -> str | None:
    """``AGENTOS_CALLBACK_SECRET_PARAM``: the SSM parameter holding it (deployed functions)."""
    return os.environ.get("AGENTOS_CALLBACK_SECRET_PARAM")


def public_url() -> str | None:
    """``AGENTOS_PUBLIC_URL``: this API's public base URL."""
    return os.environ.get("AGENTOS_PUBLIC_URL")


def executor_batched() -> bool:
    """False when ``AGENTOS_EXECUTOR_BATCH=0`` (the per-message reference path)."""
    return os.environ.get("AGENTOS_EXECUTOR_BATCH", "1") != "0"


def provision_ahead() -> bool:
    """True when ``AGENTOS_PROVISION_AHEAD=1``: the tick provisions the executor for what is due."""
    return os.environ.get("AGENTOS_PROVISION_AHEAD", "0") == "1"


def executor_mapping() -> str | None:
    """``AGENTOS_EXECUTOR_MAPPING``: the UUID of the executor's SQS event source mapping."""
    return os.environ.get("AGENTOS_EXECUTOR_MAPPING") or None


def pollers() -> tuple[int, int]:
    """(minimum at rest, most) pollers of the executor's mapping in provisioned mode (2, 2000)."""
    return int(os.environ.get("AGENTOS_POLLERS_REST") or 2), int(os.environ.get("AGENTOS_POLLERS_MOST") or 2000)


def aws_connections() -> int:
    """``AGENTOS_AWS_CONNECTIONS``: HTTP connections each AWS client keeps (botocore's 10)."""
    return int(os.environ.get(CONNECTIONS_VAR) or 10)


def tables() -> tuple[str, str]:
    """The jobs table and the runs table (``JOBS_TABLE``, ``RUNS_TABLE``; the dev stage's)."""
    return os.environ.get("JOBS_TABLE", "agentos-jobs-dev"), os.environ.get("RUNS_TABLE", "agentos-runs-dev")


def queues() -> tuple[str, str]:
    """The occurrence queue and its dead-letter queue (``JOBS_QUEUE``, ``JOBS_DLQ``: ``<queue>-dlq``)."""
    queue = os.environ.get("JOBS_QUEUE", "agentos-jobs-dev")
    return queue, os.environ.get("JOBS_DLQ", f"{queue}-dlq")


def region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


def dynamodb_endpoint() -> str | None:
    """Only the local stack and tests set it; on AWS botocore picks the endpoint."""
    return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None


def powertools() -> tuple[str, str, str]:
    """Powertools' metrics namespace, service name and log level (``POWERTOOLS_...``)."""
    env = os.environ
    return (env.get("POWERTOOLS_METRICS_NAMESPACE", "AgentOSJobs"), env.get("POWERTOOLS_SERVICE_NAME", "agentos-jobs"),
            env.get("POWERTOOLS_LOG_LEVEL", "INFO"))
