"""``python -m agentos_jobs``: see :mod:`agentos_jobs.cli`."""
import sys

from agentos_jobs.cli import main

sys.exit(main())
