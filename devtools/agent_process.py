"""The test agent in a process of its own, as a user's agent is: for the lateness bench.

:class:`devtools.agent_server.AgentServer` runs in the caller's interpreter, which suits the
tests. The lateness bench plays a burst's Lambda invocations as threads of one interpreter;
with the agent in that interpreter too, the agent's receiving of each delivery waited for
the GIL behind the executor's own work, and its receive time (the bench's measure) carried
the wait. Here the agent serves from a child process and hands its recorded requests back
over a pipe, a few at a time, when asked.

Usage::

    with AgentProcess() as agent:
        agent.answer_after(10)  # optional: 200 at once by default
        ... deliver to agent.url ...
        agent.requests  # every RecordedRequest so far
"""
from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection

from .agent_server import AgentServer, RecordedRequest

START_TIMEOUT_S = 30.0


def _serve(conn: Connection) -> None:
    """The child: serve, send the URL, then answer ``("since", n)`` with the requests from n on
    and ``("delay", s)`` by answering after ``s`` seconds from then on."""
    with AgentServer() as agent:
        conn.send(agent.url)
        while True:
            try:
                ask, value = conn.recv()
            except EOFError:
                return
            if ask == "stop":
                return
            if ask == "delay":
                agent.respond_with(200, delay_s=value)
                conn.send(None)
            else:
                conn.send(list(agent.requests[value:]))


class AgentProcess:
    """A test agent answering 200 from its own process; a context manager."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # no copy of the parent's threads or clients
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="test-agent", daemon=True)
        self._seen: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self.url = ""

    def __enter__(self) -> AgentProcess:
        self._process.start()
        if not self._conn.poll(START_TIMEOUT_S):
            self._process.kill()
            raise RuntimeError("the test agent's process did not start")
        self.url = self._conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request the agent received so far (only the new ones cross the pipe)."""
        with self._lock:
            self._conn.send(("since", len(self._seen)))
            self._seen.extend(self._conn.recv())
            return list(self._seen)

    def answer_after(self, seconds: float) -> None:
        """Answer every later request with 200 after ``seconds`` (an agent that does its work
        before it answers)."""
        with self._lock:
            self._conn.send(("delay", seconds))
            self._conn.recv()

    def stop(self) -> None:
        """Stop the child process."""
        try:
            self._conn.send(("stop", 0))
        except (OSError, ValueError):
            pass  # already gone
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
