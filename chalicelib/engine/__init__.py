"""The engine floor: the tick, the executor and everything that moves a run from its message to its end.

It may import the store and the base, never the API (``make lint``'s import contract, pyproject.toml).
"""
