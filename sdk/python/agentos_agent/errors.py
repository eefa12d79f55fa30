"""The kit's exceptions for API calls."""
from __future__ import annotations


class AgentOSError(Exception):
    """The agentOS Jobs API refused a call: ``status`` (0 when no HTTP answer came), and the API's
    ``{"Code", "Message"}`` as ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        """True for a failure worth another try: no answer at all, or a 5xx."""
        return self.status >= 500


class ConnectionFailed(AgentOSError):
    """No HTTP answer: connection refused or reset, or the request timed out."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "ConnectionError", message)

    @property
    def retryable(self) -> bool:
        """A connection failure is always worth another try (the API may be restarting)."""
        return True


class AttemptEnded(AgentOSError):
    """409 to a heartbeat or a report: the attempt is over (timed out, cancelled or reported)."""
