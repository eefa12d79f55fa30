"""HTTP plumbing shared by the routes: body parsing, query parsing, error responses.

Bodies are JSON whatever their Content-Type (the spec's own PATCH example sends
curl's form type). Hostile JSON (NaN, duplicate keys, deep nesting, huge numbers,
invalid UTF-8) is a 400; an oversized body is a 413 before it is parsed.
"""
from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from chalice import Response

from .. import coldstart
from ..errors import ConfigError, JobsError, PayloadTooLarge, Unauthorized, ValidationFailed
from ..vocab import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX

log = logging.getLogger("agentos.jobs.http")
ANY_CONTENT_TYPE = ["*/*"]
BODY_OVERHEAD_BYTES = 16_384  # room for the fields around the payload
# JSON may escape any byte of the payload as \u00XX (6 bytes for 1): the limit applies to the
# decoded payload (jobs.py), so the raw body, checked before parsing, may be up to 6x as long.
ESCAPE_FACTOR = 6
MAX_DEPTH = 64


def _reject_constant(name: str) -> None:
    raise ValidationFailed("body", f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e400 overflows to inf: stored and echoed it would be "Infinity", which is not JSON.
    value = float(text)
    if math.isinf(value):
        raise ValidationFailed("body", f"the number {text[:32]} is too large for a JSON number")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValidationFailed(key, "appears twice in one object")
        result[key] = value
    return result


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return max((_depth(c, level + 1) for c in children), default=level)


def parse_body(raw: bytes | str | None, max_payload_bytes: int) -> object:
    """Decode a request body as JSON, whatever its Content-Type."""
    if isinstance(raw, str):  # Chalice types raw_body as either; its local server and Lambda give bytes
        raw = raw.encode("utf-8")
    if not raw or not raw.strip():
        raise ValidationFailed("body", "a JSON object is required")
    if len(raw) > ESCAPE_FACTOR * max_payload_bytes + BODY_OVERHEAD_BYTES:
        raise PayloadTooLarge(f"body: {len(raw)} bytes is too large", "body")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float,
                          object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        if isinstance(exc, ValidationFailed):
            raise
        raise ValidationFailed("body", "is not valid JSON") from exc
    if _depth(data) > MAX_DEPTH:
        raise ValidationFailed("body", f"is nested deeper than {MAX_DEPTH} levels")
    return data


def json_text(body: Any) -> str:
    """A response body as compact JSON text with non-ASCII kept as is: the response is sent as
    UTF-8, so an emoji costs its 4 bytes, not a 12-byte ``\\ud83d\\ude00`` escape pair."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def check_query(params: dict[str, str], allowed: tuple[str, ...]) -> None:
    """Refuse unknown query parameters: a typo such as ``?staus=`` must not list everything."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        known = f"use {', '.join(allowed)}" if allowed else "it takes none"
        raise ValidationFailed(unknown[0], f"is not a query parameter of this route ({known})")


def query_limit(params: dict[str, str], default: int = PAGE_LIMIT_DEFAULT, maximum: int = PAGE_LIMIT_MAX) -> int:
    """The ``limit`` query parameter (1..maximum)."""
    raw = params.get("limit")
    if raw is None:
        return default
    # isdigit() alone accepts "²" and "٣", which int() then refuses: ASCII digits only.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise ValidationFailed("limit", f"must be an integer from 1 to {maximum}")
    return int(raw)


def query_choice(params: dict[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    """An optional query parameter restricted to ``choices``."""
    raw = params.get(name)
    if raw is not None and raw not in choices:
        raise ValidationFailed(name, f"must be one of {', '.join(choices)}")
    return raw


def query_uuid(params: dict[str, str], name: str) -> str | None:
    """An optional query parameter that must be a UUID (returned in canonical form)."""
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return str(uuid.UUID(raw)) if len(raw) == 36 else _bad_uuid(name)
    except ValueError:
        return _bad_uuid(name)


def _bad_uuid(name: str) -> str:
    raise ValidationFailed(name, "must be a UUID")


def error_response(error: JobsError) -> Response:
    """Chalice's error shape for a domain error."""
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="agentos-jobs"'
    return Response(body=error.to_body(), status_code=error.status, headers=headers)


def guarded(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into 4xx/5xx JSON and anything unexpected into a bare 500."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with coldstart.invocation():
            return _answer(view, *args, **kwargs)
    return wrapper


def _answer(view: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return view(*args, **kwargs)
    except ConfigError as error:  # names files and SSM parameters: for the operator only
        log.error("%s: configuration error: %s", view.__name__, error.message)
        return _internal_error()
    except JobsError as error:
        if error.status >= 500:  # storage trouble: the caller retries, the operator must see it
            log.warning("%s answered %s: %s", view.__name__, error.status, error.message)
        return error_response(error)
    except Exception:  # never a stack trace to the caller; the log has it
        log.exception("unhandled error in %s", view.__name__)
        return _internal_error()


def _internal_error() -> Response:
    body = {"Code": "InternalError", "Message": "internal error; it has been logged"}
    return Response(body=body, status_code=500, headers={"Content-Type": "application/json"})


def next_link(path: str, params: dict[str, str], cursor: str | None) -> dict[str, str]:
    """The ``Link: <…>; rel="next"`` header of a page, if there is a next page."""
    if cursor is None:
        return {}
    from urllib.parse import urlencode

    query = {k: v for k, v in params.items() if k != "cursor"}
    query["cursor"] = cursor
    return {"Link": f'<{path}?{urlencode(query)}>; rel="next"'}
