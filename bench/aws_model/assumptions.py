"""Every figure the model assumes about AWS, with its source: one table, rendered into the docs.

Figures measured on this machine (the local stack's capacity, the cold start, calls per
occurrence) are not here: they are read from bench/results.json of the same run
(:mod:`.profile`). Prices are us-east-1 list prices (free tiers ignored): check them before
quoting. Latencies are lognormal, given by median and p99.

======================  ====================  ======================================================================
figure                  value                 what it is (source)
======================  ====================  ======================================================================
std_initial_batches     5 batches             standard mode: concurrent batches when messages appear (SCALING)
std_per_min             300 instances/min     standard mode: added while messages remain (SCALING)
std_max_batches         1000 batches          standard mode: most batches at once (1,250 on newer pages) (SCALING)
prov_per_min            1000 concurrency/min  provisioned mode: scaling ("3x faster") (PROVISIONED_BLOG)
poller_invokes          10 invokes            provisioned mode: concurrent invokes per event poller (PARAMETERS)
min_pollers_cap         200 pollers           provisioned mode: highest MinimumPollers (POLLER_API)
max_pollers_cap         2000 pollers          provisioned mode: highest MaximumPollers (CloudFormation's; the API
                                              now takes 10,000 for SQS) (PARAMETERS)
fixed_min_pollers       10 pollers            provisioned baseline: a fixed minimum sized for the steady load (100
                                              invokes) (ASSUMED)
update_apply_ms         60000 ms              a new MinimumPollers is in force this long after
                                              UpdateEventSourceMapping (ASSUMED)
account_concurrency     1000 invocations      account concurrency limit (default quota) (LAMBDA_QUOTAS)
other_concurrency       10 invocations        the API and tick functions' share of it at hh:00 (ASSUMED)
memory_mb               512 MB                executor memory (.chalice/config.json) (.chalice/config.json)
vcpu_mb                 1769 MB               memory that buys one full vCPU (CPU share scales with memory)
                                              (LAMBDA_MEMORY)
sandbox_ms              150 ms                cold start outside the code: sandbox and runtime start (ASSUMED)
warm_after_quiet_hour   0 environments        warm executor environments after an idle hour (ASSUMED (idle
                                              environments are reclaimed within minutes to hours))
esm_invoke_median_ms    30 ms                 event source: message visible to invocation started (median) (ASSUMED)
esm_invoke_p99_ms       200 ms                the same, p99 (ASSUMED)
sqs_delay_jitter_ms     50 ms                 a delayed message becomes visible up to this late (uniform) (ASSUMED;
                                              moto: 2 s delay seen after ~2.01 s (MEASURED.md))
ddb_read_median_ms      5 ms                  BatchGetItem of up to 10 items, strongly consistent (median)
                                              (DDB_LATENCY)
ddb_read_p99_ms         20 ms                 the same, p99 (ASSUMED)
ddb_txn_median_ms       12 ms                 TransactWriteItems (claims of a batch, or an outcome) (median)
                                              (DDB_LATENCY; transactions do 2 writes per item)
ddb_txn_p99_ms          40 ms                 the same, p99 (ASSUMED)
ddb_query_page_ms       15 ms                 one due-index Query page (1 MB) (DDB_LATENCY)
sqs_call_median_ms      10 ms                 SendMessageBatch / DeleteMessageBatch (median) (ASSUMED)
sqs_call_p99_ms         40 ms                 the same, p99 (ASSUMED)
delivery_median_ms      60 ms                 executor to agent: request received (new TLS connection, same region)
                                              (median) (ASSUMED)
delivery_p99_ms         250 ms                the same, p99 (ASSUMED)
agent_answer_median_ms  200 ms                the agent's answer after it received the request (median) (ASSUMED)
agent_answer_p99_ms     1500 ms               the same, p99 (ASSUMED)
partition_wcu           1000 WCU/s            writes per second to one partition key value (a due shard)
                                              (DDB_PARTITIONS)
new_table_wcu           4000 WCU/s            on-demand: what a new table takes at once (DDB_ON_DEMAND)
peak_factor             2 x                   on-demand: takes up to twice the previous peak at once (DDB_ON_DEMAND)
table_wcu_quota         40000 WCU/s           on-demand: per-table write throughput quota (default) (DDB_QUOTAS)
table_rcu_quota         40000 RCU/s           on-demand: per-table read throughput quota (default) (DDB_QUOTAS)
throttle_retry_ms       50 ms                 a throttled call's SDK backoff before it is tried again (ASSUMED)
price_lambda_request    2e-07 USD             Lambda, per request (LAMBDA_PRICING)
price_lambda_gb_s       1.66667e-05 USD       Lambda x86, per GB-second (LAMBDA_PRICING)
price_epu_hour          0.185 USD             provisioned mode: per event poller unit hour (one poller = one EPU
                                              assumed; check) (LAMBDA_PRICING)
price_sqs_request       4e-07 USD             SQS standard, per request (64 KB chunk) (SQS_PRICING)
price_wru               6.25e-07 USD          DynamoDB on-demand, per write request unit (DDB_PRICING)
price_rru               1.25e-07 USD          DynamoDB on-demand, per read request unit (DDB_PRICING)
======================  ====================  ======================================================================

A source in capitals is one of the URL constants below (SCALING: Lambda's "Configuring scaling
behavior for SQS event source mappings"; PARAMETERS: its SQS parameters page; POLLER_API: the
ProvisionedPollerConfig API reference; PROVISIONED_BLOG: the launch post of SQS provisioned mode;
LAMBDA_QUOTAS, LAMBDA_MEMORY, LAMBDA_PRICING, SQS_PRICING, DDB_*: AWS's pages of those names);
ASSUMED marks a figure no AWS page gives. tests/test_aws_model.py keeps this table and TABLE alike.
"""
from __future__ import annotations

from typing import NamedTuple

SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"
PARAMETERS = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html"
POLLER_API = "https://docs.aws.amazon.com/lambda/latest/api/API_ProvisionedPollerConfig.html"
PROVISIONED_BLOG = ("https://aws.amazon.com/blogs/aws/aws-lambda-enhances-sqs-processing-with-new-"
                    "provisioned-mode-3x-faster-scaling-16x-higher-capacity")
LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_MEMORY = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html"
LAMBDA_PRICING = "https://aws.amazon.com/lambda/pricing/"
SQS_PRICING = "https://aws.amazon.com/sqs/pricing/"
DDB_PRICING = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
DDB_ON_DEMAND = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html"
DDB_PARTITIONS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
DDB_QUOTAS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"
DDB_LATENCY = "https://aws.amazon.com/dynamodb/ (\"single-digit millisecond performance at any scale\")"
ASSUMED = "assumed (no published figure): a round value, stated so it can be replaced by a measurement"


class Assumption(NamedTuple):
    """One figure the model takes as given."""

    key: str
    value: float
    unit: str
    what: str
    source: str


TABLE: tuple[Assumption, ...] = (
    Assumption("std_initial_batches", 5, "batches", "standard mode: concurrent batches when messages appear", SCALING),
    Assumption("std_per_min", 300, "instances/min", "standard mode: added while messages remain", SCALING),
    Assumption("std_max_batches", 1000, "batches", "standard mode: most batches at once (1,250 on newer pages)",
               SCALING),
    Assumption("prov_per_min", 1000, "concurrency/min", "provisioned mode: scaling (\"3x faster\")", PROVISIONED_BLOG),
    Assumption("poller_invokes", 10, "invokes", "provisioned mode: concurrent invokes per event poller", PARAMETERS),
    Assumption("min_pollers_cap", 200, "pollers", "provisioned mode: highest MinimumPollers", POLLER_API),
    Assumption("max_pollers_cap", 2000, "pollers",
               "provisioned mode: highest MaximumPollers (CloudFormation's; the API now takes 10,000 for SQS)",
               PARAMETERS),
    Assumption("fixed_min_pollers", 10, "pollers", "provisioned baseline: a fixed minimum sized for the steady "
               "load (100 invokes)", ASSUMED),
    Assumption("update_apply_ms", 60000, "ms", "a new MinimumPollers is in force this long after "
               "UpdateEventSourceMapping", ASSUMED),
    Assumption("account_concurrency", 1000, "invocations", "account concurrency limit (default quota)",
               LAMBDA_QUOTAS),
    Assumption("other_concurrency", 10, "invocations", "the API and tick functions' share of it at hh:00", ASSUMED),
    Assumption("memory_mb", 512, "MB", "executor memory (.chalice/config.json)", ".chalice/config.json"),
    Assumption("vcpu_mb", 1769, "MB", "memory that buys one full vCPU (CPU share scales with memory)",
               LAMBDA_MEMORY),
    Assumption("sandbox_ms", 150, "ms", "cold start outside the code: sandbox and runtime start", ASSUMED),
    Assumption("warm_after_quiet_hour", 0, "environments", "warm executor environments after an idle hour",
               ASSUMED + " (idle environments are reclaimed within minutes to hours)"),
    Assumption("esm_invoke_median_ms", 30, "ms", "event source: message visible to invocation started (median)",
               ASSUMED),
    Assumption("esm_invoke_p99_ms", 200, "ms", "the same, p99", ASSUMED),
    Assumption("sqs_delay_jitter_ms", 50, "ms", "a delayed message becomes visible up to this late (uniform)",
               ASSUMED + "; moto: 2 s delay seen after ~2.01 s (MEASURED.md)"),
    Assumption("ddb_read_median_ms", 5, "ms", "BatchGetItem of up to 10 items, strongly consistent (median)",
               DDB_LATENCY),
    Assumption("ddb_read_p99_ms", 20, "ms", "the same, p99", ASSUMED),
    Assumption("ddb_txn_median_ms", 12, "ms", "TransactWriteItems (claims of a batch, or an outcome) (median)",
               DDB_LATENCY + "; transactions do 2 writes per item"),
    Assumption("ddb_txn_p99_ms", 40, "ms", "the same, p99", ASSUMED),
    Assumption("ddb_query_page_ms", 15, "ms", "one due-index Query page (1 MB)", DDB_LATENCY),
    Assumption("sqs_call_median_ms", 10, "ms", "SendMessageBatch / DeleteMessageBatch (median)", ASSUMED),
    Assumption("sqs_call_p99_ms", 40, "ms", "the same, p99", ASSUMED),
    Assumption("delivery_median_ms", 60, "ms", "executor to agent: request received (new TLS connection, same "
               "region) (median)", ASSUMED),
    Assumption("delivery_p99_ms", 250, "ms", "the same, p99", ASSUMED),
    Assumption("agent_answer_median_ms", 200, "ms", "the agent's answer after it received the request (median)",
               ASSUMED),
    Assumption("agent_answer_p99_ms", 1500, "ms", "the same, p99", ASSUMED),
    Assumption("partition_wcu", 1000, "WCU/s", "writes per second to one partition key value (a due shard)",
               DDB_PARTITIONS),
    Assumption("new_table_wcu", 4000, "WCU/s", "on-demand: what a new table takes at once", DDB_ON_DEMAND),
    Assumption("peak_factor", 2, "x", "on-demand: takes up to twice the previous peak at once", DDB_ON_DEMAND),
    Assumption("table_wcu_quota", 40000, "WCU/s", "on-demand: per-table write throughput quota (default)",
               DDB_QUOTAS),
    Assumption("table_rcu_quota", 40000, "RCU/s", "on-demand: per-table read throughput quota (default)",
               DDB_QUOTAS),
    Assumption("throttle_retry_ms", 50, "ms", "a throttled call's SDK backoff before it is tried again", ASSUMED),
    Assumption("price_lambda_request", 0.20e-6, "USD", "Lambda, per request", LAMBDA_PRICING),
    Assumption("price_lambda_gb_s", 0.0000166667, "USD", "Lambda x86, per GB-second", LAMBDA_PRICING),
    Assumption("price_epu_hour", 0.185, "USD", "provisioned mode: per event poller unit hour (one poller = one "
               "EPU assumed; check)", LAMBDA_PRICING),
    Assumption("price_sqs_request", 0.40e-6, "USD", "SQS standard, per request (64 KB chunk)", SQS_PRICING),
    Assumption("price_wru", 0.625e-6, "USD", "DynamoDB on-demand, per write request unit", DDB_PRICING),
    Assumption("price_rru", 0.125e-6, "USD", "DynamoDB on-demand, per read request unit", DDB_PRICING),
)

A: dict[str, float] = {a.key: a.value for a in TABLE}


def rows() -> list[tuple[str, str, str, str]]:
    """The table as rows (figure, value with unit, meaning, source) for the docs."""
    return [(a.key, f"{a.value:g} {a.unit}", a.what, a.source) for a in TABLE]
