"""moto's measured hot spots (py-spy, on the scheduler's tests and the local stack), made cheap.

Every patch changes how fast moto answers, never what it answers; ``AGENTOS_MOTO_SPEED=0``
leaves them all out (:mod:`devtools.moto_patches`, which alone calls :func:`patch`).

* SQS ReceiveMessage: moto 5.2 checks each candidate message's retention by computing
  *all* queue attributes, including counts that walk every message, so receiving from a
  queue of n messages costs O(n) per message. The replacement reads the one attribute it
  needs.
* SQS clock: moto's ``unix_time()`` builds two datetimes per reading (~12 us) and
  SendMessage reads it for every queued message; ``time.time()`` gives the same value.
* DynamoDB transactions and expressions (:mod:`devtools.moto_speed_dynamo`): transactions
  back up the items they name instead of whole tables; update expressions, condition trees
  and the validator's per-class answers are remembered; the validator's copy of a tree is a
  plain node-by-node copy, and its checks of the tree alone are not repeated once passed.
* DynamoDB answers: moto's generic serializer walks every attribute of every item it returns
  through the AttributeValue shape's ten members (two thirds of a BatchGetItem of ten jobs).
  An attribute value with no binary inside is already in its wire form, and is written as is;
  one with a ``B`` or ``BS`` anywhere still takes the generic way (base64).
* Server routing: moto's server finds each request's service by listing its own package
  directory (~150 ``isdir`` calls) and trying every service's URL regexes, under one
  global lock, for every request: a fifth of the server's time under load. The answer
  depends only on the host name, so it is remembered per host.
* Server connections: werkzeug's default HTTP/1.0 closes the connection after every
  answer, so each AWS call paid a TCP handshake and a new server thread (~1/3 of a
  GetItem on the local stack); moto's request handler now speaks HTTP/1.1 (keep-alive).
"""
from __future__ import annotations

import time
from typing import Any

from devtools import moto_speed_dynamo


def _remembered_routing() -> None:
    """Memoize the server's host -> service lookup (a pure function of the host name)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in known:
            known[host] = original(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host


_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def _wire_ready(value: Any) -> bool:
    """True if the AttributeValue ``value`` is already what the JSON protocol sends (no binary)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (kind, inner), = value.items()
    if kind in _SCALARS:
        return type(inner) is _SCALARS[kind]
    if kind in ("SS", "NS"):
        return isinstance(inner, list) and all(type(v) is str for v in inner)
    if kind == "M":
        return isinstance(inner, dict) and all(type(k) is str and _wire_ready(v) for k, v in inner.items())
    if kind == "L":
        return isinstance(inner, list) and all(_wire_ready(v) for v in inner)
    return False


def _plain_attribute_values() -> None:
    """Serialize an AttributeValue without binary as it is; any other shape as moto does."""
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure

    def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and key and _wire_ready(value):
            self._default_serialize(serialized, value, shape, key)
            return
        original(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure


def _keep_alive() -> None:
    """moto's server keeps each client connection open between calls (HTTP/1.1)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    MotoRequestHandler.protocol_version = "HTTP/1.1"


def _cheap_sqs_clock() -> None:
    """moto's SQS reads ``time.time()`` for "now" instead of building two datetimes."""
    import moto.sqs.models as sqs_models

    slow_time, slow_millis = sqs_models.unix_time, sqs_models.unix_time_millis
    sqs_models.unix_time = lambda dt=None: time.time() if dt is None else slow_time(dt)
    sqs_models.unix_time_millis = lambda dt=None: time.time() * 1000.0 if dt is None else slow_millis(dt)


def _one_attribute_retention() -> None:
    """moto's retention check reads the queue's retention period alone."""
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > time.time())

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


def patch() -> None:
    """Apply every patch above (once: :mod:`devtools.moto_patches` sees to it).

    What each replaces in moto:

    * ``moto.sqs.models.unix_time`` and ``unix_time_millis`` (:func:`_cheap_sqs_clock`);
    * ``SQSBackend.is_message_valid_based_on_retention_period`` (:func:`_one_attribute_retention`);
    * DynamoDB's transaction, expression parsers and validator (:func:`devtools.moto_speed_dynamo.patch`);
    * ``BaseJSONSerializer._serialize_type_structure`` (:func:`_plain_attribute_values`);
    * ``DomainDispatcherApplication.get_backend_for_host`` (:func:`_remembered_routing`);
    * ``MotoRequestHandler.protocol_version``, set to HTTP/1.1 (:func:`_keep_alive`).
    """
    _cheap_sqs_clock()
    _one_attribute_retention()
    moto_speed_dynamo.patch()
    _plain_attribute_values()
    _remembered_routing()
    _keep_alive()
