"""The API floor: the HTTP routes, their parsing, tokens and scopes, and the services behind them.

It may import the engine, the store and the base; nothing below imports it (``make lint``'s
import contract, pyproject.toml). ``routes.py`` is the blueprint ``app.py`` registers.
"""
