"""What an agent's answer (or an in-process action's return value) means for its run: the output
kept, the usage counted, and the text of an answer that is not JSON."""
from __future__ import annotations

import json

from ..defaults import TEXT_KEEP_CHARS
from .delivery import AgentAnswer
from .outcomes import output_text


def result_of(answer: AgentAnswer | object) -> tuple[str | None, str | None, str | None]:
    """The run's output, usage and answer text from a 2xx answer or an action's return value."""
    if isinstance(answer, AgentAnswer):
        document = answer.document
        text = answer.text if document is None else None
    else:
        document, text = answer, None
        try:
            json.dumps(document)
        except (TypeError, ValueError):  # not JSON: kept as text only
            document, text = None, str(answer)[:TEXT_KEEP_CHARS]
    usage = document.get("usage") if isinstance(document, dict) else None
    return output_text(document), usage_text(usage), text


def usage_text(usage: object) -> str | None:
    """The ``usage`` object as stored: only its known, non-negative numeric fields."""
    if not isinstance(usage, dict):
        return None
    kept = {k: usage[k] for k in ("inputTokens", "outputTokens", "costUsd")
            if isinstance(usage.get(k), (int, float)) and not isinstance(usage.get(k), bool) and usage[k] >= 0}
    return json.dumps(kept, separators=(",", ":")) if kept else None

