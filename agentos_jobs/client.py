"""A small HTTP client of the agentOS Jobs API (urllib only): JSON in, JSON out, errors raised."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

USER_AGENT = "agentos-jobs-cli/1.0"


class ApiError(Exception):
    """The API answered 4xx/5xx: ``status`` and its ``{"Code", "Message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status} {code})")
        self.status = status
        self.code = code
        self.message = message


class Unreachable(Exception):
    """The API could not be reached at all (connection refused, DNS, timeout)."""


@dataclass
class Answer:
    """A successful answer: its status, decoded JSON body and the next page's cursor."""

    status: int
    data: Any
    next_cursor: str | None


def api_base(url: str) -> str:
    """The API base from AGENTOS_URL: ``http://host:3000`` and ``…/dev`` gain ``/api``."""
    url = url.rstrip("/")
    return url if url.endswith("/api") else f"{url}/api"


def _next_cursor(link: str | None) -> str | None:
    # Link: <…?cursor=…>; rel="next"
    if not link or 'rel="next"' not in link:
        return None
    target = link.split(";", 1)[0].strip().strip("<>")
    cursors = urllib.parse.parse_qs(urllib.parse.urlparse(target).query).get("cursor")
    return cursors[0] if cursors else None


class Client:
    """Calls ``base`` (the API root, ending in /api) with an optional bearer token."""

    def __init__(self, base: str, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.base = api_base(base)
        self.token = token
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Answer:
        """One request; raises ApiError for 4xx/5xx, Unreachable when nothing answers."""
        params = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.base + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                text = response.read().decode("utf-8")
                return Answer(response.status, json.loads(text) if text else None,
                              _next_cursor(response.headers.get("Link")))
        except urllib.error.HTTPError as exc:
            raise _api_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(f"cannot reach {self.base}: {reason}") from None

    def pages(self, path: str, query: dict[str, Any], everything: bool) -> list[Any]:
        """A list route's first page, or every page when ``everything`` (following Link)."""
        items: list[Any] = []
        cursor = None
        while True:
            answer = self.call("GET", path, query={**query, "cursor": cursor})
            items += answer.data
            cursor = answer.next_cursor
            if not everything or cursor is None:
                return items


def _api_error(exc: urllib.error.HTTPError) -> ApiError:
    try:
        data = json.loads(exc.read().decode("utf-8") or "{}")
    except (ValueError, OSError):
        data = {}
    finally:
        exc.close()
    data = data if isinstance(data, dict) else {}
    return ApiError(exc.code, str(data.get("Code") or "HTTPError"),
                    str(data.get("Message") or data.get("message") or exc.reason))
