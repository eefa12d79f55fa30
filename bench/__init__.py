"""Benchmarks of agentOS Jobs: ``python -m bench.run [--quick]`` (or ``make bench``).

Each part runs in its own fresh subprocess (so environment variables are set before
``chalicelib`` is imported) and prints one JSON document; :mod:`bench.run` gathers
them into ``bench/results.json`` and regenerates ``docs/benchmarks.md`` and its plots.
"""
