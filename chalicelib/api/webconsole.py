"""The browser console (README, "Console"): one page, its ES modules and one stylesheet, served by the app.

The files live in ``chalicelib/api/console/`` so that they deploy with the API (Chalice packages
``chalicelib`` whole). ``index.html`` loads ``app.js`` as a module, which imports the others
(``api.js``, ``time.js``, ``jobs.js``, ``runs.js``, ``agents.js``…) by relative URLs, so they are
found under the same prefix as the page; one route serves every ``.js``/``.css`` file of that
directory, and nothing else (a name is one plain path segment). They need no token: the page
asks for one when the API answers 401.
Every response carries a Content-Security-Policy that allows only this origin's script and
style (no inline script, no eval), so even a markup bug could not run injected code.
"""
from __future__ import annotations

import html
import re
from functools import cache
from pathlib import Path

from chalice.app import Blueprint, Response

console = Blueprint(__name__)
FILES = Path(__file__).resolve().parent / "console"
PAGE_ROUTE = "/console"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
ASSET_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}\.(?:js|css)")
NOT_FOUND = {"Code": "NotFoundError", "Message": "no such console file"}


def asset_names() -> frozenset[str]:
    """The console's script and style files (what :func:`asset` serves)."""
    return frozenset(p.name for p in FILES.iterdir() if p.is_file() and ASSET_NAME.fullmatch(p.name))


@cache
def asset_text(name: str) -> str:
    """The text of one console file (read once per process)."""
    return (FILES / name).read_text(encoding="utf-8")


def base_path(public_path: str) -> str:
    """The prefix in front of ``/console`` in the browser's URL: API Gateway's stage (``/dev``),
    a custom domain's base path, or nothing locally."""
    path = public_path.split("?", 1)[0].rstrip("/")
    return path[: -len(PAGE_ROUTE)] if path.endswith(PAGE_ROUTE) else ""


def page(public_path: str) -> Response:
    """The console's HTML, its asset URLs under the same prefix as the page itself."""
    prefix = html.escape(base_path(public_path), quote=True)
    body = asset_text("index.html").replace("{{BASE}}", prefix)
    return Response(body=body, status_code=200, headers={"Content-Type": "text/html; charset=utf-8",
                                                         **SECURITY_HEADERS})


def asset(name: str) -> Response:
    """One of the console's static files; 404 for any other name."""
    if not ASSET_NAME.fullmatch(name) or name not in _known_assets():
        return Response(body=NOT_FOUND, status_code=404, headers=dict(SECURITY_HEADERS))
    content_type = TYPES[name[name.rindex("."):]]
    return Response(body=asset_text(name), status_code=200, headers={"Content-Type": content_type,
                                                                      **SECURITY_HEADERS})


@cache
def _known_assets() -> frozenset[str]:
    return asset_names()


def _public_path() -> str:
    # Behind API Gateway the public path carries the stage prefix; locally it is the route.
    request = console.current_request
    return str((request.context or {}).get("path") or request.path)


@console.route(PAGE_ROUTE, methods=["GET"])
def console_page() -> Response:
    """The console page (no token needed: the page asks for one on the API's 401)."""
    return page(_public_path())


@console.route(PAGE_ROUTE + "/{name}", methods=["GET"])
def console_asset(name: str) -> Response:
    """One of the console's modules (``app.js`` and what it imports) or its stylesheet."""
    return asset(name)
