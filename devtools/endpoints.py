"""Write ``chalicelib/store/endpoints.json``: botocore's endpoint data, trimmed to the services the
Lambdas call (``chalicelib.store.aws.SERVICES``).

``python -m devtools.endpoints`` after a botocore upgrade (``tests/store/test_aws.py`` fails until
then). Every partition keeps its regions, defaults and variants; only the ``services`` maps
are cut, from ~400 services to ours.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import botocore
import botocore.loaders

from chalicelib.store.aws import ENDPOINTS_PATH, SERVICES


def trimmed(endpoints: dict[str, Any]) -> dict[str, Any]:
    """``endpoints`` with each partition's services cut to :data:`SERVICES`."""
    partitions = [{**partition, "services": {name: data for name, data in partition["services"].items()
                                             if name in SERVICES}}
                  for partition in endpoints["partitions"]]
    return {**endpoints, "partitions": partitions}


def document() -> str:
    """The file's text: botocore's version, then the trimmed data."""
    full = botocore.loaders.create_loader().load_data("endpoints")
    return json.dumps({"botocore": botocore.__version__, "endpoints": trimmed(full)}, indent=1, sort_keys=True) + "\n"


def main() -> int:
    """Write the file."""
    ENDPOINTS_PATH.write_text(document())
    print(f"wrote {ENDPOINTS_PATH} (botocore {botocore.__version__})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
