"""One in-process bench part: measured in a fresh moto with the dev stage provisioned, and its
command line (``python -m bench.<part> [--part]``). Alone (no ``--part``) its figures are merged
into bench/results.json and docs/benchmarks.md is re-rendered (bench/alone.py); ``make bench``
runs it with ``--part`` and collects the JSON it prints."""
from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def measured(measure: Callable[[], dict[str, Any]], count_calls: bool = True, **config: Any) -> dict[str, Any]:
    """Provision the dev stage in a fresh in-process moto and run ``measure`` (the environment is
    set before anything imports chalicelib; ``config``: extra keys of the bench's config file;
    ``count_calls``: install the AWS call counter of bench/counting.py)."""
    from . import env

    with tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp:
        path = env.write_config(Path(tmp) / "agentos.config.json", None, Path(tmp) / "logs", **config)
        env.prepare(config_path=path)
        from moto import mock_aws

        from infra.provision import provision

        if count_calls:
            from .counting import COUNTER

            COUNTER.install()
        tuned = env.tune_moto()
        with mock_aws():
            provision("dev")
            return {**measure(), "moto_adjustments": tuned}


def part_main(key: str, measure: Callable[[], dict[str, Any]], count_calls: bool = True, **config: Any) -> int:
    """The part's ``main``: measure, merge when alone, print the figures as JSON."""
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    figures = measured(measure, count_calls, **config)
    if "--part" not in sys.argv:
        from .alone import merge_results

        merge_results(key, figures)
    json.dump(figures, sys.stdout, indent=1)
    return 0
