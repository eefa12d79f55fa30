"""A Lambda function's first invocation runs with the cyclic garbage collector paused.

The first invocation imports the function's engine (PynamoDB, croniter, botocore's client
machinery...) and parses botocore's models: some 10^5 objects that live as long as the
process. Meanwhile the collector walks the growing heap again and again (generation 2 alone
~40 ms): 80-90 ms of each function's first invocation went to collections that found a dozen
cyclic objects to free (bench/cold_start.py; docs/benchmarks.md, section 4). So in Lambda the
first invocation runs with the collector paused; at its end what it built is frozen
(``gc.freeze``: never walked again, on warm invocations either) and the collector resumes. The
price: cyclic garbage of that one invocation, frozen with the rest, is never freed.
"""
from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from . import settings

_lock = threading.Lock()
_first = True


@contextmanager
def invocation() -> Iterator[None]:
    """Around each invocation of a handler: the first one in Lambda runs with the GC paused."""
    global _first
    with _lock:
        first, _first = _first, False
    if not (first and settings.in_lambda() and gc.isenabled()):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # everything of the cold start: out of every later collection's walk
        gc.enable()
