"""In-process plugins: every module here is imported by :func:`chalicelib.engine.actions.load_plugins`.

Add a module with ``@action("NAME")`` handlers (or ``@callback`` functions) and jobs whose
agent has no configured URL can run them with ``"payload": {"action": "NAME", ...}``.
"""
