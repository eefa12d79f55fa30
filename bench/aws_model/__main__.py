"""``python -m bench.aws_model [--merge]``: run the model on bench/results.json and print its block
(``--merge``: write it into results.json as ``aws_model`` and re-render docs/benchmarks.md)."""
from __future__ import annotations

import json
import sys

from bench.env import ROOT

from .figures import model

RESULTS = ROOT / "bench" / "results.json"


def main() -> int:
    """Entry point."""
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    block = model(results)
    if "--merge" in sys.argv[1:]:
        from bench.report import write_docs

        results["aws_model"] = block
        RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        write_docs(results)
    json.dump(block, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
