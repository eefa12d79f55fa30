"""``python -m agentos_jobs``: agentOS Jobs from the terminal.

    export AGENTOS_URL=http://localhost:3000 AGENTOS_TOKEN=…   # the token only with security on
    python -m agentos_jobs jobs list --status active
    python -m agentos_jobs jobs create --name nightly --agent-id <uuid> --schedule "0 2 * * *" --payload '{}'
    python -m agentos_jobs runs list <job id> --json | jq '.[0].status'

Exit codes: 0 done; 1 the API refused (4xx/5xx, its message on stderr); 2 bad usage;
3 the API could not be reached.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from .client import ApiError, Client, Unreachable
from .tables import EVENT_COLUMNS, JOB_COLUMNS, RUN_COLUMNS, block, table

OK, API_ERROR, USAGE, UNREACHABLE = 0, 1, 2, 3
DEFAULT_URL = "http://localhost:3000"


class UsageError(Exception):
    """A command line that cannot be sent (bad JSON in a flag, …): exit 2."""


def _json_arg(text: str, flag: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: not valid JSON ({exc})") from None


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    """The job fields given as flags (create and update share them)."""
    body: dict[str, Any] = {}
    for flag, key in (("name", "name"), ("description", "description"), ("agent_id", "agentId"),
                      ("schedule", "schedule"), ("timezone", "timezone")):
        if getattr(args, flag, None) is not None:
            body[key] = getattr(args, flag)
    if getattr(args, "interval", None) is not None:
        body["interval"] = args.interval
    for flag, key in (("payload", "payload"), ("retry_policy", "retryPolicy")):
        if getattr(args, flag, None) is not None:
            body[key] = _json_arg(getattr(args, flag), f"--{flag.replace('_', '-')}")
    for pair in getattr(args, "set", None) or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {pair}: expected FIELD=VALUE, e.g. timeoutMs=60000 or overlap=queue")
        body[key] = _set_value(value)
    return body


def _set_value(text: str) -> Any:
    """A ``--set`` value: JSON when it is JSON (60000, true, null, {...}, "quoted"), else the
    text itself, so ``--set overlap=queue`` needs no shell-escaped JSON quotes."""
    try:
        return json.loads(text)
    except ValueError:
        return text


JOB_ID = re.compile(r"job-[0-9a-f]{16}")


def _job_path(job_id: str) -> str:
    from urllib.parse import quote

    return f"/jobs/{quote(job_id, safe='')}"


def _job_ref(client: Client, ref: str) -> str:
    """The path of the job ``ref`` names: a job id as it is, anything else as a job's name
    (``GET /api/jobs/by-name/{name}``)."""
    if JOB_ID.fullmatch(ref):
        return _job_path(ref)
    from urllib.parse import quote

    job = client.call("GET", f"/jobs/by-name/{quote(ref, safe='')}").data
    return _job_path(str(job["id"]))


def _run_path(run_id: str) -> str:
    from urllib.parse import quote

    return f"/runs/{quote(run_id, safe='')}"


# Each command: (client, args) -> (JSON result, text for people).
Result = tuple[Any, str]


def jobs_list(client: Client, args: argparse.Namespace) -> Result:
    """List jobs (one page, or every page with --all)."""
    query = {"status": args.status, "agentId": args.agent_id, "limit": args.limit}
    jobs = client.pages("/jobs", query, args.all)
    return jobs, table(jobs, JOB_COLUMNS) if jobs else "no job"


def jobs_get(client: Client, args: argparse.Namespace) -> Result:
    """One job."""
    job = client.call("GET", _job_ref(client, args.id)).data
    return job, block(job)


def jobs_create(client: Client, args: argparse.Namespace) -> Result:
    """Create a job from the flags."""
    body = _fields(args)
    body.setdefault("payload", {})
    job = client.call("POST", "/jobs", body).data
    return job, f"created {job['id']}\n{block(job)}"


def jobs_update(client: Client, args: argparse.Namespace) -> Result:
    """Change the fields given as flags."""
    body = _fields(args)
    if not body:
        raise UsageError("jobs update: give at least one field to change")
    job = client.call("PATCH", _job_ref(client, args.id), body).data
    return job, block(job)


def _set_status(status: str) -> Callable[[Client, argparse.Namespace], Result]:
    def change(client: Client, args: argparse.Namespace) -> Result:
        job = client.call("PATCH", _job_ref(client, args.id), {"status": status}).data
        return job, f"{job['id']} {job['status']}"
    change.__doc__ = f"Set a job's status to {status}."
    return change


def jobs_run(client: Client, args: argparse.Namespace) -> Result:
    """Run a job now, outside its schedule."""
    run = client.call("POST", f"{_job_ref(client, args.id)}/run").data
    return run, f"queued run {run['id']}"


def jobs_delete(client: Client, args: argparse.Namespace) -> Result:
    """Delete a job."""
    client.call("DELETE", _job_ref(client, args.id))
    return {"deleted": args.id}, f"deleted {args.id}"


def jobs_events(client: Client, args: argparse.Namespace) -> Result:
    """A job's history, newest first (a deleted job's too, by its id, for 30 days)."""
    found = client.pages(f"{_job_ref(client, args.id)}/events", {"limit": args.limit}, args.all)
    return found, table(found, EVENT_COLUMNS) if found else "no event"


def runs_list(client: Client, args: argparse.Namespace) -> Result:
    """A job's runs, newest first."""
    runs = client.pages(f"{_job_ref(client, args.job_id)}/runs", {"limit": args.limit}, args.all)
    return runs, table(runs, RUN_COLUMNS) if runs else "no run"


def runs_get(client: Client, args: argparse.Namespace) -> Result:
    """One run."""
    run = client.call("GET", _run_path(args.id)).data
    return run, block(run)


def runs_cancel(client: Client, args: argparse.Namespace) -> Result:
    """Cancel a run."""
    run = client.call("POST", f"{_run_path(args.id)}/cancel").data
    return run, f"cancel requested for {run['id']}: {run['status']}"


def preview(client: Client, args: argparse.Namespace) -> Result:
    """The next start times of a schedule or interval."""
    body: dict[str, Any] = {"count": args.count}
    if args.schedule is not None:
        body["schedule"] = args.schedule
    if args.interval is not None:
        body["interval"] = args.interval
    if args.timezone is not None:
        body["timezone"] = args.timezone
    answer = client.call("POST", "/schedules/preview", body).data
    return answer, "\n".join(answer["next"]) or "no start time"


def _job_flags(parser: argparse.ArgumentParser, creating: bool) -> None:
    parser.add_argument("--name", required=creating)
    parser.add_argument("--agent-id", required=creating, help="the agent's UUID")
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument("--schedule", help="cron (5 fields or @daily) or an ISO-8601 date-time")
    timing.add_argument("--interval", type=int, help="milliseconds between runs")
    parser.add_argument("--timezone", help="IANA name (UTC by default)")
    parser.add_argument("--description")
    parser.add_argument("--payload", help="JSON object passed to the agent ({} by default)")
    parser.add_argument("--retry-policy", help="JSON object, e.g. '{\"maxAttempts\": 3}'")
    parser.add_argument("--set", action="append", metavar="FIELD=VALUE",
                        help="any other job field: JSON, or plain text for a string, e.g. --set timeoutMs=60000 "
                             "--set overlap=queue")


def _global_flags(parser: argparse.ArgumentParser, default: Any = None) -> argparse.ArgumentParser:
    parser.add_argument("--url", default=default, help="the API (default: $AGENTOS_URL or http://localhost:3000)")
    parser.add_argument("--token", default=default, help="bearer token (default: $AGENTOS_TOKEN)")
    parser.add_argument("--json", action="store_true", default=default or False,
                        help="print the API's JSON (for scripts)")
    return parser


# The global flags are accepted after the subcommand too (`jobs list --json`): each command
# parser repeats them with SUPPRESS defaults, so one given before the subcommand is kept.
_COMMON = _global_flags(argparse.ArgumentParser(add_help=False), argparse.SUPPRESS)


def _command(verbs: Any, name: str, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = verbs.add_parser(name, help=text, parents=[_COMMON])
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="python -m agentos_jobs", description=__doc__.split("\n\n")[0],
                                     epilog="AGENTOS_URL (default http://localhost:3000) and AGENTOS_TOKEN "
                                            "name the API. Exit codes: 0 ok, 1 API error, 2 usage, 3 unreachable.")
    _global_flags(parser)
    nouns = parser.add_subparsers(dest="noun", required=True, metavar="{jobs,runs,preview}")

    jobs = _command(nouns, "jobs", "list, read, create, change, run and delete jobs")
    verbs = jobs.add_subparsers(dest="verb", required=True)
    listing = _command(verbs, "list", "list jobs")
    listing.add_argument("--status", choices=["active", "paused", "completed", "failed"])
    listing.add_argument("--agent-id")
    listing.add_argument("--limit", type=int)
    listing.add_argument("--all", action="store_true", help="follow every page")
    listing.set_defaults(handler=jobs_list)
    for verb, handler, text in (("get", jobs_get, "show a job"), ("pause", _set_status("paused"), "pause a job"),
                                ("resume", _set_status("active"), "resume a job"),
                                ("run", jobs_run, "run a job now"), ("delete", jobs_delete, "delete a job")):
        command = _command(verbs, verb, text)
        command.add_argument("id", help="job id or name")
        command.set_defaults(handler=handler)
    create = _command(verbs, "create", "create a job")
    _job_flags(create, creating=True)
    create.set_defaults(handler=jobs_create)
    history = _command(verbs, "events", "a job's history: every change and system action, newest first")
    history.add_argument("id", help="job id or name")
    history.add_argument("--limit", type=int)
    history.add_argument("--all", action="store_true", help="follow every page")
    history.set_defaults(handler=jobs_events)
    update = _command(verbs, "update", "change some fields of a job")
    update.add_argument("id", help="job id or name")
    _job_flags(update, creating=False)
    update.set_defaults(handler=jobs_update)

    runs = _command(nouns, "runs", "list, read and cancel runs")
    run_verbs = runs.add_subparsers(dest="verb", required=True)
    run_list = _command(run_verbs, "list", "a job's runs, newest first")
    run_list.add_argument("job_id", help="job id or name")
    run_list.add_argument("--limit", type=int)
    run_list.add_argument("--all", action="store_true", help="follow every page")
    run_list.set_defaults(handler=runs_list)
    for verb, handler, text in (("get", runs_get, "show a run"), ("cancel", runs_cancel, "cancel a run")):
        command = _command(run_verbs, verb, text)
        command.add_argument("id", help="run id")
        command.set_defaults(handler=handler)

    ahead = _command(nouns, "preview", "next start times of a schedule or interval")
    timing = ahead.add_mutually_exclusive_group(required=True)
    timing.add_argument("--schedule")
    timing.add_argument("--interval", type=int)
    ahead.add_argument("--timezone")
    ahead.add_argument("--count", type=int, default=5)
    ahead.set_defaults(handler=preview)
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None,
         env: Mapping[str, str] | None = None) -> int:
    """Run one command; returns the exit code."""
    out, err, env = out or sys.stdout, err or sys.stderr, os.environ if env is None else env
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage
        return int(exc.code or 0) and USAGE
    client = Client(args.url or env.get("AGENTOS_URL") or DEFAULT_URL, args.token or env.get("AGENTOS_TOKEN"))
    try:
        result, text = args.handler(client, args)
    except UsageError as exc:
        print(f"error: {exc}", file=err)
        return USAGE
    except ApiError as exc:
        print(f"error: {exc}", file=err)
        if exc.status == 401:
            print("hint: set AGENTOS_TOKEN (or --token) to one of the API's tokens", file=err)
        return API_ERROR
    except Unreachable as exc:
        print(f"error: {exc}", file=err)
        return UNREACHABLE
    return _print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else text, out)


def _print(text: str, out: TextIO) -> int:
    """Print the result; a reader that went away (``| head``) is not an error."""
    try:
        print(text, file=out)
        out.flush()
    except BrokenPipeError:
        # Python would print a traceback when it flushes stdout at exit: point stdout at
        # /dev/null first (the recipe of Python's signal documentation).
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return OK
