"""agentOS Jobs agent kit for Python: the standard library only, no dependencies.

Jobs declared in code, answered by their callbacks (contract section 14)::

    from agentos_agent import JobManager

    manager = JobManager(agent_id="550e8400-e29b-41d4-a716-446655440000")  # AGENT_SECRET, AGENTOS_TOKEN
    manager.create_job(name="digest", interval=3_600_000, callback=lambda ctx: {"sent": 3})
    manager.server(port=8080).serve_forever()

Lower level: :func:`receive` verifies and parses one delivery, :class:`Delivery` heartbeats and
reports it (retried until its ``timeoutAt``), :class:`Client` calls every route of the API.
"""
from .callbacks import JobContext, JobFailed
from .client import Client, Page
from .delivery import OUTCOMES, Delivery, receive
from .dispatch import Answer
from .errors import AgentOSError, AttemptEnded, ConnectionFailed
from .jobs import JobManager, create_job, job_manager
from .retry import Backoff
from .signing import SIGNATURE_HEADER, TOLERANCE_S, SignatureError, sign, verify_signature

__version__ = "1.1.0"

__all__ = ["OUTCOMES", "SIGNATURE_HEADER", "TOLERANCE_S", "AgentOSError", "Answer", "AttemptEnded", "Backoff",
           "Client", "ConnectionFailed", "Delivery", "JobContext", "JobFailed", "JobManager", "Page",
           "SignatureError", "create_job", "job_manager", "receive", "sign", "verify_signature"]
