"""The AWS session: one botocore session per process, shared by PynamoDB and every client.

PynamoDB builds one botocore session per connection and per thread, and ``boto3.client``
uses boto3's default session: each session loads and parses the service models and the
endpoint rules again (~50-100 ms per session on a cold start). Here the process has one
session; PynamoDB takes it (:func:`share_with_pynamodb`) and the SQS and SSM clients come
from it (:func:`client`), so a model is parsed once and boto3 itself is never imported.
Its data loader reads the models as botocore does, minus two costs of a first client
(:class:`_Loader`, :class:`_JSONFiles`): ~40-70 ms of a cold start, and the endpoint data
trimmed to the services the Lambdas call (:data:`ENDPOINTS_PATH`): ~20-25 ms more.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import DataNotFoundError

from .. import settings

SERVICES = ("dynamodb", "sqs", "ssm")  # every client the Lambdas build
# botocore's endpoints.json (1.2 MB, every partition's ~400 services) with the services cut to
# SERVICES: written by ``python -m devtools.endpoints``, checked against botocore by tests/store/test_aws.py
ENDPOINTS_PATH = Path(__file__).with_name("endpoints.json")

_session: botocore.session.Session | None = None
_lock = threading.RLock()


class _JSONFiles(botocore.loaders.JSONFileLoader):  # type: ignore[misc]  # botocore publishes no types
    """Botocore's model files, decoded into plain dicts.

    Botocore decodes them with ``object_pairs_hook=OrderedDict``: a Python call per JSON
    object, which doubles the decoding of endpoints.json (1.2 MB, every client's first
    build) and of the service models. Plain dicts keep the file's order as well, and
    nothing in botocore uses what only an ``OrderedDict`` has."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            return json.loads(fp.read().decode("utf-8"))


class _Loader(botocore.loaders.Loader):  # type: ignore[misc]  # botocore publishes no types
    """Botocore's data loader, without the walk it makes to check a service's name.

    Before it loads a model, ``Loader.load_service_model`` lists every directory of the data
    path (~400 services, ~900 ``listdir`` calls: 30-60 ms of a cold start) to see that the name
    is one of them. Here a name is known when its own directory holds that model, which is the
    same answer for every name; an unknown name still takes botocore's path (its
    ``UnknownServiceError``), and what is loaded, extras included, is what botocore loads."""

    @botocore.loaders.instance_cache  # type: ignore[untyped-decorator]  # botocore publishes no types
    def load_data_with_path(self, name: str) -> tuple[Any, str]:
        """botocore's data ``name``; the endpoint data trimmed to :data:`SERVICES` (botocore
        parses the whole 1.2 MB file for a session's first client) unless a data path
        (``AWS_DATA_PATH``) brings its own."""
        if name == "endpoints" and not self._own_endpoints() and ENDPOINTS_PATH.is_file():
            with ENDPOINTS_PATH.open("rb") as fp:
                return json.loads(fp.read())["endpoints"], str(ENDPOINTS_PATH)
        found: tuple[Any, str] = super().load_data_with_path(name)
        return found

    def is_builtin_path(self, path: str) -> bool:
        """The trimmed endpoint data is botocore's own, as far as endpoint resolution goes: with
        data from elsewhere botocore would let legacy endpoints override the endpoint rules."""
        return path == str(ENDPOINTS_PATH) or bool(super().is_builtin_path(path))

    def _own_endpoints(self) -> bool:
        builtin = super().is_builtin_path
        return any(os.path.isfile(os.path.join(path, "endpoints.json")) for path in self.search_paths
                   if not builtin(path))

    @botocore.loaders.instance_cache  # type: ignore[untyped-decorator]  # botocore publishes no types
    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        try:
            version = api_version or self.determine_latest_version(service_name, type_name)
        except DataNotFoundError:
            return super().load_service_model(service_name, type_name, api_version)
        model = self.load_data(os.path.join(service_name, version, type_name))
        self._extras_processor.process(model, self._find_extras(service_name, type_name, version))
        return model


def _loader(built: botocore.session.Session) -> _Loader:
    """The session's loader as ``botocore.loaders.create_loader`` makes it (``AWS_DATA_PATH`` too)."""
    paths = built.get_config_variable("data_path")
    extra = None if paths is None else [os.path.expanduser(os.path.expandvars(p)) for p in paths.split(os.pathsep)]
    return _Loader(extra_search_paths=extra, file_loader=_JSONFiles())


def session() -> botocore.session.Session:
    """The process's botocore session, built on first use.

    A botocore session is not thread-safe while it builds clients, so its ``create_client``
    is serialized (clients themselves are thread-safe and are built once per connection)."""
    global _session
    with _lock:
        if _session is None:
            built = botocore.session.get_session()
            built.register_component("data_loader", _loader(built))
            create = built.create_client

            @wraps(create)
            def create_client(*args: Any, **kwargs: Any) -> Any:
                with _lock:
                    return create(*args, **kwargs)

            built.create_client = create_client
            _session = built
        return _session


def max_connections() -> int:
    """HTTP connections each client keeps open (``AGENTOS_AWS_CONNECTIONS``; botocore's 10).

    A Lambda works one batch at a time, at most ten calls at once. The local stack runs up to
    128 invocations in one process: there, a call beyond the pool opened a TCP connection of its
    own (and the embedded AWS a thread for it) and closed it after one answer."""
    return settings.aws_connections()


def client(service: str) -> Any:
    """A low-level client of ``service`` (``sqs``, ``ssm``) from the shared session."""
    return session().create_client(service, config=Config(max_pool_connections=max_connections()))


def share_with_pynamodb() -> None:
    """Make PynamoDB's connections use the shared session instead of one of their own each."""
    import pynamodb.connection.base as base

    base.get_session = session


class LazyClient:
    """An AWS client built on first use, once, under a lock (``factory`` builds it): the wrappers
    of SQS and Lambda hold one each, so importing them touches nothing."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The client (built by the first caller)."""
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client
