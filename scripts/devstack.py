"""``make run``: the whole agentOS Jobs system on one machine, on an embedded AWS.

    python -m scripts.devstack --port 3000 [--aws-port N] [--state-dir .local] [--tick-seconds 60]

This process, and one child for the embedded AWS (it dies with this process, so Ctrl-C
cannot leave an orphan behind):

- moto's server on 127.0.0.1 (DynamoDB, SQS, CloudFormation) in its own process
  (``scripts.aws_server``: a core for moto), provisioned by ``infra.provision`` from the
  very template the deployment uses;
- the API on ``http://localhost:PORT/api``, served by ``chalice local``'s server;
- the tick function every 60 s (first one at start-up), as EventBridge would call it;
- a few SQS pollers calling the execute function, as Lambda's event source would;
- snapshots of the state under ``--state-dir`` every 30 s and at shutdown, restored at
  start-up before the first tick.

See docs/local.md.
"""
from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from scripts.local_aws import EmbeddedAws, choose_aws_port, point_aws_at, port_is_free
from scripts.local_workers import CONCURRENCY

log = logging.getLogger("agentos.local")

QUIET_LOGGERS = ("werkzeug", "botocore", "boto3", "urllib3", "pynamodb", "moto", "s3transfer")
DRAIN_TIMEOUT_S = 20.0  # longest wait for runs in progress at shutdown (hold + a delivery)


@dataclass(frozen=True)
class Options:
    """The command line."""

    port: int
    host: str
    aws_port: int | None
    state_dir: Path
    tick_seconds: float
    snapshot_seconds: float
    pollers: int
    concurrency: int
    region: str


def parse_args(argv: list[str] | None) -> Options:
    """Read the flags (``PORT`` and ``AGENTOS_TICK_SECONDS`` give defaults)."""
    parser = argparse.ArgumentParser(prog="python -m scripts.devstack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000), help="API port (3000)")
    parser.add_argument("--host", default="127.0.0.1", help="API bind address (127.0.0.1)")
    parser.add_argument("--aws-port", type=int, default=None, help="embedded AWS port (4566, else any free one)")
    parser.add_argument("--state-dir", type=Path, default=Path(".local"), help="snapshot directory (.local)")
    parser.add_argument("--tick-seconds", type=float, default=float(os.environ.get("AGENTOS_TICK_SECONDS") or 60),
                        help="tick period; keep 60 (as deployed) outside tests of the tick itself")
    parser.add_argument("--snapshot-seconds", type=float, default=30.0, help="periodic snapshot period (30)")
    parser.add_argument("--pollers", type=int, default=4, help="SQS poller threads (4)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY,
                        help=f"batches executing at once, like a function's concurrency ({CONCURRENCY})")
    args = parser.parse_args(argv)
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    return Options(args.port, args.host, args.aws_port, args.state_dir, args.tick_seconds,
                   args.snapshot_seconds, max(1, args.pollers), max(1, args.concurrency), region)


def configure_logging(stream: TextIO = sys.stdout) -> None:
    """Readable lines: ours and the app's at INFO, the libraries' only when they warn."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)-24s %(message)s",
                                           datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("agentos").setLevel(logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def lock_state_dir(state_dir: Path) -> Any:
    """Hold an exclusive lock on the state dir for the process's lifetime (two stacks
    writing one snapshot would lose each other's jobs); the OS drops it if we die."""
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = (state_dir / "lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"{state_dir} is in use by another local stack (stop it, or pass --state-dir)") from None
    return handle


class StartupError(Exception):
    """Start-up cannot go on; the message says why and what to do."""


def stage_environment(stage: str) -> None:
    """Name the stage's tables and queues in the environment, as its functions see them.

    The names come from infra/resources.py. Its import also imports the models, which
    read ``JOBS_TABLE`` / ``RUNS_TABLE`` at import time, so those must agree afterwards.
    """
    for name in ("JOBS_TABLE", "RUNS_TABLE", "JOBS_QUEUE", "JOBS_DLQ", "AGENTOS_API_TOKENS_PARAM"):
        os.environ.pop(name, None)  # another stage's names would not match what we provision
    from chalicelib.store.models import JobModel, RunModel
    from infra.resources import stage_names

    names = stage_names(stage)
    os.environ.update({"AGENTOS_STAGE": stage, "JOBS_TABLE": names.jobs_table, "RUNS_TABLE": names.runs_table,
                       "JOBS_QUEUE": names.queue, "JOBS_DLQ": names.dlq})
    if (JobModel.Meta.table_name, RunModel.Meta.table_name) != (names.jobs_table, names.runs_table):
        raise StartupError(f"models and infra disagree on table names: {JobModel.Meta.table_name}, "
                           f"{RunModel.Meta.table_name} vs {names.jobs_table}, {names.runs_table}")


def check_config() -> Any:
    """Load agentos.config.json now, so a bad file stops start-up naming the bad key."""
    from chalicelib.config import DEFAULT_PATH, get_config
    from chalicelib.errors import ConfigError

    path = os.environ.get("AGENTOS_CONFIG") or DEFAULT_PATH
    try:
        config = get_config()
    except ConfigError as exc:
        raise StartupError(f"invalid config {path}: {exc}") from exc
    if config.security.enabled:
        from chalicelib.api.auth import api_grants

        try:  # a malformed scoped entry stops start-up, naming its position (never the token)
            api_grants()
        except ConfigError as exc:
            raise StartupError(str(exc)) from exc
    from chalicelib.engine.agent_secrets import missing_secrets

    missing = missing_secrets(config)
    if missing:  # as a missing API token: found now, not at the agent's first run
        raise StartupError(f"config {path}: " + "; ".join(missing))
    found = "" if Path(path).exists() else " (not found: all defaults)"
    log.info("config: %s%s; %d agent URL(s), security %s", path, found, len(config.agents),
             "on" if config.security.enabled else "off")
    return config


def warm_up() -> float:
    """Build the app's AWS clients before serving; returns the seconds it took.

    Each PynamoDB connection and boto3 client loads its service model on first use
    (0.2-0.6 s each). Left to the first requests, that made the first create, claim
    and tick after every start-up up to a second late.
    """
    from chalicelib import runtime
    from chalicelib.store.dynamo import model_connection
    from chalicelib.store.models import JobModel, RunModel

    started = time.monotonic()
    for model in (JobModel, RunModel):
        model.describe_table()  # the model's own connection, and its table metadata
        model_connection(model).describe_table(model.Meta.table_name)  # the transactions' connection
    queue = runtime.queue()
    queue.url(queue.queue_name)
    queue.url(queue.dlq_name)
    runtime.executor()  # loads the action plugins
    return time.monotonic() - started


class Stack:
    """The embedded AWS, the API, the tick, the executor pollers and the snapshots."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.stop = threading.Event()
        self.aws: EmbeddedAws | None = None
        self.api: Any = None
        self.gate: Any = None
        self.resources: Any = None
        self._save_lock = threading.Lock()

    def start(self) -> None:
        """Bring everything up in dependency order; the API is served once state is back."""
        if not port_is_free(self.opts.host, self.opts.port):
            raise StartupError(f"port {self.opts.port} is in use: stop what uses it or set PORT=…")
        port = choose_aws_port(self.opts.aws_port)
        point_aws_at(f"http://127.0.0.1:{port}", self.opts.region)  # before chalicelib is imported
        stage_environment("dev")
        # Deliveries carry a callback URL on this API; the callback secret is kept in the state dir.
        os.environ.setdefault("AGENTOS_PUBLIC_URL", f"http://localhost:{self.opts.port}")
        if not os.environ.get("AGENTOS_CALLBACK_SECRET"):
            from chalicelib.engine import callbacks

            callbacks.LOCAL_SECRET_FILE = Path(self.opts.state_dir) / "callback-secret"
        check_config()
        log.info("starting embedded AWS on 127.0.0.1:%s", port)
        self.aws = EmbeddedAws("127.0.0.1", port)
        try:
            self.aws.start()
        except OSError as exc:
            self.aws = None
            raise StartupError(f"cannot start the embedded AWS on port {port}: {exc}") from exc
        self._provision_and_restore()
        log.debug("clients warmed up in %.2f s", warm_up())
        self._start_workers()
        self._start_api()

    def _provision_and_restore(self) -> None:
        from chalicelib import runtime
        from chalicelib.config import get_config
        from infra.provision import provision
        from scripts import snapshot

        log.info("creating tables and queues (infra/resources.py: the deployment's own template)")
        self.resources = snapshot.Resources.from_provision(provision("dev"))
        saved = snapshot.read(self.opts.state_dir)
        if saved is None:
            log.info("no snapshot in %s: starting empty", self.opts.state_dir)
            return
        took = time.monotonic()
        summary = snapshot.restore(saved, self.resources, runtime.queue(), get_config().scheduler.dueShards)
        log.info("restored %s from %s (%.1f s)", summary, self.opts.state_dir / snapshot.FILE_NAME,
                 time.monotonic() - took)

    def _start_workers(self) -> None:
        from chalicelib import handlers
        from infra.resources import QUEUE_VISIBILITY_S
        from scripts.local_workers import Gate, Loop, QueuePoller, Snapshotter, Ticker

        self.gate = Gate()
        slots = threading.Semaphore(self.opts.concurrency)
        loops: list[Loop] = [
            QueuePoller(f"executor-{i + 1}", handlers.execute, self.resources.queue_url, QUEUE_VISIBILITY_S,
                        self.gate, self.stop, slots) for i in range(self.opts.pollers)]
        loops.append(Ticker(handlers.tick, self.opts.tick_seconds, self.opts.region, self.stop))
        loops.append(Snapshotter(self.save, self.opts.snapshot_seconds, self.stop))
        for loop in loops:
            loop.start()
        log.info("executor: %d SQS pollers, up to %d batches at once; tick every %g s (first one now); "
                 "snapshot every %g s", self.opts.pollers, self.opts.concurrency, self.opts.tick_seconds,
                 self.opts.snapshot_seconds)

    def _start_api(self) -> None:
        from app import app
        from devtools import inbox
        from scripts.local_api import ApiServer

        # Deliveries for an agent with no URL and no registered action go to the local inbox.
        inbox.install(app, Path(self.opts.state_dir))
        self.api = ApiServer(app, self.opts.host, self.opts.port)
        self.api.start()
        log.info("ready: http://localhost:%s/api  (AWS_ENDPOINT_URL=%s, state in %s/)", self.opts.port,
                 self.aws.endpoint if self.aws else "?", self.opts.state_dir)
        log.info("console: http://localhost:%s/console", self.opts.port)

    def save(self, final: bool = False) -> None:
        """Snapshot the tables and queues to the state dir (one writer at a time)."""
        from scripts import snapshot

        if self.resources is None:
            return  # nothing was provisioned: an empty snapshot would erase the last good one
        with self._save_lock:
            took = time.monotonic()
            saved = snapshot.capture(self.resources)
            path = snapshot.write(saved, self.opts.state_dir)
        level = logging.INFO if final else logging.DEBUG  # every 30 s would drown the run lines
        log.log(level, "saved %s to %s (%.2f s)", saved.summary(), path, time.monotonic() - took)

    def shutdown(self) -> bool:
        """Stop in reverse order, keeping the state; False if runs were still in progress."""
        self.stop.set()
        if self.api is not None:
            self.api.stop()
        if self.gate is not None and self.gate.busy:
            log.info("waiting up to %g s for %d batch(es) of runs in progress", DRAIN_TIMEOUT_S, self.gate.busy)
        busy = self.gate.close(DRAIN_TIMEOUT_S) if self.gate is not None else 0
        if busy:
            log.warning("%d batch(es) still running after %g s: they will be redelivered after a restart",
                        busy, DRAIN_TIMEOUT_S)
        try:
            self.save(final=True)
        except Exception:  # keep going: the periodic snapshot is at most one period old
            log.exception("final snapshot failed; the previous one is kept")
        if self.aws is not None:
            self.aws.stop()
        return busy == 0


def install_signal_handlers(stop: threading.Event) -> None:
    """Ctrl-C, SIGTERM and SIGHUP stop the stack; a second one exits at once."""
    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            os.write(2, b"\nforced exit: the last periodic snapshot is kept\n")
            os._exit(1)
        log.info("%s: stopping (Ctrl-C again to force)", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handle)


def main(argv: list[str] | None = None) -> int:
    """Run the stack until a signal; exit 0 after a clean stop, 1 if it could not start."""
    opts = parse_args(argv)
    configure_logging()
    lock = lock_state_dir(opts.state_dir)
    stack = Stack(opts)
    install_signal_handlers(stack.stop)
    try:
        stack.start()
    except StartupError as exc:
        log.error("%s", exc)
        stack.shutdown()
        return 1
    while not stack.stop.wait(0.5):
        pass  # the main thread only waits: signal handlers run here
    stack.shutdown()
    log.info("stopped")
    lock.close()
    return 0


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown: everything is saved and stopped by now, and
    the teardown would only wait (seconds) on daemon threads parked in long polls, or
    forever on a delivery that outlived the drain."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
