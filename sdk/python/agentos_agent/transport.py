"""One JSON request to the API with the standard library: errors become AgentOSError, redirects
are never followed (a bearer token only ever goes to the URL it was given for)."""
from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .errors import AgentOSError, AttemptEnded, ConnectionFailed

USER_AGENT = "agentos-agent-python/1.1"
CLIENT_HEADER = "X-AgentOS-Client"  # the server marks jobs declared through a kit origin.via "kit"
CLIENT_NAME = "kit"


@dataclass(frozen=True)
class Reply:
    """A 2xx answer: status, headers (lower-cased names) and the decoded JSON body (None if empty)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    data: Any = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a 3xx is answered as an error
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def base_headers(token: str | None) -> dict[str, str]:
    """The headers every kit call sends, with ``Authorization`` when there is a token."""
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT, CLIENT_HEADER: CLIENT_NAME}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def send(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout_s: float = 10.0) -> Reply:
    """Send one request (``body`` as JSON when not None) and return its 2xx :class:`Reply`.

    Raises :class:`AgentOSError` for any other status (:class:`AttemptEnded` for a 409 to a report)
    and :class:`ConnectionFailed` when no answer came.
    """
    # default=str: a datetime or a Decimal in an output is sent as its text; a cycle raises ValueError here
    data = None if body is None else json.dumps(body, default=str).encode("utf-8")
    all_headers = {**(headers or {}), **({"Content-Type": "application/json"} if data is not None else {})}
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            text = response.read().decode("utf-8")
            answer_headers = {k.lower(): v for k, v in response.headers.items()}
            return Reply(response.status, answer_headers, json.loads(text) if text.strip() else None)
    except urllib.error.HTTPError as exc:
        raise api_error(exc, url) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ConnectionFailed(f"{method} {url}: {reason}") from None


def api_error(exc: urllib.error.HTTPError, url: str) -> AgentOSError:
    """The API's ``{"Code", "Message"}`` of a refused call, as an exception."""
    try:
        data = json.loads(exc.read().decode("utf-8") or "{}")
    except (ValueError, OSError):
        data = {}
    finally:
        exc.close()
    if not isinstance(data, dict):
        data = {}
    code, message = str(data.get("Code", "HTTPError")), str(data.get("Message", exc.reason))
    is_report = url.rstrip("/").endswith(("/heartbeat", "/complete"))
    kind = AttemptEnded if exc.code == 409 and is_report else AgentOSError
    return kind(exc.code, code, message)
