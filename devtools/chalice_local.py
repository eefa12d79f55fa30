"""``chalice local`` answers every HTTP method as a route table should: 405 and ``Allow``.

``chalice local`` serves the app with :mod:`http.server`, which answers a method it has no
``do_<METHOD>`` for (``TRACE``, ``CONNECT``, any other token) with a bare 501 before the app
sees it. With :class:`AnyMethod` every method reaches Chalice's local API Gateway: on a route
without it, the app answers ``405 MethodNotAllowedError`` with ``Allow: <its methods>`` (as it
already does for ``DELETE /api/health``); on an unknown path, API Gateway's 403.

``scripts/local_api.py`` (``make run``) builds its handler on :class:`AnyMethod`;
``app.py`` calls :func:`install` when ``chalice.local`` is loaded, which is how plain
``chalice local`` picks it up. Never packaged: the Lambda handler has no such server.
"""
from __future__ import annotations

from typing import Any

_HANDLER_PREFIX = "do_"


class AnyMethod:
    """Mixin for ``chalice.local.ChaliceRequestHandler``: every ``do_<METHOD>`` is the generic one."""

    def __getattr__(self, name: str) -> Any:
        # Called only for attributes the class lacks, so GET/POST/... keep Chalice's own handlers.
        if name.startswith(_HANDLER_PREFIX) and name[len(_HANDLER_PREFIX):].isalpha():
            return object.__getattribute__(self, "_generic_handle")
        raise AttributeError(name)


def install() -> None:
    """Make ``chalice local``'s own request handler answer every method (idempotent)."""
    from chalice.local import ChaliceRequestHandler

    if "__getattr__" not in vars(ChaliceRequestHandler):
        ChaliceRequestHandler.__getattr__ = AnyMethod.__getattr__
