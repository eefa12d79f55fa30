"""Cold start: ``import app`` against ``import boto3``, and the size of the packaged zip.

``python -m bench.cold_start [--quick]`` prints one JSON document on stdout. Each
import is timed inside a fresh interpreter (``time.perf_counter`` around the import
statement), alternating the two modules; the medians are compared. ``-X importtime``
then says where ``import app`` spends its time, by top-level package (self time).

``import app`` only registers routes and handlers; each function loads its engine on
its first invocation. That cost is measured too (``first_call_s``): in a fresh
interpreter, ``import app`` and then the first invocation of the API (a job list, and
``api_create``: a first request that takes a job, read without pydantic when plainly valid),
the tick and the executor (no network: Lambda-like env, fake credentials).

``--merge``: merge the figures into bench/results.json (the last full run) and re-render
docs/benchmarks.md, as the sections measured alone do (bench/alone.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from .env import ROOT, quick
from .stats import median

PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
ZIP_PATH = ROOT / "build" / "dev" / "deployment.zip"


def _env() -> dict[str, str]:
    """What a Lambda has: a region, no endpoint, the packaged config path unset."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "AGENTOS_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # any value disables .pyc files, "0" too
    env.update({"AWS_DEFAULT_REGION": "us-east-1"})
    return env


def time_import(module: str) -> tuple[float, float]:
    """(import seconds, whole process seconds) of ``import module`` in a fresh interpreter."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def import_times(reps: int) -> dict[str, Any]:
    """Medians over ``reps`` alternating runs (one warm-up run each first: .pyc files, disk cache)."""
    for module in ("boto3", "app"):
        time_import(module)
    runs: dict[str, list[tuple[float, float]]] = {"app": [], "boto3": []}
    for _ in range(reps):
        for module in runs:
            runs[module].append(time_import(module))
    app_s = median([r[0] for r in runs["app"]])
    boto3_s = median([r[0] for r in runs["boto3"]])
    best = min(r[0] for r in runs["app"]) / min(r[0] for r in runs["boto3"])
    return {"reps": reps, "app_s": round(app_s, 3), "boto3_s": round(boto3_s, 3),
            "ratio": round(app_s / boto3_s, 2), "ratio_of_fastest": round(best, 2),
            "app_process_s": round(median([r[1] for r in runs["app"]]), 3),
            "boto3_process_s": round(median([r[1] for r in runs["boto3"]]), 3),
            "app_runs_s": [round(r[0], 3) for r in runs["app"]],
            "boto3_runs_s": [round(r[0], 3) for r in runs["boto3"]]}


# ``chalice`` and ``app`` first: what ``import app`` costs; then what the first calls add on top.
LAYERS = ("chalice", "app", "boto3", "pynamodb.models", "pydantic", "croniter", "chalicelib.config",
          "chalicelib.schedules", "chalicelib.api.schemas", "chalicelib.runtime", "chalicelib.api.jobs",
          "chalicelib.engine.executor")
LAYER_PROBE = """import time
marks = [time.perf_counter()]
for name in {layers!r}:
    __import__(name)
    marks.append(time.perf_counter())
print(' '.join(str(b - a) for a, b in zip(marks, marks[1:])))"""


def import_layers(reps: int) -> dict[str, float]:
    """What each layer adds on top of the previous ones, in that order (median ms of ``reps``)."""
    runs: list[list[float]] = []
    for _ in range(reps):
        out = subprocess.run([sys.executable, "-c", LAYER_PROBE.format(layers=LAYERS)], cwd=ROOT, env=_env(),
                             capture_output=True, text=True, check=True)
        runs.append([float(x) for x in out.stdout.split()])
    return {name: round(1000 * median([r[i] for r in runs]), 1) for i, name in enumerate(LAYERS)}


# Each function's first invocation, as Lambda makes it: its handler called with a real event.
# Nothing leaves the process: botocore's HTTP send is replaced by canned, empty answers (the
# job list and the tick find nothing; the executor claims its record, finds no job, and skips).
STUB = """import json as _json
import botocore.endpoint
from botocore.awsrequest import AWSResponse
class _Raw:
    def __init__(self, body): self.body = body
    def stream(self, *a, **k): yield self.body
_CANNED = {"GetQueueUrl": {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q"},
           "SendMessageBatch": {"Successful": [], "Failed": []}, "Query": {"Items": [], "Count": 0, "ScannedCount": 0}}
def _send(self, request):
    target = request.headers.get("X-Amz-Target", b"")
    op = (target.decode() if isinstance(target, bytes) else target).split(".")[-1]
    answer = _CANNED.get(op, {})
    if op == "BatchGetItem":
        answer = {"Responses": {t: [] for t in _json.loads(request.body)["RequestItems"]}, "UnprocessedKeys": {}}
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, 200, headers, _Raw(_json.dumps(answer).encode()))
botocore.endpoint.Endpoint._send = _send"""
_CONTEXT: dict[str, Any] = {"resourcePath": "/api/jobs", "httpMethod": "GET", "stage": "api", "path": "/api/jobs",
                            "requestId": "r", "identity": {"sourceIp": "127.0.0.1"}}
_API_EVENT: dict[str, Any] = {"resource": "/api/jobs", "path": "/api/jobs", "httpMethod": "GET",
              "headers": {"authorization": "Bearer tok"}, "multiValueHeaders": None,
              "queryStringParameters": None, "multiValueQueryStringParameters": None,
              "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
              "requestContext": _CONTEXT}
# The API's first request that takes a job (POST /api/jobs): the one that loads pydantic's models.
_JOB = ('{"name":"n","agentId":"550e8400-e29b-41d4-a716-446655440000","schedule":"0 */4 * * *",'
        '"payload":{"a":1}}')
_API_CREATE_EVENT = {**_API_EVENT, "httpMethod": "POST", "body": _JOB,
                     "headers": {"authorization": "Bearer tok", "content-type": "application/json"},
                     "requestContext": {**_CONTEXT, "httpMethod": "POST"}}
# The MCP server's first request (POST /api/mcp, tools/list): one more route of the API's function.
_MCP_LIST = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
_API_MCP_EVENT = {**_API_EVENT, "resource": "/api/mcp", "path": "/api/mcp", "httpMethod": "POST", "body": _MCP_LIST,
                  "headers": {"authorization": "Bearer tok", "content-type": "application/json"},
                  "requestContext": {**_CONTEXT, "resourcePath": "/api/mcp", "path": "/api/mcp", "httpMethod": "POST"}}
_TICK_EVENT = {"version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1",
               "time": "2030-01-01T00:00:00Z", "region": "us-east-1",
               "resources": ["arn:aws:events:us-east-1:1:rule/t"], "detail": {}}
_BODY = ('{"jobId":"job-0123456789abcdef","runId":"run-1893456000000-0123456789abcdef","scheduledAt":1893456000000,'
         '"trigger":"schedule","generation":1,"attempt":1,"notBefore":0}')
_SQS_EVENT = {"Records": [{"messageId": "m1", "receiptHandle": "r", "body": _BODY, "attributes": {},
                           "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                           "eventSourceARN": "arn:aws:sqs:us-east-1:1:agentos-jobs-dev", "awsRegion": "us-east-1"}]}
FIRST_CALLS = {
    "api": f"answer = app.app({_API_EVENT!r}, None); assert answer['statusCode'] == 200, answer",
    "api_create": f"answer = app.app({_API_CREATE_EVENT!r}, None); assert answer['statusCode'] == 201, answer",
    "api_mcp": f"answer = app.app({_API_MCP_EVENT!r}, None); assert answer['statusCode'] == 200, answer; "
               "assert len(__import__('json').loads(answer['body'])['result']['tools']) == 13, answer",
    "tick": f"from chalicelib import handlers; handlers.tick({_TICK_EVENT!r}, None)",
    "execute": f"from chalicelib import handlers; assert handlers.execute({_SQS_EVENT!r}, None) == "
               "{'batchItemFailures': []}",
}
FIRST_CALL_PROBE = """import time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
{stub}
{invoke}
t2 = time.perf_counter()
print("first-call", t1 - t0, t2 - t1)"""


def _lambda_env(function: str) -> dict[str, str]:
    """:func:`_env` as a deployed function sees it: its name set, credentials in the environment
    (fake: nothing is sent), no instance-metadata lookup, an API token from the environment."""
    name = function.split("_")[0]  # api_create is the API function too
    return {**_env(), "AWS_LAMBDA_FUNCTION_NAME": f"agentos-jobs-dev-{name}", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing", "AWS_EC2_METADATA_DISABLED": "true",
            "AGENTOS_API_TOKENS": "tok"}


def time_first_call(function: str, pyc: bool = True) -> tuple[float, float]:
    """(import app, first invocation) seconds of ``function`` in a fresh interpreter; ``pyc=False``:
    with no .pyc file anywhere (what a zip without them costs on Lambda's read-only disk)."""
    code = FIRST_CALL_PROBE.format(stub=STUB, invoke=FIRST_CALLS[function])
    env = _lambda_env(function)
    with tempfile.TemporaryDirectory(prefix="agentos-nopyc-") as empty:
        if not pyc:  # .pyc files are looked for (and not written: -B) in an empty directory only
            env["PYTHONPYCACHEPREFIX"] = empty
        out = subprocess.run([sys.executable, *([] if pyc else ["-B"]), "-c", code], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
    # The Lambda log formatter prints to stdout too: the figures are on the marked line.
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("first-call "))
    app_s, call_s = (float(x) for x in line.split()[1:])
    return app_s, call_s


def first_call_times(reps: int) -> dict[str, Any]:
    """Medians over ``reps`` rounds (after one warm-up each), side by side in each round with
    ``import boto3``: what each function's first invocation adds to ``import app``
    (``first_call_s``), ``import app`` plus it (``first_invocation_s``), and that over
    ``import boto3`` (``first_invocation_ratio``)."""
    for function in FIRST_CALLS:
        time_first_call(function)
    runs: dict[str, list[tuple[float, float]]] = {f: [] for f in FIRST_CALLS}
    boto3_runs = []
    for _ in range(reps):
        boto3_runs.append(time_import("boto3")[0])
        for function in FIRST_CALLS:
            runs[function].append(time_first_call(function))
    boto3_s = median(boto3_runs)
    no_pyc = {f: round(sum(time_first_call(f, pyc=False)), 3) for f in FIRST_CALLS}
    whole = {f: median([a + b for a, b in rs]) for f, rs in runs.items()}
    # `import boto3` alone moves 0.24-0.39 s from one fresh interpreter to the next: the ratio of
    # each round (taken side by side) is shown too, its median next to the ratio of the medians.
    paired = {f: median([(a + b) / t for (a, b), t in zip(rs, boto3_runs, strict=True)]) for f, rs in runs.items()}
    return {"first_call_s": {f: round(median([b for _, b in rs]), 3) for f, rs in runs.items()},
            "first_invocation_s": {f: round(v, 3) for f, v in whole.items()},
            "first_invocation_boto3_s": round(boto3_s, 3),
            "first_invocation_boto3_runs_s": [round(t, 3) for t in boto3_runs],
            "first_invocation_ratio": {f: round(v / boto3_s, 2) for f, v in whole.items()},
            "first_invocation_ratio_per_round": {f: round(v, 2) for f, v in paired.items()},
            "first_invocation_without_pyc_s": no_pyc}


def import_breakdown(top: int = 10) -> dict[str, float]:
    """Self import time of ``import app`` by top-level package, in ms, largest first."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, check=True)
    totals: Counter[str] = Counter()
    for line in out.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        totals[parts[2].strip().split(".")[0]] += int(parts[0])  # microseconds
    return {name: round(us / 1000, 1) for name, us in totals.most_common(top)}


def _has_package_target() -> bool:
    """Whether the Makefile has a ``package`` target (another engineer's)."""
    makefile = ROOT / "Makefile"
    return makefile.exists() and any(line.startswith("package:") for line in makefile.read_text().splitlines())


def _chalice_package(out_dir: Path) -> Path:
    """``chalice package --stage dev`` into ``out_dir``; the zip it wrote."""
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run([str(chalice), "package", "--stage", "dev", str(out_dir)], cwd=ROOT, env=_env(),
                   capture_output=True, text=True, check=True, timeout=600)
    return out_dir / "deployment.zip"


def zip_figures(path: Path, how: str) -> dict[str, Any]:
    """Size of the zip and what fills it (compressed KiB by top-level entry)."""
    sizes: Counter = Counter()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            sizes[info.filename.split("/")[0].split("-")[0]] += info.compress_size
    total = path.stat().st_size
    sdk = sizes["botocore"] + sizes["boto3"] + sizes["s3transfer"]
    return {"how": how, "bytes": total, "mib": round(total / 2**20, 2),
            "sdk_share": round(sdk / max(total, 1), 3), "mib_without_sdk": round((total - sdk) / 2**20, 2),
            "largest_kib": {k: round(v / 1024) for k, v in sizes.most_common(8)}}


def _make_package() -> None:
    """What ``make package`` does first (``python -m infra.package dev``; cfn-lint is skipped)."""
    subprocess.run([sys.executable, "-m", "infra.package", "dev"], cwd=ROOT, env=_env(), capture_output=True,
                   text=True, check=True, timeout=600)


def package_size() -> dict[str, Any]:
    """The deployment zip: ``build/dev/deployment.zip`` freshly built by ``make package``'s
    packager where the Makefile has that target, else ``chalice package`` into a temporary dir."""
    started = time.perf_counter()
    if _has_package_target():
        try:
            _make_package()
            figures = zip_figures(ZIP_PATH, "build/dev/deployment.zip (make package: python -m infra.package dev)")
            figures["package_s"] = round(time.perf_counter() - started, 1)
            return figures
        except (subprocess.SubprocessError, OSError):
            pass  # the packager is someone else's and may be mid-change: fall back to chalice
    with tempfile.TemporaryDirectory(prefix="agentos-bench-pkg-") as tmp:
        path = _chalice_package(Path(tmp))
        figures = zip_figures(path, "chalice package --stage dev (tmp dir)")
        figures["package_s"] = round(time.perf_counter() - started, 1)
        return figures


def compile_sources() -> None:
    """Byte-compile the app as the package ships it (a read-only Lambda cannot write .pyc files:
    without them every cold start compiles every module it imports)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "app.py", "chalicelib"], cwd=ROOT,
                   env=_env(), capture_output=True, check=True)


def run(is_quick: bool) -> dict[str, Any]:
    """Import times, their breakdown, the first-call cost of each function and the package size."""
    compile_sources()
    result = import_times(7 if is_quick else 15)
    result.update(first_call_times(3 if is_quick else 15))
    result["app_breakdown_ms"] = import_breakdown()
    result["app_layers_ms"] = import_layers(3 if is_quick else 9)
    try:
        result["package"] = package_size()
    except (subprocess.SubprocessError, OSError) as exc:
        result["package"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return result


def main() -> int:
    """Entry point: JSON on stdout (``--merge``: into bench/results.json and the docs too)."""
    result = run(quick())
    if "--merge" in sys.argv[1:]:
        from .alone import merge_results

        merge_results("cold_start", result)
    json.dump(result, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
