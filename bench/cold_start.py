"""Cold start: ``import app`` against ``import boto3``, and the size of the packaged zip.

``python -m bench.cold_start [--quick]`` prints one JSON document on stdout. Each
import is timed inside a fresh interpreter (``time.perf_counter`` around the import
statement), alternating the two modules; the medians are compared. ``-X importtime``
then says where ``import app`` spends its time, by top-level package (self time).

``import app`` only registers routes and handlers; each function loads its engine on
its first invocation. That cost is measured too (``first_call_s``): in a fresh
interpreter, ``import app`` and then what the API, the tick and the executor load and
build before their first AWS request (no network: Lambda-like env, fake credentials).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .env import ROOT, quick
from .stats import median

PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
ZIP_PATH = ROOT / "build" / "dev" / "deployment.zip"


def _env() -> dict[str, str]:
    """What a Lambda has: a region, no endpoint, the packaged config path unset."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "AGENTOS_"))}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "0"})
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
          "chalicelib.schedules", "chalicelib.schemas", "chalicelib.runtime", "chalicelib.jobs", "chalicelib.executor")
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


# What each function runs before its first AWS request: the handler's preamble and the
# runtime builders, then the clients its first requests use (built offline).
API_CLIENTS = ("from chalicelib.models import JobModel, RunModel; from chalicelib.dynamo import model_connection; "
               "JobModel._get_connection().connection.client; model_connection(JobModel).client; "
               "RunModel._get_connection().connection.client; runtime.queue().client")
TICK_CLIENTS = ("from chalicelib.models import JobModel; "
                "JobModel._get_connection().connection.client; runtime.queue().client")
PREAMBLE = "telemetry.configure_logging(); telemetry.invocation_started()"
FIRST_CALLS = {
    "api": ("runtime.config(); runtime.jobs()", API_CLIENTS),  # _authorize reads the config
    "tick": (f"{PREAMBLE}; runtime.dispatcher()", TICK_CLIENTS),
    "execute": (f"{PREAMBLE}; runtime.executor()", "pass"),  # Executor() builds its clients (warm_clients)
}
FIRST_CALL_PROBE = """import time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
from chalicelib import runtime, telemetry
{load}
t2 = time.perf_counter()
{clients}
t3 = time.perf_counter()
print("first-call", t1 - t0, t2 - t1, t3 - t2)"""


def _lambda_env(function: str) -> dict[str, str]:
    """:func:`_env` as a deployed function sees it: its name set, credentials in the environment
    (fake: nothing is sent), and no instance-metadata lookup."""
    return {**_env(), "AWS_LAMBDA_FUNCTION_NAME": f"agentos-jobs-dev-{function}", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing", "AWS_EC2_METADATA_DISABLED": "true"}


def time_first_call(function: str) -> tuple[float, float, float]:
    """(import app, load, clients) seconds of ``function``'s first invocation in a fresh interpreter."""
    load, clients = FIRST_CALLS[function]
    out = subprocess.run([sys.executable, "-c", FIRST_CALL_PROBE.format(load=load, clients=clients)], cwd=ROOT,
                         env=_lambda_env(function), capture_output=True, text=True, check=True)
    # The Lambda log formatter may print to stdout too: the figures are on the marked line.
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("first-call "))
    app_s, load_s, clients_s = (float(x) for x in line.split()[1:])
    return app_s, load_s, clients_s


def _medians(runs: dict[str, list[Any]], pick: Callable[[Any], float], scale: int = 1) -> dict[str, float]:
    """The median of ``pick(run)`` by function, times ``scale``."""
    return {f: round(scale * median([pick(r) for r in rs]), 3 if scale == 1 else 1) for f, rs in runs.items()}


def first_call_times(reps: int) -> dict[str, Any]:
    """Medians over ``reps`` runs per function (after one warm-up each): what its first call adds to
    ``import app`` (``first_call_s``), that split into imports/builders and AWS clients, and
    ``import app`` plus the first call (``first_invocation_s``)."""
    for function in FIRST_CALLS:
        time_first_call(function)
    runs: dict[str, list[tuple[float, float, float]]] = {f: [] for f in FIRST_CALLS}
    for _ in range(reps):
        for function in FIRST_CALLS:
            runs[function].append(time_first_call(function))
    load, clients = _medians(runs, lambda r: r[1], 1000), _medians(runs, lambda r: r[2], 1000)
    return {"first_call_s": _medians(runs, lambda r: r[1] + r[2]),
            "first_call_parts_ms": {f: {"load": load[f], "clients": clients[f]} for f in runs},
            "first_invocation_s": _medians(runs, sum)}


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
            "sdk_share": round(sdk / max(total, 1), 3),
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


def run(is_quick: bool) -> dict[str, Any]:
    """Import times, their breakdown, the first-call cost of each function and the package size."""
    result = import_times(7 if is_quick else 15)
    result.update(first_call_times(3 if is_quick else 7))
    result["app_breakdown_ms"] = import_breakdown()
    result["app_layers_ms"] = import_layers(3 if is_quick else 9)
    try:
        result["package"] = package_size()
    except (subprocess.SubprocessError, OSError) as exc:
        result["package"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return result


def main() -> int:
    """Entry point: JSON on stdout."""
    json.dump(run(quick()), sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
